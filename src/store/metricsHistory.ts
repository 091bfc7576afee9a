// Columnar metric history of a run: one Float64Array per series, grown by doubling and capped.
// Plots hand uPlot `subarray` views of these columns, so a new point costs no allocation and no copy of
// the history; when the cap is reached the older points are thinned (every second one dropped), so a
// run of any length keeps a bounded, still-complete-looking curve while recent steps stay dense.
import type { StepMetrics } from '../worker/protocol';

/** Columns every step has (older run files hold exactly these). */
export const CORE_METRIC_COLUMNS = ['step', 'loss', 'intra', 'inter', 'reg', 'lr', 'stepMs', 'accuracy', 'mae'] as const;
/**
 * Training-health series (StepMetrics.health, src/voco/health.ts): NaN on steps without a health record, and when
 * a file written before they existed is loaded. gradNorm is every step's (pre-clip) gradient norm.
 */
export const HEALTH_METRIC_COLUMNS = [
  'gradNorm',
  'clippedShare',
  'studentStdMean',
  'studentStdMin',
  'teacherStdMean',
  'teacherStdMin',
  'studentRank',
  'teacherRank',
  'agreement',
  'calSlope',
  'calCorrelation',
] as const;
/**
 * Mean position prediction on the base crops a random crop overlaps (predOn) and on the others (predOff), every
 * step. The position loss charges predOff, so when both rise together it stays flat while accuracy rises: these two
 * show why. probeAccuracy: position accuracy on the trainer's fixed clean crops (StepMetrics.probe), on some steps
 * only. NaN in files written before they existed.
 */
export const POSITION_METRIC_COLUMNS = ['predOn', 'predOff', 'probeAccuracy'] as const;
export const METRIC_COLUMNS = [...CORE_METRIC_COLUMNS, ...HEALTH_METRIC_COLUMNS, ...POSITION_METRIC_COLUMNS] as const;
export type MetricColumn = (typeof METRIC_COLUMNS)[number];
const OPTIONAL = new Set<string>([...HEALTH_METRIC_COLUMNS, ...POSITION_METRIC_COLUMNS]);

/** One row of the history: the scalar metrics of a step plus the heatmap summary computed from it; health optional (NaN). */
export type MetricRow = Record<(typeof CORE_METRIC_COLUMNS)[number], number> &
  Partial<Record<(typeof HEALTH_METRIC_COLUMNS)[number] | (typeof POSITION_METRIC_COLUMNS)[number], number>>;

/** Plain, structured-clone-able form (for IndexedDB and run files). */
export interface MetricsSnapshot {
  columns: Record<MetricColumn, Float64Array>;
  length: number;
}

const INITIAL_CAPACITY = 256;
export const DEFAULT_MAX_POINTS = 100_000;

export class MetricsHistory {
  private cols: Record<MetricColumn, Float64Array>;
  private len = 0;
  /** Bumps on every change; plots compare it to skip redundant work. */
  version = 0;
  /** Bumps when existing points change (thinning, reset, load): incremental consumers must recompute. */
  generation = 0;

  constructor(readonly maxPoints = DEFAULT_MAX_POINTS) {
    if (!(maxPoints >= 4)) throw new Error(`MetricsHistory: maxPoints must be ≥ 4, got ${maxPoints}`);
    this.cols = allocate(Math.min(INITIAL_CAPACITY, maxPoints));
  }

  get length(): number {
    return this.len;
  }

  /** A view (no copy) of the first `length` values of a column. Invalidated by the next push. */
  column(name: MetricColumn): Float64Array {
    return this.cols[name].subarray(0, this.len);
  }

  last(name: MetricColumn): number | undefined {
    return this.len > 0 ? this.cols[name][this.len - 1] : undefined;
  }

  push(row: MetricRow): void {
    // A step at or before the last recorded one means the run was rewound (resume from an older checkpoint):
    // drop the points after it so the curve never goes back in time.
    if (this.len > 0 && row.step <= this.cols.step[this.len - 1]) this.truncateFrom(row.step);
    if (this.len === this.cols.step.length) {
      if (this.len >= this.maxPoints) this.thin();
      else this.grow();
    }
    for (const name of METRIC_COLUMNS) this.cols[name][this.len] = row[name] ?? NaN;
    this.len++;
    this.version++;
  }

