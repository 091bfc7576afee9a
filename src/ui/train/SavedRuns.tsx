// Runs saved in this browser (autosaved checkpoints): resume, export as one .voco file, delete; import a file.
import { useEffect, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { loadedScans, useDatasetStore } from '../../store/datasetStore';
import { useRunStore } from '../../store/runStore';
import { RUN_FILE_EXTENSION } from '../../persist/runFile';
import type { RunMeta } from '../../persist/savedRun';
import { isSwinPreset, PRESETS } from '../../model/presets';
import { downloadBytes, downloadPieces } from './download';
import { trainingController } from './trainingController';
import { ModelImportButton } from './ModelImport';
import { useGpuLimits } from './gpuLimits';

/** Runs of the reference (SwinViT) encoder export in the authors' layout, also as .pt. */
function isReferencePreset(meta: RunMeta): boolean {
  const preset = PRESETS[meta.config.preset];
  return !!preset && isSwinPreset(preset);
}

export function SavedRuns() {
  const runs = useRunStore((s) => s.savedRuns);
  const activeId = useRunStore((s) => s.runId);
  const phase = useRunStore((s) => s.phase);
  const notice = useRunStore((s) => s.notice);
  const scans = useDatasetStore(useShallow((s) => loadedScans(s)));
  const gpuLimits = useGpuLimits();
  const [busy, setBusy] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const training = phase === 'running' || phase === 'paused' || phase === 'preparing';

  useEffect(() => {
    void trainingController.refreshRuns();
  }, []);

  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await what();
    } catch (err) {
      useRunStore.setState({ notice: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const exportRun = (runId?: string) =>
    act(async () => {
      const { name, bytes } = await trainingController.exportRun(runId);
      downloadBytes(bytes, name);
      useRunStore.setState({ notice: `Exported ${name}` });
    });

  const exportWeights = (runId: string | undefined, format: 'pt' | 'safetensors') =>
    act(async () => {
      const { name, pieces } = await trainingController.exportWeights(runId, format);
      downloadPieces(pieces, name);
      useRunStore.setState({ notice: `Exported ${name}` });
    });

  return (
    <section className="train-section" data-testid="saved-runs">
      <h3>Runs</h3>
      {notice ? (
        <p className="notice" data-testid="runs-notice">
          {notice}{' '}
          <button className="link" onClick={() => useRunStore.setState({ notice: null })}>
            ok
          </button>
        </p>
      ) : null}
      {runs.length === 0 ? <p className="muted">No saved runs in this browser yet.</p> : null}
      <ul className="run-list">
        {runs.map((r) => (
          <li key={r.id} data-testid="saved-run" data-run-id={r.id} data-step={r.step} className={r.id === activeId ? 'active' : ''}>
            <div className="run-name">
              {r.name}
              {r.id === activeId ? <span className="badge badge-ok">active</span> : null}
            </div>
            <div className="muted">
              step {r.step} / {r.config.totalSteps}
              {r.lastLoss !== null ? ` · loss ${r.lastLoss.toFixed(4)}` : ''} · {r.volumes.map((v) => v.name).join(', ')}
              {r.backend ? ` · ${r.backend}` : ''} · saved {new Date(r.savedAt).toLocaleString()}
            </div>
            <div className="control-row">
              {r.origin === 'imported' && r.volumes.length === 0 ? (
                <button
                  data-testid="btn-open-imported"
                  disabled={busy || training}
                  onClick={() => act(() => trainingController.openImported(r.id, scans, gpuLimits))}
                  title="Make these weights the active run on the scans selected in the setup (or all loaded scans): similarity maps, the benchmark, and Start continues pre-training"
                >
                  Open on my scans
                </button>
              ) : (
                <button
                  data-testid="btn-resume-run"
                  disabled={busy || training}
                  onClick={() => act(() => trainingController.resumeSaved(r.id, scans))}
                  title="Load this run's last checkpoint and curves (its scans must be loaded)"
                >
                  Resume
                </button>
              )}
              <button data-testid="btn-export-saved" disabled={busy} onClick={() => exportRun(r.id)} title="The whole run (weights, optimizer, config, curves) as one .voco file">
                Export
              </button>
              {isReferencePreset(r) && (
                <button data-testid="btn-export-pt" disabled={busy} onClick={() => exportWeights(r.id, 'pt')} title="Weights in the authors' VoCoHead layout, as a .pt that torch.load and their fine-tuning load() read">
                  .pt
                </button>
              )}
              <button
                data-testid="btn-export-safetensors"
                disabled={busy}
                onClick={() => exportWeights(r.id, 'safetensors')}
                title={isReferencePreset(r) ? "Weights in the authors' VoCoHead layout as .safetensors" : 'Weights as .safetensors (the studio ViT key layout, docs/checkpoints.md)'}
              >
                .safetensors
              </button>
              <button disabled={busy || r.id === activeId} onClick={() => act(() => trainingController.deleteSaved(r.id))}>
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
      <div className="control-row">
        <button data-testid="btn-export-run" disabled={busy || !activeId || phase === 'preparing'} onClick={() => exportRun()}>
          Export current run
        </button>
        <button data-testid="btn-import-run" disabled={busy} onClick={() => fileInput.current?.click()}>
          Import run…
        </button>
        <ModelImportButton />
        <input
          ref={fileInput}
          type="file"
          accept={`${RUN_FILE_EXTENSION},application/zip`}
          hidden
          data-testid="input-import-run"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f)
              void act(async () => {
                const meta = await trainingController.importRunFile(f);
                useRunStore.setState({ notice: `Imported ${f.name}: step ${meta.step}, preset ${meta.config.preset}` });
              });
          }}
        />
      </div>
    </section>
  );
}
