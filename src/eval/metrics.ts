// Scores of the downstream benchmark, on plain arrays (no tensors), so every one is unit-tested on hand-made
// inputs with known answers. Conventions, stated once:
// - A structure that is in neither the prediction nor the truth has no Dice (NaN): it is left out of means.
// - Macro averages run over the classes that occur in the truth or the prediction (as scikit-learn does).
// - Cosine similarity of a zero vector with anything is 0 (as torch.nn.functional.cosine_similarity).

/** Dice 2|P∩T| / (|P|+|T|) of one label over two label arrays of the same length; NaN when both are empty. */
export function dice(pred: ArrayLike<number>, truth: ArrayLike<number>, label: number): number {
  checkSameLength(pred, truth, 'dice');
  let inter = 0;
  let p = 0;
  let t = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i] === label;
    const b = truth[i] === label;
    if (a) p++;
    if (b) t++;
    if (a && b) inter++;
  }
  return p + t === 0 ? NaN : (2 * inter) / (p + t);
}

/** Dice of every label in `labels` (NaN for a label absent from both). One pass over the voxels. */
export function diceScores(pred: ArrayLike<number>, truth: ArrayLike<number>, labels: readonly number[]): Map<number, number> {
  checkSameLength(pred, truth, 'diceScores');
  const counts = new DiceCounts(labels);
  counts.add(pred, truth);
  return counts.scores();
}

/** Accumulates Dice counts over many crops, so a structure's Dice pools all its voxels of a test set. */
export class DiceCounts {
  private readonly slot = new Map<number, number>();
  private readonly inter: Float64Array;
  private readonly predCount: Float64Array;
  private readonly truthCount: Float64Array;

  constructor(readonly labels: readonly number[]) {
    labels.forEach((l, i) => this.slot.set(l, i));
    this.inter = new Float64Array(labels.length);
    this.predCount = new Float64Array(labels.length);
    this.truthCount = new Float64Array(labels.length);
  }

  add(pred: ArrayLike<number>, truth: ArrayLike<number>): void {
    checkSameLength(pred, truth, 'DiceCounts.add');
    for (let i = 0; i < pred.length; i++) {
      const a = this.slot.get(pred[i]);
      const b = this.slot.get(truth[i]);
      if (a !== undefined) this.predCount[a]++;
      if (b !== undefined) this.truthCount[b]++;
      if (a !== undefined && a === b) this.inter[a]++;
    }
  }

  scores(): Map<number, number> {
    const out = new Map<number, number>();
    this.labels.forEach((l, i) => {
      const s = this.predCount[i] + this.truthCount[i];
      out.set(l, s === 0 ? NaN : (2 * this.inter[i]) / s);
    });
    return out;
  }
}

/** Mean of the finite values (NaN when there are none). */
export function meanFinite(values: Iterable<number>): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n === 0 ? NaN : sum / n;
}

/** Fraction of equal entries. */
export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkSameLength(pred, truth, 'accuracy');
  if (pred.length === 0) return NaN;
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) ok++;
  return ok / pred.length;
}

/** Per-class F1 = 2TP / (2TP + FP + FN) for every class in the truth or the prediction. */
export function f1PerClass(pred: ArrayLike<number>, truth: ArrayLike<number>): Map<number, number> {
  checkSameLength(pred, truth, 'f1PerClass');
  const tp = new Map<number, number>();
  const fp = new Map<number, number>();
  const fn = new Map<number, number>();
  const bump = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] === truth[i]) bump(tp, truth[i]);
    else {
      bump(fp, pred[i]);
      bump(fn, truth[i]);
    }
  }
  const classes = new Set<number>([...tp.keys(), ...fp.keys(), ...fn.keys()]);
  const out = new Map<number, number>();
  for (const c of [...classes].sort((a, b) => a - b)) {
    const t = tp.get(c) ?? 0;
    out.set(c, (2 * t) / (2 * t + (fp.get(c) ?? 0) + (fn.get(c) ?? 0)));
  }
  return out;
}

/** Unweighted mean of the per-class F1 scores. */
export function macroF1(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  return meanFinite(f1PerClass(pred, truth).values());
}

/** Index of the largest value of row `row` of a row-major matrix of `width` columns (first one on ties). */
export function argmaxRow(values: ArrayLike<number>, width: number, row: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (values[row * width + j] > values[row * width + best]) best = j;
  return best;
}

/**
 * Share of rows whose predicted argmax is a largest entry of the true row. Ties in the truth (a crop that
 * overlaps two base crops equally) count as right for either of them.
 */
export function argmaxAccuracy(pred: ArrayLike<number>, truth: ArrayLike<number>, width: number): number {
  checkSameLength(pred, truth, 'argmaxAccuracy');
  if (!Number.isInteger(width) || width < 1 || pred.length % width !== 0) {
    throw new Error(`argmaxAccuracy: ${pred.length} values are not rows of width ${width}`);
  }
  const rows = pred.length / width;
  if (rows === 0) return NaN;
  let ok = 0;
  for (let r = 0; r < rows; r++) {
    const p = argmaxRow(pred, width, r);
    const best = truth[r * width + argmaxRow(truth, width, r)];
    if (truth[r * width + p] >= best - 1e-9) ok++;
  }
  return ok / rows;
}

