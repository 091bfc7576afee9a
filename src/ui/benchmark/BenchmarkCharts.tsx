// Learning curves (one chart per task, one line per weights set, streaming in as the worker computes them) and the
// scaling view: primary score against encoder parameters and against pre-training steps, with the recommendation.
import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { TASK_CATALOG, metricSpec } from '../../eval/tasks/catalog';
import { recommendPresets } from '../../store/benchmarkResults';
import { useBenchmarkStore } from '../../store/benchmarkStore';
import { formatParams } from './BenchmarkSetup';
import { PALETTE, XYChart, type XYSeries } from './XYChart';

export function BenchmarkCurves() {
  const { results, version } = useBenchmarkStore(useShallow((s) => ({ results: s.results, version: s.version })));
  const charts = useMemo(() => {
    return TASK_CATALOG.map((task) => {
      const series: XYSeries[] = results.weights
        .map((w, i) => ({
          label: w.label,
          color: PALETTE[i % PALETTE.length],
          points: results.curves.filter((c) => c.weightsId === w.id && c.task === task.id && c.series === task.curve.main).map((c) => [c.x, c.y] as [number, number]),
        }))
        .filter((s) => s.points.length > 0);
      return { task, series };
    }).filter((c) => c.series.length > 0);
    // version: the store bumps it when results change
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [results, version]);
  if (!charts.length) return null;
  return (
    <section className="bench-section" data-testid="bench-curves">
      <h3>Learning curves</h3>
      {charts.map(({ task, series }) => (
        <XYChart key={task.id} testId={`bench-curve-${task.id}`} title={`${task.title}: ${task.curve.mainLabel}`} xLabel={task.curve.x} series={series} yRange={task.curve.range} />
      ))}
    </section>
  );
}

export function BenchmarkScaling() {
  const { results, margin } = useBenchmarkStore(useShallow((s) => ({ results: s.results, margin: s.margin })));
  const sweep = results.weights.filter((w) => w.source === 'sweep');
  const presets = [...new Set(sweep.map((w) => w.preset))];
  const steps = [...new Set(sweep.map((w) => w.step))].sort((a, b) => a - b);
  const recs = useMemo(() => recommendPresets(results, margin), [results, margin]);
  if (sweep.length < 2) return null;
  const tasks = TASK_CATALOG.filter((t) => results.scores.some((s) => s.task === t.id && s.metric === t.primary && sweep.some((w) => w.id === s.weightsId)));
  const score = (weightsId: string, task: string, metric: string) => results.scores.find((s) => s.weightsId === weightsId && s.task === task && s.metric === metric)?.value;

  return (
    <section className="bench-section" data-testid="bench-scaling">
      <div className="section-head">
        <h3>Scaling</h3>
        <label className="small muted" title="the smallest preset whose score is within this margin (absolute) of the best">
          margin{' '}
          <input
            type="number"
            className="bench-narrow"
            step={0.01}
            min={0}
            value={margin}
            data-testid="bench-margin"
            onChange={(e) => {
              const v = Number(e.target.value);
              if (Number.isFinite(v) && v >= 0) useBenchmarkStore.setState({ margin: v });
            }}
          />
        </label>
      </div>
      {tasks.map((task) => {
        const metric = metricSpec(task.id, task.primary);
        const vsParams: XYSeries[] = steps.map((step, i) => ({
          label: step === 0 ? 'random init' : `${step} steps`,
          color: PALETTE[i % PALETTE.length],
          points: sweep.filter((w) => w.step === step).map((w) => [w.encoderParams, score(w.id, task.id, metric.key) ?? NaN] as [number, number]),
        }));
        const vsSteps: XYSeries[] = presets.map((p, i) => ({
          label: p,
          color: PALETTE[i % PALETTE.length],
          points: sweep.filter((w) => w.preset === p).map((w) => [w.step, score(w.id, task.id, metric.key) ?? NaN] as [number, number]),
        }));
        return (
          <div key={task.id} className="bench-scale-pair">
            {presets.length > 1 && (
              <XYChart testId={`bench-scale-params-${task.id}`} title={`${task.title}: ${metric.label} vs encoder parameters`} xLabel="encoder parameters" series={vsParams} yRange={metric.range} logX points xFormat={(v) => formatParams(v)} height={130} />
            )}
            {steps.length > 1 && (
              <XYChart testId={`bench-scale-steps-${task.id}`} title={`${task.title}: ${metric.label} vs pre-training steps`} xLabel="pre-training steps" series={vsSteps} yRange={metric.range} points height={130} />
            )}
          </div>
        );
      })}
      {recs.length > 0 ? (
        <table className="table" data-testid="bench-recommend">
          <thead>
            <tr>
              <th>task</th>
              <th>pick</th>
              <th>best</th>
            </tr>
          </thead>
          <tbody>
            {recs.map((r) => (
              <tr key={r.task} title={r.compared.map((c) => `${c.preset} (${formatParams(c.params)}): ${c.value.toFixed(3)}`).join('\n')}>
                <td>{TASK_CATALOG.find((t) => t.id === r.task)!.title}</td>
                <td className="good">
                  {r.pick.preset} · {r.pick.value.toFixed(3)}
                </td>
                <td>
                  {r.best.preset} · {r.best.value.toFixed(3)} <span className="muted small">@{r.step} steps</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted small">Score two or more presets in the sweep for a recommendation (the smallest within the margin of the best).</p>
      )}
    </section>
  );
}
