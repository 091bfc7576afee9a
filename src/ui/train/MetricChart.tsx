// One live uPlot chart over columns of the run history. The chart is created once (again only when the
// y scale type changes) and fed with setData from the store's per-frame history announcement: no React
// render per step, no re-creation, and the columns are passed as typed-array views (no copies).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { IncrementalEma, type MetricColumn } from '../../store/metricsHistory';
import { runHistory, useRunStore } from '../../store/runStore';

export interface ChartSeries {
  column: MetricColumn;
  label: string;
  stroke: string;
  width?: number;
  /** This series has values on some steps only (NaN elsewhere): points joined across the gaps, never smoothed. */
  sparse?: boolean;
}

export interface MetricChartProps {
  testId: string;
  title: string;
  series: ChartSeries[];
  height?: number;
  /** Logarithmic y axis (non-positive values become gaps). */
  log?: boolean;
  /** EMA weight in [0, 1); 0 shows the raw values. */
  smoothing?: number;
  /** Fixed y range, e.g. [0, 1] for accuracy. */
  yRange?: [number, number];
  /** Axis value formatter. */
  format?: (v: number) => string;
  /** The series have values on some steps only (NaN elsewhere, e.g. health): join the points across the gaps. */
  sparse?: boolean;
}

export function MetricChart({ testId, title, series, height = 150, log = false, smoothing = 0, yRange, format, sparse = false }: MetricChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const emas = useRef(series.map(() => new IncrementalEma()));
  const smoothingRef = useRef(smoothing);
  smoothingRef.current = smoothing;

  // Builds the data arrays from the history and hands them to uPlot.
  const refresh = useRef(() => {});
  refresh.current = () => {
    const u = plot.current;
    const el = host.current;
    if (!u || !el) return;
    const x = runHistory.column('step');
    const w = smoothingRef.current;
    const ys = series.map((s, i) => {
      const raw = runHistory.column(s.column);
      const v = w > 0 && !s.sparse ? emas.current[i].update(raw, w, runHistory.generation) : raw;
      if (sparse || s.sparse) return Array.from(v, (y) => (Number.isFinite(y) && (!log || y > 0) ? y : null));
      if (!log) return v;
      // uPlot's log scale needs positive values: others become gaps.
      return Array.from(v, (y) => (y > 0 ? y : null));
    });
    u.setData([x, ...ys] as uPlot.AlignedData);
    el.dataset.points = String(x.length);
  };

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      title,
      width,
      height,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: log ? { distr: 3, log: 10 } : yRange ? { range: yRange } : {},
      },
      axes: [
        // Steps are integers: no 0.5 ticks.
        { stroke: '#9aa5b1', grid: { stroke: '#242b34' }, ticks: { stroke: '#2a313b' }, incrs: STEP_INCRS, values: (_u: uPlot, vals: number[]) => vals.map((v) => String(v)) },
        {
          stroke: '#9aa5b1',
          grid: { stroke: '#242b34' },
          ticks: { stroke: '#2a313b' },
          size: 56,
          ...(format ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => (v == null ? '' : format(v))) } : {}),
        },
      ],
      // Run markers (e.g. where the run moved to a cluster): a dashed line between the last step before the move
      // and the first step after it, labelled at the top.
      hooks: { draw: [drawMarkers] },
      series: [
        { label: 'step' },
        ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: s.width ?? 1.5, spanGaps: sparse || !!s.sparse, points: { show: sparse || !!s.sparse, size: 4 }, value: (_u: uPlot, v: number | null) => (v == null ? '–' : fmtValue(v)) })),
      ],
    };
    const u = new uPlot(opts, [[], ...series.map(() => [])] as uPlot.AlignedData, el);
    plot.current = u;
    refresh.current();
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    // The store announces at most one change per frame. Each chart redraws in a task of its own (so the
    // charts and React's render never add up to one long task), and a long history spaces the redraws so the
    // charts never take more than about a fifth of the main thread (cost measured per redraw).
    let nextAllowed = 0;
    let pending = 0;
    const run = () => {
      pending = 0;
      if (plot.current !== u) return;
      const t = performance.now();
      refresh.current();
      const cost = performance.now() - t;
      nextAllowed = performance.now() + 4 * cost;
    };
    const unsub = useRunStore.subscribe((s, prev) => {
      if (s.markers !== prev.markers) u.redraw(false);
      if (s.historyVersion === prev.historyVersion || pending) return;
      pending = window.setTimeout(() => enqueueRedraw(run), Math.max(0, nextAllowed - performance.now()));
    });
    return () => {
      unsub();
      if (pending) clearTimeout(pending);
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Series and title are fixed per chart; only the scale type forces a new chart.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [log, height]);

  useEffect(() => {
    refresh.current();
  }, [smoothing]);

  return <div className="metric-chart" data-testid={testId} data-points="0" ref={host} />;
}

const MARKER_COLOUR = '#f0c674';

function drawMarkers(u: uPlot): void {
  const markers = useRunStore.getState().markers;
  if (!markers.length) return;
  const { ctx } = u;
  const { top, height, left, width } = u.bbox;
  ctx.save();
  ctx.strokeStyle = MARKER_COLOUR;
  ctx.fillStyle = MARKER_COLOUR;
  ctx.lineWidth = Math.max(1, devicePixelRatio);
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.font = `${10 * devicePixelRatio}px sans-serif`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  for (const m of markers) {
    const x = u.valToPos(m.step - 0.5, 'x', true);
    if (!Number.isFinite(x) || x < left || x > left + width) continue;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 11 * devicePixelRatio);
  }
  ctx.restore();
}

// One chart redraw per macrotask.
const redrawQueue: (() => void)[] = [];
let draining = false;
function enqueueRedraw(fn: () => void): void {
  redrawQueue.push(fn);
  if (!draining) {
    draining = true;
    setTimeout(drainRedraws, 0);
  }
}
function drainRedraws(): void {
  redrawQueue.shift()?.();
  if (redrawQueue.length) setTimeout(drainRedraws, 0);
  else draining = false;
}

const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];

function fmtValue(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000 || a < 1e-3) return v.toExponential(3);
  return v.toPrecision(4);
}