/** Mean absolute difference. */
export function mae(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkSameLength(pred, truth, 'mae');
  if (pred.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i] - truth[i]);
  return s / pred.length;
}

/** Rows (count × dim, row-major) scaled to unit length; zero rows stay zero. */
export function unitRows(features: Float32Array, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1 || features.length % dim !== 0) {
    throw new Error(`unitRows: ${features.length} values are not rows of ${dim}`);
  }
  const out = new Float32Array(features.length);
  for (let o = 0; o < features.length; o += dim) {
    let n = 0;
    for (let d = 0; d < dim; d++) n += features[o + d] * features[o + d];
    const inv = 1 / Math.max(Math.sqrt(n), 1e-8);
    for (let d = 0; d < dim; d++) out[o + d] = features[o + d] * inv;
  }
  return out;
}

export interface RetrievalOptions {
  /**
   * Group of each row (e.g. its volume). When given, a query's neighbours are searched only among rows of OTHER
   * groups: neighbouring crops of one scan overlap, and finding them says little about the features.
   */
  groups?: ArrayLike<number>;
  /**
   * Pairs that may not be neighbours (e.g. crops of one scan that share voxels: finding a query's overlapping
   * near-copy says little about the features). Checked as excluded(query, candidate).
   */
  excluded?: (i: number, j: number) => boolean;
  /** Rows that are scored as queries (default all; the others only serve as candidates). */
  isQuery?: (i: number) => boolean;
}

/**
 * Retrieval precision at k for each k = 1..kMax: for every row, the share of its k nearest other rows (cosine
 * similarity, ties broken by row order) that carry the same label, averaged over the rows. Rows with fewer than
 * k candidates use all they have. Returns an array of length kMax (index k−1).
 */
export function retrievalCurve(features: Float32Array, dim: number, labels: ArrayLike<number>, kMax: number, opts: RetrievalOptions = {}): number[] {
  const count = labels.length;
  if (features.length !== count * dim) throw new Error(`retrieval: ${features.length} feature values for ${count} labels of dim ${dim}`);
  if (!Number.isInteger(kMax) || kMax < 1) throw new Error(`retrieval: k must be a positive integer, got ${kMax}`);
  const groups = opts.groups;
  if (groups && groups.length !== count) throw new Error(`retrieval: ${groups.length} groups for ${count} rows`);
  const unit = unitRows(features, dim);
  const sums = new Float64Array(kMax);
  let queries = 0;
  const sims: { j: number; s: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (opts.isQuery && !opts.isQuery(i)) continue;
    sims.length = 0;
    for (let j = 0; j < count; j++) {
      if (j === i || (groups && groups[j] === groups[i]) || opts.excluded?.(i, j)) continue;
      let s = 0;
      for (let d = 0; d < dim; d++) s += unit[i * dim + d] * unit[j * dim + d];
      sims.push({ j, s });
    }
    if (sims.length === 0) continue;
    sims.sort((a, b) => b.s - a.s || a.j - b.j);
    queries++;
    let same = 0;
    for (let k = 1; k <= kMax; k++) {
      const nb = sims[Math.min(k, sims.length) - 1];
      if (k <= sims.length && labels[nb.j] === labels[i]) same++;
      sums[k - 1] += same / Math.min(k, sims.length);
    }
  }
  return Array.from(sums, (s) => (queries === 0 ? NaN : s / queries));
}

/** Retrieval precision at k (see retrievalCurve). */
export function retrievalAtK(features: Float32Array, dim: number, labels: ArrayLike<number>, k: number, opts: RetrievalOptions = {}): number {
  return retrievalCurve(features, dim, labels, k, opts)[k - 1];
}

/** Expected retrieval precision of features that carry no information: the chance a random other row shares the label. */
export function retrievalChance(labels: ArrayLike<number>, groups?: ArrayLike<number>, excluded?: RetrievalOptions['excluded'], isQuery?: RetrievalOptions['isQuery']): number {
  let sum = 0;
  let queries = 0;
  for (let i = 0; i < labels.length; i++) {
    if (isQuery && !isQuery(i)) continue;
    let same = 0;
    let all = 0;
    for (let j = 0; j < labels.length; j++) {
      if (j === i || (groups && groups[j] === groups[i]) || excluded?.(i, j)) continue;
      all++;
      if (labels[j] === labels[i]) same++;
    }
    if (all > 0) {
      sum += same / all;
      queries++;
    }
  }
  return queries === 0 ? NaN : sum / queries;
}

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: prediction has ${a.length} entries, truth ${b.length}`);
}
