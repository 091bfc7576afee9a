// A small uPlot chart of several x/y series that need not share x values (curves of different weights sets,
// scores against parameter counts). Rebuilt when its data changes (a handful of points, at most once a frame).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface XYSeries {
  label: string;
  color: string;
  points: [number, number][];
  dash?: boolean;
}

export interface XYChartProps {
  testId: string;
  title: string;
  xLabel: string;
  yLabel?: string;
  series: XYSeries[];
  yRange?: [number, number];
  logX?: boolean;
  /** Draw the points (few of them: scaling plots). */
  points?: boolean;
  height?: number;
  xFormat?: (v: number) => string;
}

export const PALETTE = ['#4ea1ff', '#f5b14c', '#3ecf8e', '#ff6b6b', '#c792ea', '#7fdbff', '#ffd166', '#a3be8c'];

export function XYChart({ testId, title, xLabel, yLabel, series, yRange, logX = false, points = false, height = 150, xFormat }: XYChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const count = series.reduce((n, s) => n + s.points.length, 0);
  // A key of the data, so the chart is rebuilt only when something changed.
  const key = JSON.stringify([title, yRange, logX, series.map((s) => [s.label, s.color, s.points])]);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].filter((x) => !logX || x > 0).sort((a, b) => a - b);
    const columns = series.map((s) => {
      const byX = new Map(s.points.map(([x, y]) => [x, y]));
      return xs.map((x) => (byX.has(x) && Number.isFinite(byX.get(x)!) ? byX.get(x)! : null));
    });
    const axis = { stroke: '#9aa5b1', grid: { stroke: '#242b34' }, ticks: { stroke: '#2a313b' } };
    const opts: uPlot.Options = {
      title,
      width: Math.max(200, el.clientWidth),
      height,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: logX ? { time: false, distr: 3, log: 10 } : { time: false }, y: yRange ? { range: yRange } : {} },
      axes: [
        { ...axis, label: xLabel, labelSize: 16, size: 34, ...(xFormat ? { values: (_u: uPlot, v: number[]) => v.map((x) => (x == null ? '' : xFormat(x))) } : {}) },
        { ...axis, label: yLabel, labelSize: yLabel ? 16 : 0, size: 40 },
      ],
      series: [
        { label: xLabel },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.6,
          dash: s.dash ? [5, 4] : undefined,
          spanGaps: true,
          points: { show: points || s.points.length <= 2, size: 6, fill: s.color },
        })),
      ],
    };
    const u = new uPlot(opts, [xs, ...columns] as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
    };
    // `key` captures every input that changes the drawing.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, height]);

  return <div className="bench-chart" data-testid={testId} data-points={count} ref={host} />;
}
