// What to run: the tasks, the weights to score (random initial, the run's current weights, saved runs, snapshots),
// the scaling sweep (presets × pre-training lengths), and the task settings. Then Run / Cancel and the status.
import { useEffect, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { PRESETS, paramCount } from '../../model/presets';
import { TASK_CATALOG } from '../../eval/tasks/catalog';
import { BACKEND_CHOICES } from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';
import { setOptions, setSweep, setWeights, toggleTask, useBenchmarkStore } from '../../store/benchmarkStore';
import type { BackendChoice } from '../../worker/protocol';
import { benchmarkController } from './benchmarkController';

const CROP_SIZES = [8, 16, 32, 64];
/** The run whose preset, seed and crop size were last copied into the settings. */
let syncedRun = '';

function Num({ label, value, onChange, min = 0, step = 1, testId, title }: { label: string; value: number; onChange: (v: number) => void; min?: number; step?: number; testId?: string; title?: string }) {
  return (
    <label className="field" title={title}>
      <span>{label}</span>
      <input
        type="number"
        value={value}
        min={min}
        step={step}
        data-testid={testId}
        onChange={(e) => {
          const v = Number(e.target.value);
          if (Number.isFinite(v) && v >= min) onChange(v);
        }}
      />
    </label>
  );
}

function Group({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="bench-group">
      <h4>{title}</h4>
      {children}
    </div>
  );
}

export function BenchmarkSetup() {
  const s = useBenchmarkStore(
    useShallow((st) => ({ tasks: st.tasks, options: st.options, backend: st.backend, weights: st.weights, sweep: st.sweep, snapshots: st.snapshots, phase: st.phase })),
  );
  const run = useRunStore(useShallow((st) => ({ config: st.config, phase: st.phase, step: st.step, savedRuns: st.savedRuns })));
  const o = s.options;
  const busy = s.phase === 'preparing' || s.phase === 'running';
  const runLoaded = !!run.config && run.phase !== 'idle' && run.phase !== 'error';

  // Random initial weights default to the run's architecture and seed (the weights the run started from).
  const runPreset = run.config?.preset;
  const runSeed = run.config?.seed;
  const runCrop = run.config?.cropSize;
  useEffect(() => {
    // Once per run architecture, so a later choice in this panel is not undone by switching tabs.
    const key = JSON.stringify([runPreset, runSeed, runCrop]);
    if (runPreset === undefined || key === syncedRun) return;
    syncedRun = key;
    setWeights({ preset: runPreset, seed: runSeed });
    if (runCrop !== undefined) setOptions({ cropSize: runCrop });
  }, [runPreset, runSeed, runCrop]);

  return (
    <section className="bench-section" data-testid="bench-setup">
      <h3>Tasks</h3>
      <div className="bench-checks">
        {TASK_CATALOG.map((t) => (
          <label key={t.id} className="check" title={t.description}>
            <input type="checkbox" data-testid={`bench-task-${t.id}`} checked={s.tasks.includes(t.id)} onChange={(e) => toggleTask(t.id, e.target.checked)} />
            {t.title}
            {t.needsLabels && <span className="muted small">labels</span>}
          </label>
        ))}
      </div>

      <h3>Weights</h3>
      <div className="bench-row">
        <label className="check">
          <input type="checkbox" data-testid="bench-w-initial" checked={s.weights.initial} onChange={(e) => setWeights({ initial: e.target.checked })} />
          random init of
        </label>
        <select data-testid="bench-w-preset" value={s.weights.preset} onChange={(e) => setWeights({ preset: e.target.value })}>
          {Object.values(PRESETS).map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <span className="muted small">seed</span>
        <input type="number" className="bench-narrow" data-testid="bench-w-seed" value={s.weights.seed} onChange={(e) => setWeights({ seed: Math.max(0, Math.floor(Number(e.target.value) || 0)) })} />
      </div>
      <div className="bench-row">
        <label className="check" title={runLoaded ? 'the training run’s weights when the benchmark starts' : 'load or start a run in the Train tab'}>
          <input type="checkbox" data-testid="bench-w-current" disabled={!runLoaded} checked={s.weights.current && runLoaded} onChange={(e) => setWeights({ current: e.target.checked })} />
          current run weights{runLoaded ? ` (${run.config!.preset}, step ${run.step})` : ''}
        </label>
        <button className="btn small" data-testid="bench-snapshot" disabled={!runLoaded} onClick={() => void benchmarkController.snapshotCurrent()} title="keep the run's weights at this step, to score several steps of one run">
          Snapshot step
        </button>
      </div>
      {s.snapshots.length > 0 && (
        <div className="bench-chips">
          {s.snapshots.map((w) => (
            <span key={w.id} className="chip chip-ok">
              {w.label}
              <button className="row-remove" onClick={() => benchmarkController.removeSnapshot(w.id)} title="remove">
                ×
              </button>
            </span>
          ))}
        </div>
      )}
      {run.savedRuns.length > 0 && (
        <details className="bench-saved">
          <summary className="small">Saved runs ({run.savedRuns.length})</summary>
          {run.savedRuns.map((m) => (
            <label key={m.id} className="check small">
              <input
                type="checkbox"
                checked={s.weights.savedRuns.includes(m.id)}
                onChange={(e) => setWeights({ savedRuns: e.target.checked ? [...s.weights.savedRuns, m.id] : s.weights.savedRuns.filter((x) => x !== m.id) })}
              />
              {m.name} · step {m.step}
            </label>
          ))}
        </details>
      )}

      <h3>Scaling sweep</h3>
      <label className="check wrap">
        <input type="checkbox" data-testid="bench-sweep" checked={s.sweep.enabled} onChange={(e) => setSweep({ enabled: e.target.checked })} />
        pre-train each preset on the “pre-train” scans and score it at several lengths
      </label>
      {s.sweep.enabled && (
        <>
          <div className="bench-checks">
            {Object.values(PRESETS).map((p) => (
              <label key={p.name} className="check small" title={p.label}>
                <input
                  type="checkbox"
                  data-testid={`bench-sweep-preset-${p.name}`}
                  checked={s.sweep.presets.includes(p.name)}
                  onChange={(e) =>
                    setSweep({ presets: e.target.checked ? Object.keys(PRESETS).filter((n) => n === p.name || s.sweep.presets.includes(n)) : s.sweep.presets.filter((n) => n !== p.name) })
                  }
                />
                {p.name} <span className="muted">{formatParams(safeParams(p.name, o.cropSize))}</span>
              </label>
            ))}
          </div>
          <div className="bench-fields">
            <label className="field">
              <span>steps (0 = init)</span>
              <input data-testid="bench-sweep-steps" value={s.sweep.steps} onChange={(e) => setSweep({ steps: e.target.value })} />
            </label>
            <Num label="lr" value={s.sweep.lr} step={0.0001} onChange={(v) => setSweep({ lr: v })} testId="bench-sweep-lr" />
            <Num label="B" value={s.sweep.batchVolumes} min={2} onChange={(v) => setSweep({ batchVolumes: v })} />
            <Num label="sw" value={s.sweep.randomCrops} min={1} onChange={(v) => setSweep({ randomCrops: v })} />
            <Num label="seed" value={s.sweep.seed} onChange={(v) => setSweep({ seed: Math.floor(v) })} />
          </div>
        </>
      )}

      <details className="bench-options" open>
        <summary>
          <h3 className="inline">Settings</h3>
        </summary>
        <div className="bench-fields">
          <label className="field">
            <span>crop r</span>
            <select data-testid="bench-r" value={o.cropSize} onChange={(e) => setOptions({ cropSize: Number(e.target.value) })}>
              {CROP_SIZES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <Num label="grid n" value={o.gridN} min={2} onChange={(v) => setOptions({ gridN: v })} />
          <Num label="seed" value={o.seed} onChange={(v) => setOptions({ seed: Math.floor(v) })} />
          <label className="field">
            <span>backend</span>
            <select data-testid="bench-backend" value={s.backend} onChange={(e) => useBenchmarkStore.setState({ backend: e.target.value as BackendChoice })}>
              {BACKEND_CHOICES.map((b) => (
                <option key={b} value={b}>
                  {b}
                </option>
              ))}
            </select>
          </label>
        </div>
        <Group title="Structures and crops">
          <div className="bench-fields">
            <Num label="structures" value={o.maxStructures} min={2} onChange={(v) => setOptions({ maxStructures: v })} testId="bench-max-structures" />
            <Num label="min voxels" value={o.minStructureVoxels} onChange={(v) => setOptions({ minStructureVoxels: v })} />
            <Num label="crops / structure" value={o.cropsPerStructure} min={1} onChange={(v) => setOptions({ cropsPerStructure: v })} testId="bench-crops" />
            <Num label="test share" value={o.testShare} step={0.05} onChange={(v) => setOptions({ testShare: v })} />
            <Num
              label="splits"
              value={o.splits ?? 1}
              min={1}
              onChange={(v) => setOptions({ splits: Math.max(1, Math.floor(v)) })}
              testId="bench-splits"
              title="repeated train/test splits of the label tasks; every weights set is scored on the same ones, so pre-trained and random init are compared split by split"
            />
          </div>
        </Group>
        <Group title="Position · probe · retrieval">
          <div className="bench-fields">
            <Num label="regions / vol" value={o.position.regionsPerVolume} min={1} onChange={(v) => setOptions({ position: { ...o.position, regionsPerVolume: v } })} />
            <Num label="random crops" value={o.position.randomCrops} min={1} onChange={(v) => setOptions({ position: { ...o.position, randomCrops: v } })} />
            <Num label="probe steps" value={o.probe.iterations} min={1} onChange={(v) => setOptions({ probe: { ...o.probe, iterations: v } })} />
            <Num label="k" value={o.retrieval.k} min={1} onChange={(v) => setOptions({ retrieval: { k: v } })} testId="bench-k" />
          </div>
        </Group>
        <Group title="Few-shot segmentation">
          <div className="bench-fields">
            <Num label="K shots" value={o.segmentation.shots} min={1} onChange={(v) => setOptions({ segmentation: { ...o.segmentation, shots: v } })} testId="bench-shots" />
            <Num label="test crops" value={o.segmentation.testCrops} min={1} onChange={(v) => setOptions({ segmentation: { ...o.segmentation, testCrops: v } })} />
            <Num label="iterations" value={o.segmentation.iterations} min={1} onChange={(v) => setOptions({ segmentation: { ...o.segmentation, iterations: v } })} testId="bench-seg-iterations" />
            <Num label="hidden (0: linear)" value={o.segmentation.hidden} onChange={(v) => setOptions({ segmentation: { ...o.segmentation, hidden: v } })} />
          </div>
          <label className="check small wrap">
            <input type="checkbox" data-testid="bench-finetune" checked={o.segmentation.fineTune} onChange={(e) => setOptions({ segmentation: { ...o.segmentation, fineTune: e.target.checked } })} />
            fine-tune the encoder (lr/10) instead of freezing it
          </label>
        </Group>
      </details>

      <RunBar busy={busy} />
    </section>
  );
}

function RunBar({ busy }: { busy: boolean }) {
  const { phase, status, error } = useBenchmarkStore(useShallow((s) => ({ phase: s.phase, status: s.status, error: s.error })));
  const fraction = status && status.total > 0 ? status.done / status.total : 0;
  return (
    <div className="bench-runbar">
      <div className="bench-row">
        <button className="btn primary" data-testid="bench-run" disabled={busy} onClick={() => void benchmarkController.run()}>
          {busy ? 'Running…' : 'Run benchmark'}
        </button>
        <button className="btn" data-testid="bench-cancel" disabled={!busy} onClick={() => benchmarkController.cancel()}>
          Cancel
        </button>
        <span className={`phase phase-${phase}`} data-testid="bench-phase" data-phase={phase}>
          {phase}
        </span>
      </div>
      {status && (phase === 'preparing' || phase === 'running') && (
        <>
          <div className="progress">
            <div className="progress-bar" style={{ width: `${Math.round(100 * fraction)}%` }} />
          </div>
          <div className="muted small" data-testid="bench-status">
            {status.message}
          </div>
        </>
      )}
      {error && (
        <pre className="bench-message bad" data-testid="bench-error">
          {error}
        </pre>
      )}
    </div>
  );
}

function safeParams(preset: string, r: number): number | null {
  try {
    return paramCount(PRESETS[preset], r).encoder;
  } catch {
    return null;
  }
}

export function formatParams(n: number | null): string {
  if (n === null) return '–';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}k`;
  return String(n);
}
