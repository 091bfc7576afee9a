// The comparison charts as one SVG document, drawn from the data (uPlot draws on a canvas, which has no vector
// form): a title, a legend (one entry per run), then one chart per metric with the raw curve faint under its
// debiased EMA, axes with round ticks, and dashed vertical markers where a run moved. Pure string building:
// unit-tested under Node (test/compare-svg.test.ts).
import { chartColumns, formatNumber, metricInfo, type ComparedRun } from './runCompare';

export interface SvgOptions {
  title: string;
  metrics: string[];
  colours: string[];
  /** Per run, a note after its legend label (the settings that set it apart: "lr 1e-3"). */
  details?: string[];
  /** EMA β in [0, 1); 0 draws the raw curves only. */
  smoothing: number;
  log: boolean;
  width?: number;
  chartHeight?: number;
}

const FONT = 'font-family="system-ui, sans-serif"';
const BG = '#12161b';
const AXIS = '#9aa5b1';
const GRID = '#2a313b';
const TEXT = '#d8dee6';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The round step whose tick count is nearest the wish.
  const step = [1, 2, 5, 10].map((k) => k * mag).reduce((a, b) => (Math.abs((hi - lo) / b - count) < Math.abs((hi - lo) / a - count) ? b : a));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Polyline path data; a null starts a new sub-path. */
