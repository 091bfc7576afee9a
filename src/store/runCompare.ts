// Run comparison as plain data: a run reduced to what the comparison draws (steps, ANY metric series, settings,
// markers where the run moved between machines), the debiased EMA, the union of step axes, the settings diff,
// final/best values, sorting, and the CSV/JSON exports. No React, no tensors: unit-tested under Node
// (test/run-compare.test.ts). The series are generic: whatever columns a run's metric history holds (loss terms,
// lr, position accuracy, training-health series added later…) are compared without a list to keep in step.

/**
 * A place on a run's step axis worth a vertical line, e.g. where a run moved from the studio to a cluster.
 * `step` is the first step of the new stretch; `label` names it ("torchrun", "studio"). Stored in the run's
 * meta (`RunMeta.markers`, the `.voco` manifest) and derived from a `source` column of a metrics CSV.
 */
export interface RunMarker {
  step: number;
  label: string;
}

/** A volume a run was trained on, as the comparison tells runs apart (the sha256 fingerprint when known). */
export interface ComparedVolume {
  name: string;
  sha256?: string;
}

/** One run as the comparison sees it. */
export interface ComparedRun {
  /** Unique key: 'current', 'saved:<id>', 'file:<name>#k'. */
  key: string;
  /** Display name (unique among the compared runs; see uniqueLabels). */
  label: string;
  origin: 'current' | 'saved' | 'file';
  /** The run's settings (RunConfig without the per-session volumeIds), or null when only metrics are known. */
  config: Record<string, unknown> | null;
  /** Training volumes (replaces config.volumeIds, whose ids mean nothing outside the session that made them). */
  volumes: ComparedVolume[] | null;
  /** The x axis: the step of every recorded point. */
  steps: Float64Array;
  /** Every metric series by name, each as long as `steps`. */
  metrics: Record<string, Float64Array>;
  markers: RunMarker[];
}

/** What the comparison knows about a metric it has a name for; unknown series get their column name. */
export interface MetricInfo {
  label: string;
  /** Which way is better (for "best"); absent for series without a direction (lr, health indicators…). */
  better?: 'lower' | 'higher';
  /** Fixed y range for the chart (e.g. [0, 1] for accuracy). */
  range?: [number, number];
}

export const METRIC_INFO: Record<string, MetricInfo> = {
  loss: { label: 'Total loss', better: 'lower' },
  intra: { label: 'Intra-volume (position) loss', better: 'lower' },
  inter: { label: 'Inter-volume (consistency) loss', better: 'lower' },
  reg: { label: 'Regulariser loss', better: 'lower' },
  accuracy: { label: 'Position accuracy', better: 'higher', range: [0, 1] },
  mae: { label: 'Position overlap MAE', better: 'lower' },
  lr: { label: 'Learning rate' },
  stepMs: { label: 'Step time (ms)', better: 'lower' },
  // Training-health series of the metric history (src/voco/health.ts); any other column still gets a chart.
  gradNorm: { label: 'Gradient norm (before clipping)' },
  clippedShare: { label: 'Share of steps clipped', range: [0, 1] },
  studentRank: { label: 'Effective rank, student embeddings', better: 'higher' },
  teacherRank: { label: 'Effective rank, teacher embeddings', better: 'higher' },
  studentStdMean: { label: 'Student embedding std (mean over dims)' },
  studentStdMin: { label: 'Student embedding std (min over dims)' },
  teacherStdMean: { label: 'Teacher embedding std (mean over dims)' },
  teacherStdMin: { label: 'Teacher embedding std (min over dims)' },
  agreement: { label: 'Student–teacher agreement' },
  calSlope: { label: 'Position calibration slope (predicted vs true overlap)' },
  calCorrelation: { label: 'Position calibration correlation', better: 'higher' },
};

const KNOWN_ORDER = Object.keys(METRIC_INFO);

export function metricInfo(name: string): MetricInfo {
  return METRIC_INFO[name] ?? { label: name };
}

/** Every metric any of the runs has, known ones first (in METRIC_INFO order), then the others alphabetically. */
export function metricNames(runs: Pick<ComparedRun, 'metrics'>[]): string[] {
  const all = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r.metrics)) all.add(k);
  const known = KNOWN_ORDER.filter((k) => all.has(k));
  const rest = [...all].filter((k) => !METRIC_INFO[k]).sort();
  return [...known, ...rest];
}

// ---- smoothing -----------------------------------------------------------------------------------------------

