// Pretrained vs random init on the label tasks, split by split (src/store/benchmarkPaired.ts): both numbers the
// verdict needs, visible — the unpaired spread (sd of random init over the splits) and the paired gain with its sd
// and standard error — and whether the mean gain is beyond each (the spread; t·SE, a paired t-test).
import { pairedRows } from '../../store/benchmarkPaired';
import type { ResultsSnapshot } from '../../store/benchmarkResults';
import { metricSpec, taskInfo } from '../../eval/tasks/catalog';

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const SHORT: Record<string, string> = { 'organ-probe': 'probe', 'few-shot-seg': 'seg', retrieval: 'retr' };
const METRIC: Record<string, string> = { macroF1: 'F1', accuracy: 'acc', meanDice: 'Dice', precisionAtK: 'P@k' };
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}` : '–');

export function BenchmarkPaired({ results }: { results: Pick<ResultsSnapshot, 'scores' | 'weights'> }) {
  const rows = pairedRows(results);
  if (!rows.length) return null;
  const n = Math.max(...rows.map((r) => r.comparison.n));
  return (
    <div className="bench-paired" data-testid="bench-paired">
      <h4>Pre-trained vs random init, paired over the same {n} splits</h4>
      <p className="bench-paired-note small">
        gain = pre-trained − random init on each split (same crops); <strong>spread</strong> = sd of random init over the splits (unpaired);{' '}
        <strong>paired</strong>: mean gain &gt; t·SE of the paired gains (paired t-test, 95 %; t = {f3(rows[0].comparison.tCritical)} for {n} splits).
      </p>
      <table className="table bench-table bench-paired-table">
        <thead>
          <tr>
            <th>task · weights</th>
            <th>random init</th>
            <th>pre-trained</th>
            <th>paired gain</th>
            <th>better</th>
            <th>beyond</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const c = r.comparison;
            const spec = metricSpec(r.task, r.metric);
            return (
              <tr key={`${r.task}.${r.metric}.${r.weightsId}`} data-testid="bench-paired-row" data-task={r.task} data-metric={r.metric} data-weights={r.weightsId} data-gain={c.gainMean} data-spread={c.baseSd} data-se={c.gainSe} data-n={c.n}>
                <td className="bench-wcol" title={`${taskInfo(r.task).title}: ${spec.label}; ${r.weightsLabel} vs ${r.baselineLabel}`}>
                  {SHORT[r.task] ?? r.task} {METRIC[r.metric] ?? spec.label}
                  <br />
                  <span className="muted">{r.weightsLabel}</span>
                </td>
                <td title="mean ± sd over the splits (the sd is the unpaired spread)">
                  {f3(c.baseMean)}
                  <br />
                  <span className="muted">± {f3(c.baseSd)}</span>
                </td>
                <td>
                  {f3(c.otherMean)}
                  <br />
                  <span className="muted">± {f3(c.otherSd)}</span>
                </td>
                <td title="mean of the per-split gains ± their sd (standard error of the mean)">
                  <strong>{signed(c.gainMean)}</strong>
                  <br />
                  <span className="muted">± {f3(c.gainSd)}</span>
                  <br />
                  <span className="muted">SE {f3(c.gainSe)}</span>
                </td>
                <td>
                  {c.better}/{c.n}
                </td>
                <td>
                  <span className={c.beyondSpread ? 'good' : 'warn'} data-testid="bench-paired-spread">
                    spread: {c.beyondSpread ? 'yes' : 'no'}
                  </span>
                  <br />
                  <span className={c.beyondPairedNoise ? 'good' : 'warn'} data-testid="bench-paired-se">
                    paired: {c.beyondPairedNoise ? 'yes' : 'no'}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
