// Live training curves: total loss and its three terms, learning rate, step time.
import { useState } from 'react';
import { MetricChart } from './MetricChart';
import { useRunStore } from '../../store/runStore';

export const LOSS_COLOURS = { loss: '#e8eef5', intra: '#4ea1ff', inter: '#f5a623', reg: '#b06ef5' };

export function LivePlots() {
  const [smoothing, setSmoothing] = useState(0.6);
  const [smooth, setSmooth] = useState(true);
  const [log, setLog] = useState(false);
  const w = smooth ? smoothing : 0;
  const markers = useRunStore((s) => s.markers);
  return (
    <section className="train-section" data-testid="live-plots">
      {markers.length ? (
        <ul className="run-markers" data-testid="run-markers" title="Marked on the curves as dashed lines">
          {markers.map((m, i) => (
            <li key={i} data-step={m.step}>
              ┊ step {m.step}: {m.label}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="plot-toolbar">
        <label title="Exponential moving average of the curves (debiased)">
          <input type="checkbox" checked={smooth} onChange={(e) => setSmooth(e.target.checked)} data-testid="toggle-smoothing" /> smooth
        </label>
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          disabled={!smooth}
          onChange={(e) => setSmoothing(Number(e.target.value))}
          aria-label="smoothing weight"
        />
        <span className="muted">{smoothing.toFixed(2)}</span>
        <label title="Logarithmic y axis for the loss">
          <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} data-testid="toggle-log" /> log loss
        </label>
      </div>
      <MetricChart
        testId="plot-loss"
        title="Loss"
        log={log}
        smoothing={w}
        height={170}
        series={[
          { column: 'loss', label: 'total', stroke: LOSS_COLOURS.loss, width: 2 },
          { column: 'intra', label: 'intra', stroke: LOSS_COLOURS.intra },
          { column: 'inter', label: 'inter', stroke: LOSS_COLOURS.inter },
          { column: 'reg', label: 'reg', stroke: LOSS_COLOURS.reg },
        ]}
      />
      <MetricChart testId="plot-lr" title="Learning rate" height={110} series={[{ column: 'lr', label: 'lr', stroke: '#5fd38d' }]} format={(v) => (v === 0 ? '0' : v.toExponential(1))} />
      <MetricChart testId="plot-steptime" title="Step time (ms)" height={110} smoothing={w} series={[{ column: 'stepMs', label: 'ms', stroke: '#e06c75' }]} />
    </section>
  );
}