  /** Drop every point whose step is ≥ `step`. */
  truncateFrom(step: number): void {
    let n = this.len;
    while (n > 0 && this.cols.step[n - 1] >= step) n--;
    if (n !== this.len) {
      this.len = n;
      this.version++;
      this.generation++;
    }
  }

  clear(): void {
    this.len = 0;
    this.version++;
    this.generation++;
  }

  snapshot(): MetricsSnapshot {
    const columns = {} as Record<MetricColumn, Float64Array>;
    for (const name of METRIC_COLUMNS) columns[name] = this.cols[name].slice(0, this.len);
    return { columns, length: this.len };
  }

  static fromSnapshot(snap: MetricsSnapshot, maxPoints = DEFAULT_MAX_POINTS): MetricsHistory {
    const h = new MetricsHistory(maxPoints);
    h.load(snap);
    return h;
  }

  /** Replace the whole history (resume from a checkpoint). */
  load(snap: MetricsSnapshot): void {
    const n = snap.length;
    for (const name of METRIC_COLUMNS) {
      const col = snap.columns[name];
      if (!col && OPTIONAL.has(name)) continue; // a run saved before the health series existed
      if (!col || col.length < n) throw new Error(`metrics snapshot: column "${name}" is missing or shorter than ${n}`);
    }
    this.cols = allocate(Math.max(INITIAL_CAPACITY, Math.min(this.maxPoints, nextPow2(n))));
    if (n > this.cols.step.length) this.cols = allocate(n);
    for (const name of METRIC_COLUMNS) {
      const col = snap.columns[name];
      if (col) this.cols[name].set(col.subarray(0, n));
      else this.cols[name].fill(NaN, 0, n);
    }
    this.len = n;
    while (this.len > this.maxPoints) this.thin();
    this.version++;
    this.generation++;
  }

  private grow(): void {
    const cap = Math.min(this.maxPoints, this.cols.step.length * 2);
    const next = allocate(cap);
    for (const name of METRIC_COLUMNS) next[name].set(this.cols[name].subarray(0, this.len));
    this.cols = next;
  }

  /** Halve the point count keeping the newest point and every second one before it. */
  private thin(): void {
    const n = this.len;
    let w = 0;
    // Keep indices with the same parity as the last one, so the newest point always survives.
    for (let r = (n - 1) % 2; r < n; r += 2, w++) {
      for (const name of METRIC_COLUMNS) this.cols[name][w] = this.cols[name][r];
    }
    this.len = w;
    this.generation++;
  }
}