/**
 * Exponential moving average with Adam's bias correction: m_t = β·m_{t−1} + (1−β)·x_t, shown as m_t / (1 − β^t),
 * so the first points are not pulled towards 0. t counts the finite values seen; non-finite values (gaps, NaN)
 * pass through unchanged and do not advance the average. β = 0 returns the raw values.
 */
export function debiasedEma(values: ArrayLike<number>, beta: number): Float64Array {
  if (!(beta >= 0 && beta < 1)) throw new Error(`debiasedEma: β must be in [0, 1), got ${beta}`);
  const out = new Float64Array(values.length);
  let m = 0;
  let bt = 1; // β^t, kept as a running product (t = finite values seen)
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) {
      out[i] = x;
      continue;
    }
    bt *= beta;
    m = beta * m + (1 - beta) * x;
    out[i] = m / (1 - bt);
  }
  return out;
}

// ---- aligning runs on one step axis ------------------------------------------------------------------------------

export interface AlignedSeries {
  /** Sorted union of the steps of the runs that have the metric. */
  x: number[];
  /** Per run: its value at each x, or null where it has no point (uPlot draws a gap or spans it). */
  ys: (number | null)[][];
}

/** A run's points of one metric, ordered by step (later duplicates of a step win), steps finite. */
function orderedPoints(steps: Float64Array, values: Float64Array): { s: Float64Array; v: Float64Array } {
  let sorted = true;
  for (let i = 1; i < steps.length && sorted; i++) if (!(steps[i] > steps[i - 1])) sorted = false;
  let finite = true;
  for (let i = 0; i < steps.length && finite; i++) if (!Number.isFinite(steps[i])) finite = false;
  if (sorted && finite) return { s: steps, v: values };
  const byStep = new Map<number, number>();
  for (let i = 0; i < steps.length; i++) if (Number.isFinite(steps[i])) byStep.set(steps[i], values[i]);
  const s = Float64Array.from([...byStep.keys()].sort((p, q) => p - q));
  return { s, v: Float64Array.from(s, (k) => byStep.get(k)!) };
}

/** Sorted union of sorted (strictly increasing) step arrays, and for each array the index of each step in the union. */
function unionOf(lists: Float64Array[]): { x: Float64Array; where: Int32Array[] } {
  // Pairwise merges of sorted lists: linear, no sort of the concatenation.
  let x = lists.length ? lists[0] : new Float64Array(0);
  for (let k = 1; k < lists.length; k++) {
    const a = x;
    const b = lists[k];
    const out = new Float64Array(a.length + b.length);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < a.length || j < b.length) {
      const v = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i] : b[j];
      if (i < a.length && a[i] === v) i++;
      if (j < b.length && b[j] === v) j++;
      out[n++] = v;
    }
    x = out.subarray(0, n);
  }
  const where = lists.map((l) => {
    const w = new Int32Array(l.length);
    let j = 0;
    for (let i = 0; i < l.length; i++) {
      while (x[j] < l[i]) j++;
      w[i] = j;
    }
    return w;
  });
  return { x, where };
}

/**
 * Puts one metric of several runs on the union of their steps. `transform` (e.g. debiasedEma) runs on each run's
 * own series first, so smoothing never mixes runs. Points whose step is not finite are dropped.
 */
export function alignMetric(runs: Pick<ComparedRun, 'steps' | 'metrics'>[], metric: string, transform?: (v: Float64Array) => Float64Array): AlignedSeries {
  const pts = runs.map((r) => {
    const col = r.metrics[metric];
    if (!col) return null;
    const p = orderedPoints(r.steps, col);
    return { s: p.s, v: transform ? transform(p.v) : p.v };
  });
  const present = pts.filter((p): p is { s: Float64Array; v: Float64Array } => !!p);
  const { x, where } = unionOf(present.map((p) => p.s));
  let k = 0;
  const ys = pts.map((p) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    if (!p) return out;
    const w = where[k++];
    for (let i = 0; i < w.length; i++) out[w[i]] = p.v[i];
    return out;
  });
  return { x: Array.from(x), ys };
}

/** Above this many distinct steps a chart is drawn from per-bucket summaries (it has fewer pixels than points). */
export const CHART_MAX_STEPS = 4000;

