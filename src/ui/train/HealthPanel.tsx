// Training health, live: is the encoder learning or collapsing, are the position predictions calibrated, do student
// and teacher agree, how often are gradients clipped — with the worker's plain-words diagnosis (src/voco/health.ts).
// Draws what the run store holds; computes nothing.
import { useEffect } from 'react';
import { runHistory, useRunStore } from '../../store/runStore';
import type { StepHealth } from '../../worker/protocol';
import { MetricChart } from './MetricChart';

const fmt = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');

/** window.__vocoRun: browser tests read the run's loss curve and newest health record back. */
function installDebugHook(): void {
  (window as unknown as { __vocoRun: unknown }).__vocoRun = {
    column: (name: Parameters<typeof runHistory.column>[0]) => Array.from(runHistory.column(name)),
    health: () => useRunStore.getState().health,
  };
}

export function HealthPanel() {
  useEffect(installDebugHook, []);
  const entry = useRunStore((s) => s.health);
  const clip = useRunStore((s) => s.config?.gradClip ?? 0);
  return (
    <section className="train-section health-panel" data-testid="health-panel" data-health-step={entry?.step ?? ''}>
      <h3>Training health {entry ? <span className="muted small">· step {entry.step}, over the last {entry.health.window} steps</span> : null}</h3>
      {entry ? <Diagnosis health={entry.health} /> : <p className="muted small" data-testid="health-empty">Appears with the first steps of a run (every few steps).</p>}
      {entry ? <HealthFacts health={entry.health} clip={clip} /> : null}
      <div className="health-charts">
        <MetricChart
          testId="plot-health-rank"
          title="Effective rank of the projections"
          height={120}
          sparse
          series={[
            { column: 'studentRank', label: 'student', stroke: '#4ea1ff' },
            { column: 'teacherRank', label: 'teacher', stroke: '#f5a623' },
          ]}
        />
        <MetricChart
          testId="plot-health-std"
          title="Per-dimension std ×√d (1 healthy, 0 collapsed)"
          height={120}
          sparse
          series={[
            { column: 'studentStdMean', label: 'student mean', stroke: '#4ea1ff' },
            { column: 'studentStdMin', label: 'student min', stroke: '#2f6fb5', width: 1 },
            { column: 'teacherStdMean', label: 'teacher mean', stroke: '#f5a623' },
          ]}
        />
        <MetricChart
          testId="plot-health-agreement"
          title="Calibration and agreement"
          height={120}
          sparse
          series={[
            { column: 'calCorrelation', label: 'pred–true corr.', stroke: '#5fd38d' },
            { column: 'calSlope', label: 'calib. slope', stroke: '#2e9e5e', width: 1 },
            { column: 'agreement', label: 'student–teacher cos', stroke: '#b06ef5' },
          ]}
        />
        <MetricChart testId="plot-health-gradnorm" title="Gradient norm (before clipping)" height={110} log series={[{ column: 'gradNorm', label: '‖g‖', stroke: '#e06c75' }]} />
      </div>
    </section>
  );
}

function Diagnosis({ health }: { health: StepHealth }) {
  return (
    <ul className="health-diagnosis" data-testid="health-diagnosis">
      {health.diagnosis.map((d, i) => (
        <li key={i} className={`health-${d.level}`} data-level={d.level}>
          <span className="health-badge">{d.level === 'ok' ? 'OK' : d.level === 'warn' ? 'check' : 'problem'}</span> {d.text}
        </li>
      ))}
    </ul>
  );
}

function HealthFacts({ health: h, clip }: { health: StepHealth; clip: number }) {
  const maxCount = Math.max(1, ...h.calibration.bins.map((b) => b.count));
  return (
    <div className="health-facts">
      <table className="table health-table" data-testid="health-table">
        <tbody>
          <tr>
            <th>effective rank</th>
            <td data-testid="health-rank">
              student {fmt(h.studentRank, 1)} · teacher {fmt(h.teacherRank, 1)} of {h.rankMax}
            </td>
          </tr>
          <tr>
            <th>std ×√d (min / mean)</th>
            <td>
              student {fmt(h.studentStd.min)} / {fmt(h.studentStd.mean)} · teacher {fmt(h.teacherStd.min)} / {fmt(h.teacherStd.mean)}
            </td>
          </tr>
          <tr>
            <th>student–teacher agreement</th>
            <td>{fmt(h.agreement, 3)} (mean cosine of the same crops&apos; projections)</td>
          </tr>
          <tr>
            <th>gradient norm</th>
            <td>
              median {fmt(h.gradNormMedian)} · {clip > 0 ? `${Math.round(h.clippedShare * 100)} % of steps clipped at ${clip}` : 'clipping off'}
            </td>
          </tr>
          <tr>
            <th>loss terms</th>
            <td data-testid="health-terms">
              {h.terms.map((t) => (
                <span key={t.term} className={`term-${t.state.replace(' ', '-')}`} title={`${fmt(t.before, 3)} → ${fmt(t.after, 3)} (z ${fmt(t.z, 1)})`}>
                  {t.term} {t.state}{' '}
                </span>
              ))}
            </td>
          </tr>
        </tbody>
      </table>
      <figure className="calibration" data-testid="health-calibration">
        <svg viewBox="0 0 100 100" width="120" height="120" role="img" aria-label="predicted vs true overlap">
          <rect x="0" y="0" width="100" height="100" fill="#161b22" stroke="#2a313b" />
          <line x1="0" y1="100" x2="100" y2="0" stroke="#444c56" strokeDasharray="3 3" />
          {h.calibration.bins
            .filter((b) => b.count > 0)
            .map((b, i) => (
              <circle key={i} cx={b.predicted * 100} cy={100 - b.observed * 100} r={2 + 4 * Math.sqrt(b.count / maxCount)} fill="#5fd38d" />
            ))}
        </svg>
        <figcaption className="small muted">
          predicted (x) vs true (y) overlap, {h.calibration.pairs} pairs · slope {fmt(h.calibration.slope)} · r {fmt(h.calibration.correlation)}
        </figcaption>
      </figure>
    </div>
  );
}