function pathData(points: ([number, number] | null)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function comparisonSvg(runs: Pick<ComparedRun, 'label' | 'steps' | 'metrics' | 'markers'>[], o: SvgOptions): string {
  const width = o.width ?? 820;
  const chartH = o.chartHeight ?? 200;
  const left = 64;
  const right = 16;
  const legendTop = 40;
  const legendH = 18 * runs.length;
  const chartsTop = legendTop + legendH + 12;
  const blockH = chartH + 46; // chart title + plot + x labels
  const height = chartsTop + o.metrics.length * blockH + 8;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="${BG}"/>`);
  parts.push(`<text x="${left}" y="24" font-size="15" font-weight="600" fill="${TEXT}">${escapeXml(o.title)}</text>`);
  const smoothNote = o.smoothing > 0 ? `raw (faint) and debiased EMA β = ${o.smoothing}` : 'raw values';
  parts.push(`<text x="${width - right}" y="24" text-anchor="end" fill="${AXIS}">${escapeXml(`${smoothNote}${o.log ? ' · log y' : ''}`)}</text>`);
  runs.forEach((r, i) => {
    const y = legendTop + 18 * i + 10;
    const c = o.colours[i % o.colours.length];
    parts.push(`<g class="legend-entry"><line x1="${left}" y1="${y - 4}" x2="${left + 22}" y2="${y - 4}" stroke="${c}" stroke-width="3"/>`);
    const detail = o.details?.[i] ? `<tspan fill="#f5cf6b" dx="10">${escapeXml(o.details[i])}</tspan>` : '';
    parts.push(`<text x="${left + 30}" y="${y}" fill="${TEXT}">${escapeXml(r.label)}${detail}</text></g>`);
  });

  o.metrics.forEach((metric, k) => {
    const top = chartsTop + k * blockH;
    const plotTop = top + 18;
    const plotBottom = plotTop + chartH;
    const plotRight = width - right;
    const info = metricInfo(metric);
    const smooth = o.smoothing > 0;
    // The same columns as the live charts (drawable values only; long histories summarised per bucket).
    const cols = chartColumns(runs, metric, o.smoothing, o.log);
    const per = smooth ? 2 : 1;
    const rawOf = (i: number) => cols.columns[per * i];
    const smOf = (i: number) => cols.columns[per * i + per - 1];
    const ty = (v: number | null): number | null => (v === null ? null : o.log ? Math.log10(v) : v);
    // y range over the raw values (they span the smoothed ones).
    let lo = Infinity;
    let hi = -Infinity;
    runs.forEach((_, i) => {
      for (const v of rawOf(i)) {
        const t = ty(v);
        if (t === null) continue;
        lo = Math.min(lo, t);
        hi = Math.max(hi, t);
      }
    });
    if (!o.log && info.range) {
      lo = Math.min(lo, info.range[0]);
      hi = Math.max(hi, info.range[1]);
    }
    const xs = cols.x;
    const x0 = xs.length ? xs[0] : 0;
    const x1 = xs.length ? xs[xs.length - 1] : 1;
    parts.push(`<g class="chart" data-metric="${escapeXml(metric)}">`);
    parts.push(`<text x="${left}" y="${top + 12}" font-weight="600" fill="${AXIS}">${escapeXml(info.label)}${o.log ? ' (log)' : ''}</text>`);
    parts.push(`<rect x="${left}" y="${plotTop}" width="${plotRight - left}" height="${chartH}" fill="none" stroke="${GRID}"/>`);
    if (!Number.isFinite(lo)) {
      parts.push(`<text x="${(left + plotRight) / 2}" y="${plotTop + chartH / 2}" text-anchor="middle" fill="${AXIS}">no values${o.log ? ' above 0' : ''}</text></g>`);
      return;
    }
    if (hi === lo) {
      const pad = Math.abs(lo) * 0.05 || 1;
      lo -= pad;
      hi += pad;
    }
    const X = (s: number) => left + (x1 === x0 ? 0.5 : (s - x0) / (x1 - x0)) * (plotRight - left);
    const Y = (t: number) => plotBottom - ((t - lo) / (hi - lo)) * chartH;
    const yTicks = o.log ? logTicks(lo, hi) : niceTicks(lo, hi, 4);
    for (const t of yTicks) {
      const y = Y(t).toFixed(1);
      parts.push(`<line x1="${left}" y1="${y}" x2="${plotRight}" y2="${y}" stroke="${GRID}"/>`);
      parts.push(`<text x="${left - 6}" y="${y}" dy="3.5" text-anchor="end" fill="${AXIS}">${escapeXml(formatNumber(o.log ? 10 ** t : t))}</text>`);
    }
    for (const s of niceTicks(x0, x1, 6).filter((s) => Number.isInteger(s))) {
      const x = X(s).toFixed(1);
      parts.push(`<line x1="${x}" y1="${plotBottom}" x2="${x}" y2="${plotBottom + 4}" stroke="${AXIS}"/>`);
      parts.push(`<text x="${x}" y="${plotBottom + 16}" text-anchor="middle" fill="${AXIS}">${s}</text>`);
    }
    parts.push(`<text x="${plotRight}" y="${plotBottom + 30}" text-anchor="end" fill="${AXIS}">step</text>`);
    runs.forEach((r, i) => {
      const c = o.colours[i % o.colours.length];
      const pts = (ys: (number | null)[]) =>
        xs.map((s, j) => {
          const t = ty(ys[j]);
          return t === null ? null : ([X(s), Y(t)] as [number, number]);
        });
      // Steps without a drawable value are spanned, as the live charts do: the step axis is the union of every
      // run's steps, and sparse series (NaN between the steps they are measured at) stay lines.
      const own = (ys: (number | null)[]) => pts(ys).filter((p) => p !== null);
      if (smooth) parts.push(`<path class="raw" data-run="${i}" d="${pathData(own(rawOf(i)))}" fill="none" stroke="${c}" stroke-opacity="0.28" stroke-width="1"/>`);
      const line = own(smOf(i));
      parts.push(`<path class="smooth" data-run="${i}" d="${pathData(line)}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
      // A series with one value (e.g. measured once) is a dot, not an invisible zero-length path.
      if (line.length === 1) parts.push(`<circle class="dot" data-run="${i}" cx="${line[0]![0].toFixed(1)}" cy="${line[0]![1].toFixed(1)}" r="2.5" fill="${c}"/>`);
      for (const m of r.metrics[metric] ? r.markers : []) {
        if (m.step < x0 || m.step > x1) continue;
        const x = X(m.step).toFixed(1);
        parts.push(`<line class="marker" data-run="${i}" x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotBottom}" stroke="${c}" stroke-dasharray="4 3"/>`);
        parts.push(`<text x="${Number(x) + 3}" y="${plotTop + 11}" fill="${c}">${escapeXml(m.label)}</text>`);
      }
    });
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Tick positions (log10 units) at the powers of ten inside [lo, hi]; the ends when none falls inside. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) out.push(e);
  return out.length >= 2 ? out : [lo, hi];
}