/**
 * The columns one comparison chart draws, in uPlot's aligned form: x, then per run its raw curve (only when
 * smoothing, drawn faint) and its debiased EMA (β > 0) or raw curve (β = 0). null wherever a run has no drawable
 * value: no point at that step, NaN, or ≤ 0 on a log axis. The EMA runs on every point of a run; when the union
 * of steps exceeds `maxSteps`, the x axis is cut into maxSteps/2 buckets of equal point count, each drawn at its
 * first and last step: the raw curve as the bucket's minimum then maximum (spikes stay visible), the smoothed
 * curve as its first and last value.
 */
export function chartColumns(
  runs: Pick<ComparedRun, 'steps' | 'metrics'>[],
  metric: string,
  beta: number,
  log: boolean,
  maxSteps = CHART_MAX_STEPS,
): { x: number[]; columns: (number | null)[][]; kinds: ('raw' | 'smooth')[] } {
  const ok = (y: number) => Number.isFinite(y) && (!log || y > 0);
  const pts = runs.map((r) => {
    const col = r.metrics[metric];
    if (!col) return null;
    const p = orderedPoints(r.steps, col);
    return { s: p.s, raw: p.v, sm: beta > 0 ? debiasedEma(p.v, beta) : p.v };
  });
  const present = pts.filter((p): p is NonNullable<typeof p> => !!p);
  const { x: ux, where } = unionOf(present.map((p) => p.s));
  const U = ux.length;
  const kinds: ('raw' | 'smooth')[] = [];
  const columns: (number | null)[][] = [];
  const buckets = U > maxSteps ? Math.max(1, Math.floor(maxSteps / 2)) : 0;
  // Bucket b holds the union indices w with floor(w·buckets/U) = b: from ceil(b·U/buckets) to ceil((b+1)·U/buckets) − 1.
  const x = buckets ? Array.from({ length: 2 * buckets }, (_, j) => ux[j % 2 === 0 ? Math.ceil(((j >> 1) * U) / buckets) : Math.ceil((((j >> 1) + 1) * U) / buckets) - 1]) : Array.from(ux);
  let k = 0;
  for (const p of pts) {
    const w = p ? where[k++] : null;
    const rawCol: (number | null)[] = new Array(x.length).fill(null);
    const smCol: (number | null)[] = new Array(x.length).fill(null);
    if (p && w) {
      if (!buckets) {
        for (let i = 0; i < w.length; i++) {
          if (ok(p.raw[i])) rawCol[w[i]] = p.raw[i];
          if (ok(p.sm[i])) smCol[w[i]] = p.sm[i];
        }
      } else {
        for (let i = 0; i < w.length; i++) {
          const b = Math.min(buckets - 1, Math.floor((w[i] * buckets) / U));
          const lo = 2 * b;
          const hi = lo + 1;
          const r = p.raw[i];
          if (ok(r)) {
            if (rawCol[lo] === null || r < rawCol[lo]!) rawCol[lo] = r;
            if (rawCol[hi] === null || r > rawCol[hi]!) rawCol[hi] = r;
          }
          const e = p.sm[i];
          if (ok(e)) {
            if (smCol[lo] === null) smCol[lo] = e;
            smCol[hi] = e;
          }
        }
      }
    }
    if (beta > 0) {
      columns.push(rawCol);
      kinds.push('raw');
    }
    columns.push(beta > 0 ? smCol : rawCol);
    kinds.push('smooth');
  }
  return { x, columns, kinds };
}

// ---- final / best values -------------------------------------------------------------------------------------

export interface MetricSummary {
  /** Last finite value and its step. */
  final: number | null;
  finalStep: number | null;
  /** Lowest or highest finite value (by METRIC_INFO's direction) and its step; null without a direction. */
  best: number | null;
  bestStep: number | null;
}

export function summarizeMetric(run: Pick<ComparedRun, 'steps' | 'metrics'>, metric: string): MetricSummary {
  const col = run.metrics[metric];
  const out: MetricSummary = { final: null, finalStep: null, best: null, bestStep: null };
  if (!col) return out;
  const better = metricInfo(metric).better;
  for (let i = 0; i < col.length; i++) {
    const v = col[i];
    if (!Number.isFinite(v)) continue;
    out.final = v;
    out.finalStep = run.steps[i];
    if (better && (out.best === null || (better === 'lower' ? v < out.best : v > out.best))) {
      out.best = v;
      out.bestStep = run.steps[i];
    }
  }
  return out;
}

// ---- settings table ----------------------------------------------------------------------------------------------

/** A cell value of the settings table: the raw value (for sorting) and its text. */
export interface TableValue {
  value: number | string | null;
  text: string;
}

