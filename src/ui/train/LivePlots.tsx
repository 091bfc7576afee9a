// Live training curves: total loss and its three terms, position accuracy (what visibly moves when the position
// loss does not), learning rate, step time.
import { useState } from 'react';
import { MetricChart } from './MetricChart';
import { useRunStore } from '../../store/runStore';
import { PROBE_CROPS, PROBE_EVERY, PROBE_REGIONS } from '../../voco/probe';

/** A step has B·sw random crops (4 by default), so its accuracy is coarse: smooth it at least this much. */
const ACCURACY_MIN_SMOOTHING = 0.9;

export const LOSS_COLOURS = { loss: '#e8eef5', intra: '#4ea1ff', inter: '#f5a623', reg: '#b06ef5' };

export function LivePlots() {
  const [smoothing, setSmoothing] = useState(0.6);
  const [smooth, setSmooth] = useState(true);
  const [log, setLog] = useState(false);
  const w = smooth ? smoothing : 0;
  const markers = useRunStore((s) => s.markers);
  const gridN = useRunStore((s) => s.config?.gridN ?? 0);
  const chance = gridN > 0 ? `1/${gridN * gridN} = ${(1 / (gridN * gridN)).toFixed(2)}` : '1/n²';
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
      <MetricChart
        testId="plot-accuracy"
        title="Position prediction"
        smoothing={smooth ? Math.max(smoothing, ACCURACY_MIN_SMOOTHING) : 0}
        yRange={[0, 1]}
        height={150}
        series={[
          { column: 'probeAccuracy', label: 'accuracy, clean crops', stroke: '#f0c674', width: 2, sparse: true },
          { column: 'accuracy', label: 'accuracy, training crops', stroke: '#5fd38d', width: 2 },
          { column: 'predOn', label: 'pred. on overlapped bases', stroke: '#4ea1ff' },
          { column: 'predOff', label: 'pred. on other bases', stroke: '#e06c75' },
        ]}
      />
      <p className="muted small" data-testid="accuracy-caption">
        Accuracy: how often the base crop a random crop overlaps most gets the highest prediction (chance {chance}). Clean
        crops (points, every {PROBE_EVERY} steps): the same {PROBE_REGIONS * PROBE_CROPS} crops of the training scans each time, without augmentation
        or dropout — the curve that shows what the encoder has learned. Training crops: this step&apos;s augmented crops,
        few per step, so smoothed at least {ACCURACY_MIN_SMOOTHING}. The position loss (intra) also charges the predictions on the base crops
        a crop does not overlap: when those rise with the others it stays flat while the accuracy climbs — then read the accuracy.
      </p>
      <MetricChart testId="plot-lr" title="Learning rate" height={110} series={[{ column: 'lr', label: 'lr', stroke: '#5fd38d' }]} format={(v) => (v === 0 ? '0' : v.toExponential(1))} />
      <MetricChart testId="plot-steptime" title="Step time (ms)" height={110} smoothing={w} series={[{ column: 'stepMs', label: 'ms', stroke: '#e06c75' }]} />
    </section>
  );
}
