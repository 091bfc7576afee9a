// Position prediction of the latest step: for every random crop, the true n×n overlap grid (what fraction of
// the crop lies on each base crop) beside the predicted grid (relu cosine of the crop to each base), on one
// colour scale [0, 1]. Below: how argmax accuracy and the mean absolute error evolve.
import { useRunStore } from '../../store/runStore';
import { argmax } from '../../store/metricsHistory';
import { MetricChart } from './MetricChart';

/** Crops shown at most (B·sw can be large); the rest are summarised. */
const MAX_CROPS = 8;

export function PositionHeatmaps() {
  const latest = useRunStore((s) => s.latest);
  const n = useRunStore((s) => s.config?.gridN ?? 0);
  const names = useRunStore((s) => s.geometry);

  const crops: { volume: number; crop: number; truth: number[]; pred: number[]; volumeId: string }[] = [];
  if (latest) {
    latest.labels.forEach((perVolume, v) =>
      perVolume.forEach((truth, c) => crops.push({ volume: v, crop: c, truth, pred: latest.predictions[v]?.[c] ?? [], volumeId: latest.regions[v]?.volumeId ?? '' })),
    );
  }
  const shown = crops.slice(0, MAX_CROPS);

  return (
    <section className="train-section" data-testid="heatmaps">
      <h3>
        Position prediction {latest ? <span className="muted">· step {latest.step}</span> : null}
      </h3>
      {!latest ? (
        <p className="muted">Appears with the first training step.</p>
      ) : (
        <>
          <div className="heatmap-legend">
            <span>0</span>
            <span className="heat-scale" />
            <span>1</span>
            <span className="muted">true overlap · predicted (relu cosine)</span>
          </div>
          <div className="heatmap-list">
            {shown.map((c) => {
              const hit = argmax(c.truth) === argmax(c.pred);
              return (
                <div className="heatmap-pair" key={`${c.volume}-${c.crop}`} data-testid="heatmap-pair" data-volume={c.volume} data-crop={c.crop}>
                  <div className="heatmap-caption" title={names[c.volumeId]?.name ?? c.volumeId}>
                    vol {c.volume} · crop {c.crop} <span className={hit ? 'ok' : 'bad'}>{hit ? '✓' : '✗'}</span>
                  </div>
                  <div className="heatmap-grids">
                    <HeatGrid n={n} values={c.truth} kind="true" volume={c.volume} crop={c.crop} />
                    <HeatGrid n={n} values={c.pred} kind="pred" volume={c.volume} crop={c.crop} />
                    <span className="heat-label">true</span>
                    <span className="heat-label">predicted</span>
                  </div>
                </div>
              );
            })}
          </div>
          {crops.length > shown.length ? <p className="muted">+{crops.length - shown.length} more crops not shown</p> : null}
        </>
      )}
      <MetricChart
        testId="plot-position"
        title="Argmax accuracy · mean abs. error"
        height={110}
        yRange={[0, 1]}
        series={[
          { column: 'accuracy', label: 'accuracy', stroke: '#5fd38d' },
          { column: 'mae', label: 'MAE', stroke: '#e06c75' },
        ]}
      />
    </section>
  );
}

/**
 * n×n grid of value i·n + j for base (i along x, j along y), laid out as the viewer's axial slice shows the
 * region: x (towards the patient's right) left → right, y (towards anterior) bottom → top.
 */
function HeatGrid({ n, values, kind, volume, crop }: { n: number; values: number[]; kind: 'true' | 'pred'; volume: number; crop: number }) {
  const cells = [];
  for (let j = n - 1; j >= 0; j--) {
    for (let i = 0; i < n; i++) {
      const v = values[i * n + j];
      cells.push(
        <div
          key={`${i}-${j}`}
          className="heat-cell"
          data-testid={`heat-${kind}`}
          data-volume={volume}
          data-crop={crop}
          data-i={i}
          data-j={j}
          data-value={v}
          title={`${kind === 'true' ? 'true overlap' : 'predicted'} · base (x ${i}, y ${j}): ${Number.isFinite(v) ? v.toFixed(3) : String(v)}`}
          style={{ background: heatColour(v) }}
        />,
      );
    }
  }
  return (
    <div className="heat-grid" style={{ gridTemplateColumns: `repeat(${n}, 1fr)` }} data-kind={kind}>
      {cells}
    </div>
  );
}

// Viridis at 6 stops, linearly interpolated; clamps to [0, 1].
const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [65, 68, 135],
  [42, 120, 142],
  [34, 168, 132],
  [122, 209, 81],
  [253, 231, 37],
];

export function heatColour(v: number): string {
  if (!Number.isFinite(v)) return '#ff00ff';
  const t = Math.min(1, Math.max(0, v)) * (STOPS.length - 1);
  const k = Math.min(STOPS.length - 2, Math.floor(t));
  const f = t - k;
  const c = STOPS[k].map((a, i) => Math.round(a + (STOPS[k + 1][i] - a) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