export interface TableColumn {
  key: string;
  label: string;
  group: 'setting' | 'result';
  /** True when the runs do not all have the same value (settings only). */
  differs: boolean;
  values: TableValue[];
}

/** A number in a short, exact-enough form: 0.001 → "1e-3", 0.5 → "0.5", 123456 → "123456". */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e7) return String(v);
  if (a < 1e-2 || a >= 1e7) {
    const [m, e] = v.toExponential(4).split('e');
    return `${String(Number(m))}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(5)));
}

function formatValue(v: unknown): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(formatValue).join(v.length === 3 ? ' × ' : ', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function sortKey(v: unknown): number | string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v.length ? (v as number[]).reduce((a, b) => a * b, 1) : null;
  return formatValue(v);
}

/** Settings order of the table: the run-setup panel's order for known fields, others after them alphabetically. */
const SETTING_ORDER = [
  'volumes', 'preset', 'gridN', 'cropSize', 'spacing', 'huWindow', 'batchVolumes', 'randomCrops', 'lr', 'warmupSteps', 'totalSteps',
  'minLr', 'weightDecay', 'gradClip', 'emaMomentum', 'augment', 'fixedBatch', 'seed', 'backend', 'checkpointEvery',
];

/**
 * The settings columns: every field any run's config has (plus the training volumes), each with one value per
 * run and `differs` when the values are not all equal. A field a run does not set counts as its own value ("—"):
 * `defaults` fills the optional fields whose default is known, so "not set" and "set to the default" compare equal.
 * A run without settings (config null: only its metrics are known) shows "—" and does not count as a difference.
 */
export function settingColumns(runs: Pick<ComparedRun, 'config' | 'volumes'>[], defaults: Record<string, unknown> = {}): TableColumn[] {
  const keys = new Set<string>();
  for (const r of runs) if (r.config) for (const k of Object.keys(r.config)) if (k !== 'volumeIds') keys.add(k);
  const ordered = [...SETTING_ORDER.filter((k) => k === 'volumes' || keys.has(k)), ...[...keys].filter((k) => !SETTING_ORDER.includes(k)).sort()];
  return ordered.map((key) => {
    if (key === 'volumes') {
      const same = runs.filter((r) => r.volumes).map((r) => r.volumes!.map((v) => v.sha256 ?? v.name).join('|'));
      return {
        key,
        label: 'volumes',
        group: 'setting' as const,
        differs: new Set(same).size > 1,
        values: runs.map((r) => ({ value: r.volumes ? r.volumes.length : null, text: r.volumes ? r.volumes.map((v) => v.name).join(', ') || '—' : '—' })),
      };
    }
    const raw = runs.map((r) => (r.config ? (r.config[key] ?? defaults[key]) : undefined));
    // Runs whose settings are unknown (a bare metrics CSV) make no difference.
    const canon = raw.filter((_, i) => runs[i].config).map((v) => JSON.stringify(v ?? null));
    return {
      key,
      label: key,
      group: 'setting' as const,
      differs: new Set(canon).size > 1,
      values: raw.map((v) => ({ value: sortKey(v), text: formatValue(v) })),
    };
  });
}

/** Result columns: final and (where a direction is known) best value of every metric, and the last step. */
export function resultColumns(runs: Pick<ComparedRun, 'steps' | 'metrics'>[]): TableColumn[] {
  const cols: TableColumn[] = [];
  const lastStep = runs.map((r) => (r.steps.length ? r.steps[r.steps.length - 1] : null));
  cols.push({ key: 'steps', label: 'last step', group: 'result', differs: false, values: lastStep.map((s) => ({ value: s, text: s === null ? '—' : String(s) })) });
  for (const m of metricNames(runs)) {
    const sums = runs.map((r) => summarizeMetric(r, m));
    const cell = (v: number | null) => ({ value: v, text: v === null ? '—' : formatNumber(Number(v.toPrecision(4))) });
    cols.push({ key: `final:${m}`, label: `final ${m}`, group: 'result', differs: false, values: sums.map((s) => cell(s.final)) });
    if (metricInfo(m).better) cols.push({ key: `best:${m}`, label: `best ${m}`, group: 'result', differs: false, values: sums.map((s) => cell(s.best)) });
  }
  return cols;
}

/**
 * Row order of the table sorted by one column: numbers numerically, text alphabetically, empty cells last
 * whatever the direction. Ties keep the runs' own order.
 */
export function sortOrder(column: TableColumn | undefined, dir: 'asc' | 'desc', count: number): number[] {
  const idx = Array.from({ length: count }, (_, i) => i);
  if (!column) return idx;
  const sign = dir === 'asc' ? 1 : -1;
  return idx.sort((a, b) => {
    const va = column.values[a]?.value ?? null;
    const vb = column.values[b]?.value ?? null;
    if (va === null || vb === null) return va === vb ? a - b : va === null ? 1 : -1;
    let c: number;
    if (typeof va === 'number' && typeof vb === 'number') c = va - vb;
    else c = String(va).localeCompare(String(vb), undefined, { numeric: true });
    return c !== 0 ? sign * c : a - b;
  });
}

/** "name", "name", "other" → "name", "name (2)", "other". */
export function uniqueLabels(labels: string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    return n === 1 ? l : `${l} (${n})`;
  });
}

/** The settings that tell a run apart from the others, for its legend entry: "lr 1e-3 · seed 7". */
export function differingSummary(columns: TableColumn[], runIndex: number, max = 3): string {
  return columns
    .filter((c) => c.group === 'setting' && c.differs && c.key !== 'volumes')
    .slice(0, max)
    .map((c) => `${c.label} ${c.values[runIndex].text}`)
    .join(' · ');
}

// ---- metrics CSV of runs made elsewhere (and markers) ------------------------------------------------------------

/** Columns of a metrics CSV that name the machine/segment a row was recorded on (first one found wins). */
export const SEGMENT_COLUMNS = ['source', 'segment'] as const;

/** Markers where the segment name changes from one row to the next (the first row starts the run: no marker). */
export function markersFromSegments(steps: ArrayLike<number>, segments: readonly string[]): RunMarker[] {
  const out: RunMarker[] = [];
  for (let i = 1; i < segments.length; i++) {
    if (segments[i] !== segments[i - 1] && segments[i] !== '') out.push({ step: steps[i], label: segments[i] });
  }
  return out;
}

/** Markers of both lists, one per (step, label), in step order. */
export function mergeMarkers(...lists: (RunMarker[] | undefined)[]): RunMarker[] {
  const seen = new Set<string>();
  const out: RunMarker[] = [];
  for (const list of lists) {
    for (const m of list ?? []) {
      const k = `${m.step}\u0000${m.label}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push({ step: m.step, label: m.label });
    }
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Checks a markers value read from a file: a list of {step: finite number, label: string}. */
export function validMarkers(v: unknown, source: string): RunMarker[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${source}: markers must be a list of {step, label}, got ${typeof v}`);
  return v.map((m, i) => {
    if (!m || typeof m !== 'object' || !Number.isFinite((m as RunMarker).step) || typeof (m as RunMarker).label !== 'string') {
      throw new Error(`${source}: marker ${i + 1} is not {step: number, label: text}: ${JSON.stringify(m)}`);
    }
    return { step: (m as RunMarker).step, label: (m as RunMarker).label };
  });
}

export interface ParsedMetricsCsv {
  steps: Float64Array;
  metrics: Record<string, Float64Array>;
  markers: RunMarker[];
}

/**
 * Reads a metrics CSV of any shape: a `step` column is required; every other column is a numeric series
 * (empty cells and "NaN" become NaN gaps), except a `source`/`segment` text column whose changes become markers.
 * Throws naming the file, row and column when a cell is not a number.
 */
export function parseMetricsCsv(text: string, source = 'metrics.csv'): ParsedMetricsCsv {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (!lines.length) throw new Error(`${source}: empty, expected a header row with a "step" column`);
  const header = lines[0].split(',').map((h) => h.trim());
  const stepAt = header.indexOf('step');
  if (stepAt < 0) throw new Error(`${source}: no "step" column (header: ${lines[0]})`);
  const segAt = header.findIndex((h) => (SEGMENT_COLUMNS as readonly string[]).includes(h));
  const dup = header.find((h, i) => h && header.indexOf(h) !== i);
  if (dup) throw new Error(`${source}: column "${dup}" appears twice`);
  const n = lines.length - 1;
  const steps = new Float64Array(n);
  const metrics: Record<string, Float64Array> = {};
  header.forEach((h, i) => {
    if (i !== stepAt && i !== segAt && h) metrics[h] = new Float64Array(n);
  });
  const segments: string[] = [];
  for (let r = 0; r < n; r++) {
    const cells = lines[r + 1].split(',');
    if (cells.length !== header.length) throw new Error(`${source}: row ${r + 2} has ${cells.length} cells, expected ${header.length}`);
    header.forEach((h, i) => {
      const cell = cells[i].trim();
      if (i === segAt) {
        segments.push(cell);
        return;
      }
      if (!h) return;
      const v = cell === '' ? NaN : Number(cell);
      if (Number.isNaN(v) && cell !== '' && cell !== 'NaN' && cell.toLowerCase() !== 'nan') {
        throw new Error(`${source}: row ${r + 2}, column ${h} = "${cell}" is not a number`);
      }
      if (i === stepAt) {
        if (!Number.isFinite(v)) throw new Error(`${source}: row ${r + 2} has no step number ("${cell}")`);
        steps[r] = v;
      } else metrics[h][r] = v;
    });
  }
  return { steps, metrics, markers: segAt >= 0 ? markersFromSegments(steps, segments) : [] };
}

// ---- exports -----------------------------------------------------------------------------------------------------

const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Long format, one row per (run, step, metric): `run,step,metric,value`. Raw values; NaN written as NaN. */
export function comparisonCsv(runs: Pick<ComparedRun, 'label' | 'steps' | 'metrics'>[]): string {
  const lines = ['run,step,metric,value'];
  const names = metricNames(runs);
  for (const r of runs) {
    for (const m of names) {
      const col = r.metrics[m];
      if (!col) continue;
      for (let i = 0; i < r.steps.length; i++) lines.push(`${csvCell(r.label)},${r.steps[i]},${csvCell(m)},${col[i]}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Everything about the compared runs, machine-readable: settings, markers, final/best values and every series. */
export function comparisonJson(runs: ComparedRun[], extra: Record<string, unknown> = {}): string {
  const names = metricNames(runs);
  // JSON has no NaN: gaps become null.
  const list = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
  return JSON.stringify(
    {
      format: 'voco-studio-comparison',
      version: 1,
      ...extra,
      runs: runs.map((r) => ({
        label: r.label,
        key: r.key,
        origin: r.origin,
        config: r.config,
        volumes: r.volumes,
        markers: r.markers,
        summary: Object.fromEntries(names.filter((m) => r.metrics[m]).map((m) => [m, summarizeMetric(r, m)])),
        steps: list(r.steps),
        metrics: Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, list(v)])),
      })),
    },
    null,
    1,
  );
}

