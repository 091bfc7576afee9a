// "Import model…": a PyTorch (.pt/.pth) or .safetensors checkpoint of the authors' VoCo model. The key report
// (what maps where, what is missing, unexpected or of the wrong shape, the model it implies) is shown before
// anything is used; Use is enabled only when the report allows it.
import { useRef } from 'react';
import { useModelImportStore } from '../../store/modelImportStore';
import type { ImportReport } from '../../model/checkpoints/keyMap';
import { closeModelImport, inspectModelFile, useImportedModel } from './modelImport';

const MB = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
const shape = (s: number[]) => `[${s.join(', ')}]`;

export function ModelImportButton() {
  const input = useRef<HTMLInputElement>(null);
  const phase = useModelImportStore((s) => s.phase);
  return (
    <>
      <button data-testid="btn-import-model" disabled={phase === 'reading' || phase === 'using'} onClick={() => input.current?.click()} title="A VoCo / SwinUNETR checkpoint (.pt, .pth, .safetensors): its keys are checked and reported before anything is used">
        Import model…
      </button>
      <input
        ref={input}
        type="file"
        accept=".pt,.pth,.safetensors,.ckpt,.tar"
        hidden
        data-testid="input-import-model"
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = '';
          if (f) void inspectModelFile(f);
        }}
      />
    </>
  );
}

export function ModelImportPanel() {
  const s = useModelImportStore();
  if (s.phase === 'idle') return null;
  return (
    <section className="train-section model-import" data-testid="model-import" role="dialog" aria-label="Import model">
      <div className="section-head">
        <h3>
          Import model · <span className="file-name">{s.fileName}</span>
        </h3>
        <button className="link" data-testid="btn-import-close" onClick={closeModelImport}>
          close
        </button>
      </div>
      {s.phase === 'reading' && <p className="muted">Reading the checkpoint's directory and keys…</p>}
      {s.phase === 'error' && (
        <p className="issue" data-testid="import-error">
          {s.error}
        </p>
      )}
      {s.report && <Report report={s.report} />}
      {s.report && (
        <div className="control-row">
          <button
            className="primary"
            data-testid="btn-import-use"
            disabled={!s.report.usable || !!s.useBlocked || s.phase === 'using'}
            onClick={() => void useImportedModel()}
            title={!s.report.usable ? s.report.refusals.join('\n') : (s.useBlocked ?? 'Read the weights and add the model to the runs')}
          >
            {s.phase === 'using' && s.progress ? `Reading ${s.progress.done}/${s.progress.total}…` : 'Use'}
          </button>
          <button onClick={closeModelImport}>Cancel</button>
          {s.report.usable && s.useBlocked && (
            <span className="warn small" data-testid="import-use-blocked">
              {s.useBlocked}
            </span>
          )}
        </div>
      )}
      {s.phase === 'report' && s.error && <p className="issue">{s.error}</p>}
    </section>
  );
}

function Report({ report: r }: { report: ImportReport }) {
  const fresh = r.missing.filter((m) => m.fill === 'fresh');
  const required = r.missing.filter((m) => m.fill === 'required');
  return (
    <div className="import-report" data-testid="import-report" data-usable={r.usable}>
      <p className={r.usable ? 'verdict ok' : 'verdict bad'} data-testid="import-verdict">
        {r.usable ? 'Usable' : 'Cannot be used'}: {r.kind}
      </p>
      <dl className="facts-grid">
        <dt>file</dt>
        <dd>
          {r.format === 'torch-zip' ? 'PyTorch zip' : 'safetensors'} · {MB(r.bytes)}
          {r.container ? ` · tensors under "${r.container}"` : ''}
        </dd>
        <dt>model</dt>
        <dd data-testid="import-model">
          {r.model ?? '—'}
          {r.featureSize !== null && r.model && !r.model.includes('feature size') ? ` · feature size ${r.featureSize}` : ''}
          {r.headWidth !== null ? ` · heads ${r.headWidth} wide` : ''}
        </dd>
        <dt>parameters</dt>
        <dd>{r.params ? `encoder ${(r.params.encoder / 1e6).toFixed(2)} M + head ${(r.params.head / 1e6).toFixed(2)} M` : '—'}</dd>
        <dt>step</dt>
        <dd data-testid="import-step">{r.globalStep ?? '—'}{r.epoch !== null ? ` (epoch ${r.epoch})` : ''}</dd>
      </dl>
      <div className="import-counts" data-testid="import-counts">
        <span className="count ok" data-testid="count-mapped">{r.mapped.length} mapped</span>
        <span className={`count ${required.length ? 'bad' : ''}`} data-testid="count-missing">
          {r.missing.length} missing{fresh.length ? ` (${fresh.length} initialised fresh)` : ''}
        </span>
        <span className="count" data-testid="count-unexpected">{r.unexpected.length} unexpected</span>
        <span className={`count ${r.wrongShape.length ? 'bad' : ''}`} data-testid="count-wrong-shape">{r.wrongShape.length} wrong shape</span>
        <span className="count" data-testid="count-buffers">
          {r.buffers.length} index buffers {r.buffers.length ? `(${r.buffers.filter((b) => b.status === 'matches').length} match)` : ''}
        </span>
      </div>
      {r.refusals.length > 0 && (
        <ul className="config-issues" data-testid="import-refusals">
          {r.refusals.map((x) => (
            <li key={x}>{x}</li>
          ))}
        </ul>
      )}
      {(r.keyRules.length > 0 || r.warnings.length > 0 || r.ignoredContainers.length > 0) && (
        <ul className="import-notes">
          {r.keyRules.map((x) => (
            <li key={x}>{x}</li>
          ))}
          {r.warnings.map((x) => (
            <li key={x} className="warn">
              {x}
            </li>
          ))}
          {r.ignoredContainers.length > 0 && <li>left aside: {r.ignoredContainers.join(', ')}</li>}
        </ul>
      )}
      <KeyList title="Mapped" testid="list-mapped" rows={r.mapped.map((m) => [m.source === m.target ? m.target : `${m.source} → ${m.target}`, shape(m.shape), m.convert ?? m.dtype])} />
      <KeyList title="Missing" testid="list-missing" rows={r.missing.map((m) => [m.target, shape(m.shape), m.fill === 'fresh' ? 'initialised fresh' : 'required'])} />
      <KeyList title="Unexpected (ignored)" testid="list-unexpected" rows={r.unexpected.map((u) => [u.source, shape(u.shape), u.reason])} />
      <KeyList title="Wrong shape or type" testid="list-wrong-shape" rows={r.wrongShape.map((w) => [w.source, shape(w.shape), w.why])} />
      <KeyList title="Index buffers (checked, dropped)" testid="list-buffers" rows={r.buffers.map((b) => [b.source, shape(b.shape), b.status])} />
    </div>
  );
}

function KeyList({ title, rows, testid }: { title: string; rows: string[][]; testid: string }) {
  if (!rows.length) return null;
  return (
    <details className="key-list" data-testid={testid}>
      <summary>
        {title} ({rows.length})
      </summary>
      <table>
        <tbody>
          {rows.map((r) => (
            <tr key={r[0]}>
              {r.map((c, i) => (
                <td key={i}>{c}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