function allocate(capacity: number): Record<MetricColumn, Float64Array> {
  const cols = {} as Record<MetricColumn, Float64Array>;
  for (const name of METRIC_COLUMNS) cols[name] = new Float64Array(capacity);
  return cols;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Heatmap summary of a step: over every (volume, random crop), whether the predicted grid's argmax is the
 * true label's argmax (accuracy), the mean absolute difference between predicted and true values (mae), and the
 * mean prediction on overlapped (label > 0) and on non-overlapped base crops (predOn, predOff).
 */
export function positionSummary(labels: number[][][], predictions: number[][][]): { accuracy: number; mae: number; predOn: number; predOff: number } {
  let crops = 0;
  let hits = 0;
  let absSum = 0;
  let cells = 0;
  let on = 0, onCount = 0, off = 0, offCount = 0;
  for (let v = 0; v < labels.length; v++) {
    for (let c = 0; c < labels[v].length; c++) {
      const truth = labels[v][c];
      const pred = predictions[v]?.[c];
      if (!pred || pred.length !== truth.length) {
        throw new Error(`step metrics: prediction grid for volume ${v}, crop ${c} does not match its label grid`);
      }
      crops++;
      if (argmax(truth) === argmax(pred)) hits++;
      for (let k = 0; k < truth.length; k++) {
        absSum += Math.abs(pred[k] - truth[k]);
        if (truth[k] > 0) {
          on += pred[k];
          onCount++;
        } else {
          off += pred[k];
          offCount++;
        }
      }
      cells += truth.length;
    }
  }
  return { accuracy: crops ? hits / crops : NaN, mae: cells ? absSum / cells : NaN, predOn: onCount ? on / onCount : NaN, predOff: offCount ? off / offCount : NaN };
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export function metricRow(m: StepMetrics): MetricRow {
  const { accuracy, mae, predOn, predOff } = positionSummary(m.labels, m.predictions);
  const row: MetricRow = { step: m.step, loss: m.loss, intra: m.intra, inter: m.inter, reg: m.reg, lr: m.lr, stepMs: m.stepMs, accuracy, mae, predOn, predOff };
  if (m.gradNorm !== undefined) row.gradNorm = m.gradNorm;
  if (m.probe) row.probeAccuracy = m.probe.accuracy;
  const h = m.health;
  if (h) {
    Object.assign(row, {
      clippedShare: h.clippedShare,
      studentStdMean: h.studentStd.mean,
      studentStdMin: h.studentStd.min,
      teacherStdMean: h.teacherStd.mean,
      teacherStdMin: h.teacherStd.min,
      studentRank: h.studentRank,
      teacherRank: h.teacherRank,
      agreement: h.agreement,
      calSlope: h.calibration.slope,
      calCorrelation: h.calibration.correlation,
    });
  }
  return row;
}

/** Exponential moving average, debiased like TensorBoard's smoothing so the first points are not pulled to 0. */
export function emaSmooth(values: ArrayLike<number>, weight: number, out = new Float64Array(values.length)): Float64Array {
  let acc = 0;
  let norm = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    acc = acc * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    out[i] = acc / norm;
  }
  return out;
}

/** CSV with a header row; numbers written in JS's shortest round-trip form, so parsing gives the same bits. */
export function metricsToCsv(snap: MetricsSnapshot): string {
  const lines = [METRIC_COLUMNS.join(',')];
  for (let i = 0; i < snap.length; i++) lines.push(METRIC_COLUMNS.map((c) => String(snap.columns[c][i])).join(','));
  return lines.join('\n') + '\n';
}

export function metricsFromCsv(csv: string, source = 'metrics.csv'): MetricsSnapshot {
  const lines = csv.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error(`${source}: empty, expected a header row`);
  const header = lines[0].split(',');
  const index = {} as Record<MetricColumn, number>;
  for (const name of METRIC_COLUMNS) {
    const at = header.indexOf(name);
    if (at < 0 && !OPTIONAL.has(name)) throw new Error(`${source}: column "${name}" is missing (header: ${lines[0]})`);
    index[name] = at;
  }
  const n = lines.length - 1;
  const columns = {} as Record<MetricColumn, Float64Array>;
  for (const name of METRIC_COLUMNS) columns[name] = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const cells = lines[i + 1].split(',');
    if (cells.length !== header.length) throw new Error(`${source}: row ${i + 2} has ${cells.length} cells, expected ${header.length}`);
    for (const name of METRIC_COLUMNS) {
      if (index[name] < 0) {
        columns[name][i] = NaN; // a health column absent from an older file
        continue;
      }
      const text = cells[index[name]];
      const v = Number(text);
      if (text === '' || (Number.isNaN(v) && text !== 'NaN')) throw new Error(`${source}: row ${i + 2}, ${name} = "${text}" is not a number`);
      columns[name][i] = v;
    }
  }
  return { columns, length: n };
}

/**
 * emaSmooth for a growing column: only the new points are computed on each call. Starts over when the
 * history's generation (thinning, reload) or the weight changes.
 */
export class IncrementalEma {
  private out = new Float64Array(256);
  private acc = 0;
  private norm = 0;
  private done = 0;
  private generation = -1;
  private weight = NaN;

  update(values: Float64Array, weight: number, generation: number): Float64Array {
    if (generation !== this.generation || weight !== this.weight || values.length < this.done) {
      this.generation = generation;
      this.weight = weight;
      this.acc = 0;
      this.norm = 0;
      this.done = 0;
    }
    if (this.out.length < values.length) {
      const next = new Float64Array(Math.max(values.length, this.out.length * 2));
      next.set(this.out.subarray(0, this.done));
      this.out = next;
    }
    for (let i = this.done; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) {
        this.out[i] = v;
        continue;
      }
      this.acc = this.acc * weight + (1 - weight) * v;
      this.norm = this.norm * weight + (1 - weight);
      this.out[i] = this.acc / this.norm;
    }
    this.done = values.length;
    return this.out.subarray(0, values.length);
  }
}