/** Distinct line colours on the studio's dark background (run i gets RUN_COLOURS[i % length]). */
export const RUN_COLOURS = ['#4ea1ff', '#f5a623', '#5fd38d', '#e06c75', '#b06ef5', '#56c8d8', '#f2d45c', '#ff8fb1', '#c98b5b', '#9aa5b1'];

/** A metric history in its stored form: named columns (one of them `step`) of `length` values. */
export interface ColumnSnapshot {
  columns: Record<string, ArrayLike<number>>;
  length: number;
}

/**
 * A ComparedRun from a stored history (the run store's, a saved run's, a run file's). Every column other than
 * `step` with at least one finite value becomes a series, so columns added to the history later are compared
 * without changes here.
 */
export function comparedRun(args: {
  key: string;
  label: string;
  origin: ComparedRun['origin'];
  config: object | null;
  volumes: ComparedVolume[] | null;
  history: ColumnSnapshot;
  markers?: RunMarker[];
}): ComparedRun {
  const { history } = args;
  const stepCol = history.columns.step;
  if (!stepCol) throw new Error(`${args.label}: its metric history has no step column`);
  const n = Math.min(history.length, stepCol.length);
  const metrics: Record<string, Float64Array> = {};
  for (const [name, col] of Object.entries(history.columns)) {
    if (name === 'step' || !col) continue;
    const values = Float64Array.from({ length: n }, (_, i) => (i < col.length ? Number(col[i]) : NaN));
    // A column without a single value (a series the run never recorded, e.g. health series of an older run) is
    // not one of its metrics: no empty chart, no empty export rows.
    if (values.some(Number.isFinite)) metrics[name] = values;
  }
  let config: Record<string, unknown> | null = null;
  if (args.config) {
    const { volumeIds: _ids, ...rest } = args.config as Record<string, unknown>;
    config = rest;
  }
  return {
    key: args.key,
    label: args.label,
    origin: args.origin,
    config,
    volumes: args.volumes,
    steps: Float64Array.from({ length: n }, (_, i) => Number(stepCol[i])),
    metrics,
    markers: mergeMarkers(args.markers),
  };
}
