// Start / pause / resume / stop, the progress bar (step, steps/s, ETA), the active backend and the errors.
import { etaSeconds, formatDuration, useRunStore } from '../../store/runStore';
import type { BackendInfo } from '../../worker/protocol';
import { trainingController } from './trainingController';

export function RunControls({ onStart, startBlocked }: { onStart: () => void; startBlocked: string | null }) {
  const phase = useRunStore((s) => s.phase);
  const step = useRunStore((s) => s.step);
  const config = useRunStore((s) => s.config);
  const rate = useRunStore((s) => s.stepsPerSecond);
  const activity = useRunStore((s) => s.activity);
  const lastCheckpoint = useRunStore((s) => s.lastCheckpoint);
  const eta = useRunStore(etaSeconds);
  const total = config?.totalSteps ?? 0;
  const fraction = total > 0 ? Math.min(1, step / total) : 0;
  const busy = phase === 'preparing';
  const canStart = phase === 'idle' || phase === 'ready' || phase === 'stopped' || phase === 'done' || phase === 'error';
  const startLabel = canStart && phase !== 'idle' && phase !== 'error' && step > 0 ? `Continue from step ${step}` : 'Start';

  return (
    <section className="train-section" data-testid="run-controls">
      <div className="control-row">
        <button className="primary" data-testid="btn-start" disabled={!canStart || busy || !!startBlocked} title={startBlocked ?? ''} onClick={onStart}>
          {startLabel}
        </button>
        <button data-testid="btn-pause" disabled={phase !== 'running'} onClick={() => trainingController.pause()}>
          Pause
        </button>
        <button data-testid="btn-resume" disabled={phase !== 'paused'} onClick={() => trainingController.resume()}>
          Resume
        </button>
        <button data-testid="btn-stop" disabled={phase !== 'running' && phase !== 'paused'} onClick={() => trainingController.stop()}>
          Stop
        </button>
        <span className={`phase phase-${phase}`} data-testid="run-phase">
          {phase}
        </span>
      </div>
      <BackendBadge />
      {activity ? <p className="muted" data-testid="run-activity">{activity}</p> : null}
      <div className="progress" title={`${step} of ${total} steps`}>
        <div className="progress-bar" style={{ width: `${(fraction * 100).toFixed(1)}%` }} />
      </div>
      <div className="progress-facts">
        <span data-testid="run-step">
          step {step} / {total || '–'}
        </span>
        <span data-testid="run-rate">{rate ? `${rate < 10 ? rate.toFixed(2) : rate.toFixed(0)} steps/s` : '– steps/s'}</span>
        <span>ETA {phase === 'running' ? formatDuration(eta) : '–'}</span>
        <span data-testid="run-checkpoint" className="muted">
          {lastCheckpoint ? `saved at step ${lastCheckpoint.step}` : 'no checkpoint yet'}
        </span>
      </div>
      <Errors />
    </section>
  );
}

export function BackendBadge() {
  const backend = useRunStore((s) => s.backend);
  if (!backend) return null;
  const warning = backendWarning(backend);
  return (
    <div className="backend-line">
      <span className={`badge ${warning ? 'badge-warn' : 'badge-ok'}`} data-testid="backend-badge" title={backend.reason}>
        {backend.name}
        {backend.adapter ? ` · ${backend.adapter}` : ''}
        {backend.wasmThreads ? ` · ${backend.wasmThreads} threads` : ''}
      </span>
      {warning ? (
        <span className="backend-warning" data-testid="backend-warning">
          {warning}
        </span>
      ) : null}
    </div>
  );
}

/** Why the backend is worth a warning (software adapter, or not WebGPU), or null. */
export function backendWarning(b: BackendInfo): string | null {
  if (b.name !== 'webgpu') return `running on ${b.name}: ${b.reason}`;
  if (b.software) return `WebGPU runs on a software adapter${b.adapter ? ` (${b.adapter})` : ''}: expect slow steps`;
  return null;
}

function Errors() {
  const errors = useRunStore((s) => s.errors);
  const gpuErrors = useRunStore((s) => s.gpuErrors);
  if (!errors.length && !gpuErrors.length) return null;
  return (
    <div className="run-errors" data-testid="run-errors">
      {errors.map((e, i) => (
        <p key={`e${i}`} className={e.fatal ? 'error' : 'warn'}>
          {e.message}
        </p>
      ))}
      {gpuErrors.length ? (
        <p className="error" title={gpuErrors.join('\n\n')}>
          GPU error (results may be wrong; the run was paused): {gpuErrors[0]}
          {gpuErrors.length > 1 ? ` (+${gpuErrors.length - 1} follow-up errors; hover for all)` : ''}
        </p>
      ) : null}
      <button className="link" onClick={() => useRunStore.setState({ errors: [], gpuErrors: [] })}>
        dismiss
      </button>
    </div>
  );
}
