// Everything a run is made of (RunConfig), with the reasons it cannot start listed before anything starts.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { PRESETS, paramCount } from '../../model/presets';
import { loadedScans, useDatasetStore } from '../../store/datasetStore';
import {
  BACKEND_CHOICES,
  DATA_MODE_CHOICES,
  cropsPerStep,
  estimateStepMemory,
  formatBytes,
  parseRunConfig,
  regionSize,
  resampledRasDims,
  serializeRunConfig,
  type ConfigIssue,
} from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';
import type { BackendChoice, RunConfig } from '../../worker/protocol';
import { downloadBytes } from './download';
import { useGpuLimits } from './gpuLimits';

export function RunSetupPanel({ issues, locked }: { issues: ConfigIssue[]; locked: boolean }) {
  const draft = useRunStore((s) => s.draft);
  const scans = useDatasetStore(useShallow((s) => loadedScans(s)));
  // Why a volume is not ticked by default (duplicate, not HU, constant, a label map…), by volume id.
  const excluded = useDatasetStore(
    useShallow((s) => Object.fromEntries(s.rows.flatMap((r) => (r.volumeId && r.exclude ? [[r.volumeId, r.exclude]] : [])))),
  ) as Record<string, string>;
  const set = (patch: Partial<RunConfig>) => useRunStore.setState((s) => ({ draft: { ...s.draft, ...patch } }));
  const fileInput = useRef<HTMLInputElement>(null);

  // Newly loaded scans join the run unless something speaks against it (the reason is shown); removed ones leave it.
  // A label map pairs with its scan only when its batch ends: wait for that before deciding.
  const pairing = useDatasetStore((s) => s.rows.some((r) => r.pendingLabel));
  useEffect(() => {
    if (pairing) return;
    const ids = scans.map((v) => v.id);
    const fresh = ids.filter((id) => !seenScans.has(id));
    fresh.forEach((id) => seenScans.add(id));
    const { draft: d } = useRunStore.getState();
    const kept = d.volumeIds.filter((id) => ids.includes(id));
    const join = fresh.filter((id) => !kept.includes(id) && !excluded[id]);
    if (join.length || kept.length !== d.volumeIds.length) set({ volumeIds: [...kept, ...join] });
  }, [scans, excluded, pairing]);

  const preset = PRESETS[draft.preset];
  // paramCount validates the crop size (a Swin preset refuses r < 64): an unusable size shows no count, and the
  // validation below says why.
  const params = (() => {
    try {
      return preset && Number.isInteger(draft.cropSize) && draft.cropSize % preset.patch === 0 ? paramCount(preset, draft.cropSize) : null;
    } catch {
      return null;
    }
  })();
  // 'auto' without a hardware WebGPU adapter runs on wasm, whose fused kernels keep less per step.
  const gpuLimits = useGpuLimits();
  const onWasm = draft.backend === 'wasm' || draft.backend === 'cpu' || (draft.backend === 'auto' && (!gpuLimits || gpuLimits.software === true));
  const memory = preset && params ? estimateStepMemory(preset, draft, params.total, 0, onWasm) : null;
  const fieldIssue = (f: ConfigIssue['field']) => issues.filter((i) => i.field === f).map((i) => i.message).join('; ') || undefined;
  const region = regionSize(draft);

  const importConfig = async (file: File) => {
    try {
      const config = parseRunConfig(await file.text(), file.name);
      // Volume ids belong to the session that saved the file: keep the current selection unless they match.
      const loadedIds = new Set(scans.map((v) => v.id));
      const volumeIds = config.volumeIds.every((id) => loadedIds.has(id)) ? config.volumeIds : useRunStore.getState().draft.volumeIds;
      useRunStore.setState({ draft: { ...config, volumeIds }, notice: `Configuration loaded from ${file.name}` });
    } catch (err) {
      useRunStore.setState({ notice: (err as Error).message });
    }
  };

  return (
    <section className="train-section run-setup" data-testid="run-setup">
      <fieldset disabled={locked}>
        <h3>Volumes</h3>
        {scans.length === 0 ? <p className="muted">Load at least two CT scans (left panel).</p> : null}
        <ul className="volume-pick">
          {scans.map((v) => {
            const est = resampledRasDims(v.dims, v.affine, draft.spacing);
            // Whole-volume mode resizes every scan to the region (and says so); region mode pads a small scan.
            const whole = (draft.dataMode ?? 'region') === 'whole';
            const small = !whole && [0, 1, 2].some((a) => est[a] < region[a]);
            const padded = est.map((d, a) => Math.max(d, region[a]));
            return (
              <li key={v.id} data-testid="volume-pick-row" data-name={v.name}>
                <label>
                  <input
                    type="checkbox"
                    data-testid="volume-pick"
                    data-volume-id={v.id}
                    checked={draft.volumeIds.includes(v.id)}
                    onChange={(e) =>
                      set({ volumeIds: e.target.checked ? [...draft.volumeIds, v.id] : draft.volumeIds.filter((id) => id !== v.id) })
                    }
                  />
                  <span className="volume-name">{v.name}</span>
                  <span className="muted" data-testid="volume-size" title="voxel counts after resampling to the target spacing (RAS order, as preprocessing gives them)">
                    {est.join('×')}
                    {whole ? ` → resized to ${region.join('×')}` : small ? ` → padded to ${padded.join('×')}` : ''}
                  </span>
                </label>
                {excluded[v.id] ? (
                  <div className="warn small" data-testid="volume-exclude">
                    not ticked: {excluded[v.id]}
                  </div>
                ) : null}
              </li>
            );
          })}
        </ul>
        <Issue text={fieldIssue('volumes')} />

        <h3>Model</h3>
        <Row label="preset">
          <select data-testid="cfg-preset" value={draft.preset} onChange={(e) => set({ preset: e.target.value })}>
            {Object.values(PRESETS).map((p) => (
              <option key={p.name} value={p.name}>
                {p.label}
              </option>
            ))}
          </select>
        </Row>
        <p className="muted facts" data-testid="preset-facts">
          {params ? `${formatCount(params.encoder + params.head)} parameters (encoder ${formatCount(params.encoder)}, head ${formatCount(params.head)})` : 'parameter count: –'}
          {memory
            ? ` · ≈ ${formatBytes(memory.totalBytes)} per step (${cropsPerStep(draft)} crops; largest buffer ${formatBytes(memory.largestBuffer.bytes)})`
            : ''}
        </p>
        <Issue text={fieldIssue('preset')} />

        <h3>Crops</h3>
        <div className="grid-fields">
          <NumField label="grid n" testId="cfg-gridN" value={draft.gridN} onChange={(gridN) => set({ gridN })} issue={fieldIssue('gridN')} />
          <NumField label="crop r" testId="cfg-cropSize" value={draft.cropSize} onChange={(cropSize) => set({ cropSize })} issue={fieldIssue('cropSize')} />
          <NumField label="volumes / batch B" testId="cfg-batchVolumes" value={draft.batchVolumes} onChange={(batchVolumes) => set({ batchVolumes })} issue={fieldIssue('batchVolumes')} />
          <NumField label="random crops sw" testId="cfg-randomCrops" value={draft.randomCrops} onChange={(randomCrops) => set({ randomCrops })} issue={fieldIssue('randomCrops')} />
        </div>
        <Row label="data mode">
          <select data-testid="cfg-dataMode" value={draft.dataMode ?? 'region'} onChange={(e) => set({ dataMode: e.target.value as RunConfig['dataMode'] })}>
            {DATA_MODE_CHOICES.map((m) => (
              <option key={m} value={m}>
                {m === 'region' ? 'random region of each scan' : 'whole scan resized to the region'}
              </option>
            ))}
          </select>
        </Row>
        <p className="muted facts" data-testid="data-mode-facts">
          {(draft.dataMode ?? 'region') === 'region'
            ? `region ${region.join('×')} voxels = ${region.map((r, a) => Math.round(r * draft.spacing[a])).join('×')} mm, cut at random from each scan`
            : `each whole scan resized to ${region.join('×')} voxels (the reference's mode for whole-body and head-neck data); maps still use the scan's own grid`}
        </p>
        <Issue text={fieldIssue('dataMode')} />
        <Issue text={fieldIssue('cropSize')} />

        <h3>Preprocessing</h3>
        <div className="grid-fields">
          {[0, 1, 2].map((a) => (
            <NumField
              key={a}
              label={`spacing ${'xyz'[a]} mm`}
              testId={`cfg-spacing-${a}`}
              value={draft.spacing[a]}
              onChange={(v) => set({ spacing: draft.spacing.map((s, i) => (i === a ? v : s)) as [number, number, number] })}
            />
          ))}
          <NumField label="HU low" testId="cfg-hu-0" value={draft.huWindow[0]} onChange={(v) => set({ huWindow: [v, draft.huWindow[1]] })} />
          <NumField label="HU high" testId="cfg-hu-1" value={draft.huWindow[1]} onChange={(v) => set({ huWindow: [draft.huWindow[0], v] })} />
        </div>
        <Issue text={fieldIssue('spacing') ?? fieldIssue('huWindow')} />

        <h3>Optimisation</h3>
        <div className="grid-fields">
          <NumField label="learning rate" testId="cfg-lr" value={draft.lr} onChange={(lr) => set({ lr })} issue={fieldIssue('lr')} />
          <NumField label="warmup steps" testId="cfg-warmupSteps" value={draft.warmupSteps} onChange={(warmupSteps) => set({ warmupSteps })} issue={fieldIssue('warmupSteps')} />
          <NumField label="weight decay" testId="cfg-weightDecay" value={draft.weightDecay} onChange={(weightDecay) => set({ weightDecay })} issue={fieldIssue('weightDecay')} />
          <NumField label="grad clip" testId="cfg-gradClip" value={draft.gradClip} onChange={(gradClip) => set({ gradClip })} issue={fieldIssue('gradClip')} />
          <NumField label="seed" testId="cfg-seed" value={draft.seed} onChange={(seed) => set({ seed })} issue={fieldIssue('seed')} />
          <NumField label="checkpoint every" testId="cfg-checkpointEvery" value={draft.checkpointEvery} onChange={(checkpointEvery) => set({ checkpointEvery })} issue={fieldIssue('checkpointEvery')} />
          <Row label="backend">
            <select data-testid="cfg-backend" value={draft.backend} onChange={(e) => set({ backend: e.target.value as BackendChoice })}>
              {BACKEND_CHOICES.map((b) => (
                <option key={b} value={b}>
                  {b}
                </option>
              ))}
            </select>
          </Row>
        </div>
        <label className="check" title={HALF_PRECISION_HELP}>
          <input
            type="checkbox"
            data-testid="cfg-halfPrecisionMatmul"
            checked={!!draft.halfPrecisionMatmul}
            onChange={(e) => set({ halfPrecisionMatmul: e.target.checked })}
          />{' '}
          half-precision storage (f16) for matmul operands
        </label>
        <p className="muted small" data-testid="cfg-halfPrecisionMatmul-help">
          {HALF_PRECISION_HELP}
          {draft.backend !== 'webgpu' && draft.backend !== 'auto' ? ` It has no effect on ${draft.backend}.` : ''}
        </p>
      </fieldset>
      {/* The step budget stays editable on a loaded run: a finished run continues to a new total. */}
      <div className="grid-fields">
        <NumField label="total steps" testId="cfg-totalSteps" value={draft.totalSteps} onChange={(totalSteps) => set({ totalSteps })} issue={fieldIssue('totalSteps')} />
      </div>
      <Issue text={fieldIssue('gpu')} />
      <div className="control-row">
        <button data-testid="btn-export-config" onClick={() => downloadBytes(new TextEncoder().encode(serializeRunConfig(draft)), 'voco-run-config.json', 'application/json')}>
          Export config
        </button>
        <button data-testid="btn-import-config" disabled={locked} onClick={() => fileInput.current?.click()}>
          Import config…
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="input-import-config"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) void importConfig(f);
          }}
        />
      </div>
    </section>
  );
}

