// One metric of several runs on one uPlot chart: per run its raw curve faint under the debiased EMA, in the run's
// colour, on the union of the runs' steps (each run's line spans the steps only the others have), with dashed
// vertical markers where a run moved. A readout under the chart gives the values at the cursor.
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { chartColumns, formatNumber, metricInfo, type ComparedRun } from '../../store/runCompare';

export interface CompareChartProps {
  metric: string;
  runs: ComparedRun[];
  colours: string[];
  /** EMA β; 0 draws the raw curves only. */
  smoothing: number;
  log: boolean;
  height?: number;
}

const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

/** `#rrggbb` with an alpha byte. */
const faint = (c: string) => (/^#[0-9a-f]{6}$/i.test(c) ? `${c}38` : c);

export function CompareChart({ metric, runs, colours, smoothing, log, height = 170 }: CompareChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const readout = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const info = metricInfo(metric);

  const data = useMemo(() => {
    const c = chartColumns(runs, metric, smoothing, log);
    return [c.x, ...c.columns] as uPlot.AlignedData;
  }, [runs, metric, smoothing, log]);

  const structure = `${runs.map((r) => r.key).join('|')}#${colours.join()}#${smoothing > 0}#${log}#${height}`;
  const dataRef = useRef(data);
  dataRef.current = data;
  const runsRef = useRef(runs);
  runsRef.current = runs;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const smooth = smoothing > 0;
    const series: uPlot.Series[] = [{ label: 'step' }];
    runs.forEach((r, i) => {
      const c = colours[i % colours.length];
      if (smooth) series.push({ label: `${r.label} (raw)`, stroke: faint(c), width: 1, points: { show: false }, spanGaps: true });
      // Points as uPlot decides (shown when few are in view): a series measured at a single step is still seen.
      series.push({ label: r.label, stroke: c, width: 1.75, points: { size: 5, fill: c }, spanGaps: true });
    });
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: {
        x: { time: false },
        y: log ? { distr: 3, log: 10 } : info.range ? { range: (_u, lo, hi) => [Math.min(info.range![0], lo), Math.max(info.range![1], hi)] } : {},
      },
      axes: [
        { stroke: '#9aa5b1', grid: { stroke: '#242b34' }, ticks: { stroke: '#2a313b' }, incrs: STEP_INCRS, values: (_u, vals) => vals.map((v) => String(v)) },
        { stroke: '#9aa5b1', grid: { stroke: '#242b34' }, ticks: { stroke: '#2a313b' }, size: 58, values: (_u, vals) => vals.map((v) => (v == null ? '' : formatNumber(Number(v.toPrecision(6))))) },
      ],
      series,
      hooks: {
        draw: [(u) => drawMarkers(u, runsRef.current, colours, metric)],
        setCursor: [(u) => showReadout(u, readout.current, runsRef.current, colours, smooth)],
      },
    };
    const u = new uPlot(opts, dataRef.current, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its series change; new data goes through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [structure]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <div className="compare-chart-block">
      <div className="compare-chart-title">
        {info.label}
        {log ? <span className="muted"> · log</span> : null}
        <span className="muted"> · {metric}</span>
      </div>
      <div className="compare-chart" data-testid="compare-chart" data-metric={metric} data-title={info.label} data-points={data[0].length} ref={host} />
      <div className="compare-readout" ref={readout} />
    </div>
  );
}

/** Dashed vertical lines, in the run's colour, at each marker step inside the x range, labelled at the top (only on charts of a metric the run has). */
function drawMarkers(u: uPlot, runs: ComparedRun[], colours: string[], metric: string): void {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  const dpr = devicePixelRatio || 1;
  ctx.save();
  ctx.font = `${10 * dpr}px system-ui, sans-serif`;
  runs.forEach((r, i) => {
    if (!r.metrics[metric]) return;
    for (const m of r.markers) {
      const x = u.valToPos(m.step, 'x', true);
      if (!(x >= left && x <= left + width)) continue;
      ctx.strokeStyle = colours[i % colours.length];
      ctx.fillStyle = colours[i % colours.length];
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillText(m.label, x + 3 * dpr, top + 11 * dpr + i * 11 * dpr);
    }
  });
  ctx.restore();
}

function showReadout(u: uPlot, el: HTMLDivElement | null, runs: ComparedRun[], colours: string[], smooth: boolean): void {
  if (!el) return;
  const idx = u.cursor.idx;
  if (idx == null) {
    el.textContent = '';
    return;
  }
  const step = u.data[0][idx];
  el.replaceChildren();
  const head = document.createElement('span');
  head.textContent = `step ${step}`;
  el.appendChild(head);
  runs.forEach((r, i) => {
    const col = u.data[1 + (smooth ? 2 * i + 1 : i)];
    const v = col?.[idx];
    const span = document.createElement('span');
    span.style.color = colours[i % colours.length];
    span.textContent = `${r.label}: ${v == null ? '–' : formatNumber(Number(v.toPrecision(4)))}`;
    el.appendChild(span);
  });
}