const HALF_PRECISION_HELP =
  'WebGPU only, off by default. Matmul operands are rounded to 16-bit floats (11 significant bits, largest 65504) and ' +
  'summed in 32-bit: half the memory traffic on a real GPU, but different numbers (about 3 significant digits per ' +
  'operand; magnitudes below 6e-5 lose digits, below 3e-8 become 0). The studio uses it only where it measures faster on this GPU.';

/** Scans the setup has offered already (page lifetime): a scan the user unticked stays unticked. */
const seenScans = new Set<string>();

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

function Issue({ text }: { text?: string }) {
  return text ? <p className="issue">{text}</p> : null;
}

/** A number input that lets the text be incomplete while typing ("1e-") and commits parsed numbers only. */
function NumField({ label, value, onChange, issue, testId }: { label: string; value: number; onChange: (v: number) => void; issue?: string; testId: string }) {
  const [text, setText] = useState(String(value));
  useEffect(() => {
    if (Number(text) !== value) setText(String(value));
    // Only an outside change of the value rewrites the text.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const parsed = text.trim() === '' ? NaN : Number(text);
  return (
    <label className={`field${issue || Number.isNaN(parsed) ? ' invalid' : ''}`} title={issue}>
      <span>{label}</span>
      <input
        data-testid={testId}
        inputMode="decimal"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          const v = e.target.value.trim() === '' ? NaN : Number(e.target.value);
          if (!Number.isNaN(v)) onChange(v);
        }}
      />
    </label>
  );
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
