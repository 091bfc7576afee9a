// Training health, the pure part: collapse indicators from small Gram matrices, position-prediction calibration,
// loss-term trends and a plain-words diagnosis. No tensors: the trainer reduces the step's projections on the
// device to a few numbers and two rows×rows Gram matrices, and everything here works on those and on the
// StepMetrics history (so it is unit-tested under Node, and cheap).
import type { StepHealth, StepMetrics } from '../worker/protocol';

/** Eigenvalues of a symmetric matrix (row-major, n×n) by cyclic Jacobi rotations; ascending. */
export function symmetricEigenvalues(matrix: ArrayLike<number>, n: number): Float64Array {
  const a = Float64Array.from(matrix as ArrayLike<number>);
  if (a.length !== n * n) throw new Error(`symmetricEigenvalues: ${a.length} values are not ${n}×${n}`);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const ev = new Float64Array(n);
  for (let i = 0; i < n; i++) ev[i] = a[i * n + i];
  return ev.sort();
}

/**
 * Effective rank (Roy & Vetterli; RankMe) of a matrix X from its Gram matrix X·Xᵀ: exp of the entropy of the
 * normalised singular values σᵢ = √λᵢ. 1 when every row points the same way (collapse), up to min(rows, dims).
 */
export function effectiveRankFromGram(gram: ArrayLike<number>, n: number): number {
  const ev = symmetricEigenvalues(gram, n);
  let total = 0;
  const sv = Array.from(ev, (l) => Math.sqrt(Math.max(0, l)));
  for (const s of sv) total += s;
  if (!(total > 0)) return 0;
  let h = 0;
  for (const s of sv) {
    const p = s / total;
    if (p > 1e-12) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

export interface Calibration {
  /** Equal-width bins of the predicted overlap over [0, 1]: mean prediction, mean true overlap, count. */
  bins: { predicted: number; observed: number; count: number }[];
  /** Least-squares slope of true on predicted overlap (1 = calibrated, 0 = predictions carry no information). */
  slope: number;
  /** Pearson correlation of predicted and true overlap. */
  correlation: number;
  pairs: number;
}

/** Predicted vs true overlap over every (crop, base) pair given. */
export function calibration(predicted: ArrayLike<number>, truth: ArrayLike<number>, binCount = 5): Calibration {
  const n = predicted.length;
  if (truth.length !== n) throw new Error(`calibration: ${n} predictions for ${truth.length} labels`);
  const sums = Array.from({ length: binCount }, () => ({ p: 0, t: 0, c: 0 }));
  let sp = 0, st = 0, spp = 0, stt = 0, spt = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i];
    const t = truth[i];
    const b = sums[Math.min(binCount - 1, Math.max(0, Math.floor(p * binCount)))];
    b.p += p;
    b.t += t;
    b.c++;
    sp += p; st += t; spp += p * p; stt += t * t; spt += p * t;
  }
  const vp = spp / n - (sp / n) ** 2;
  const vt = stt / n - (st / n) ** 2;
  const cov = spt / n - (sp / n) * (st / n);
  return {
    bins: sums.map((b) => ({ predicted: b.c ? b.p / b.c : NaN, observed: b.c ? b.t / b.c : NaN, count: b.c })),
    slope: vp > 1e-12 ? cov / vp : NaN,
    correlation: vp > 1e-12 && vt > 1e-12 ? cov / Math.sqrt(vp * vt) : NaN,
    pairs: n,
  };
}

export type TermName = 'loss' | 'intra' | 'inter' | 'reg';
export type TrendState = 'falling' | 'flat' | 'rising' | 'diverging' | 'too short';

export interface TermTrend {
  term: TermName;
  state: TrendState;
  /** Mean of the older and the newer half of the window. */
  before: number;
  after: number;
  /** (after − before) in units of the standard error of the difference. */
  z: number;
}

/** Compares the older and newer halves of a window of a term's values (Welch's z). */
export function termTrend(term: TermName, values: readonly number[]): TermTrend {
  if (values.some((v) => !Number.isFinite(v))) return { term, state: 'diverging', before: NaN, after: NaN, z: NaN };
  if (values.length < 10) return { term, state: 'too short', before: NaN, after: NaN, z: NaN };
  const half = Math.floor(values.length / 2);
  const a = values.slice(0, half);
  const b = values.slice(values.length - half);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = (xs: number[], m: number) => xs.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, xs.length - 1);
  const ma = mean(a);
  const mb = mean(b);
  const se = Math.sqrt(variance(a, ma) / a.length + variance(b, mb) / b.length) || 1e-12;
  const z = (mb - ma) / se;
  let state: TrendState = 'flat';
  if (z < -2) state = 'falling';
  else if (z > 2) state = mb > 2 * Math.max(Math.abs(ma), 1e-6) ? 'diverging' : 'rising';
  return { term, state, before: ma, after: mb, z };
}

/** What the trainer measures on the device for a health step (projections of this step's crops). */
export interface DeviceHealth {
  /** Per-dimension std of the L2-normalised projections, ×√dims (≈ 1 for well-spread rows; 0 = collapsed). */
  studentStdMin: number;
  studentStdMean: number;
  teacherStdMin: number;
  teacherStdMean: number;
  /** Gram matrices (rows × rows) of the L2-normalised student and teacher projections. */
  studentGram: Float32Array;
  teacherGram: Float32Array;
  rows: number;
  /** Mean cosine between the student and teacher projections of the same crop. */
  agreement: number;
}

/** How many recent steps the windowed indicators (calibration, clipping, trends) look at. */
export const HEALTH_WINDOW = 50;

/** Sums behind the position-prediction numbers of a set of steps. */
interface PositionSums {
  hits: number;
  crops: number;
  on: number;
  onCount: number;
  off: number;
  offCount: number;
  k: number;
}

function positionSums(ms: readonly StepMetrics[], into: PositionSums = { hits: 0, crops: 0, on: 0, onCount: 0, off: 0, offCount: 0, k: 0 }): PositionSums {
  for (const m of ms) {
    m.labels.forEach((vol, b) =>
      vol.forEach((y, s) => {
        const p = m.predictions[b][s];
        let top = 0;
        let best = 0;
        for (let k = 0; k < y.length; k++) {
          if (y[k] > y[top]) top = k;
          if (p[k] > p[best]) best = k;
          if (y[k] > 0) {
            into.on += p[k];
            into.onCount++;
          } else {
            into.off += p[k];
            into.offCount++;
          }
        }
        if (top === best) into.hits++;
        into.crops++;
        into.k = y.length;
      }),
    );
  }
  return into;
}

function positionNumbers(s: PositionSums) {
  return { accuracy: s.crops ? s.hits / s.crops : NaN, crops: s.crops, predOn: s.onCount ? s.on / s.onCount : NaN, predOff: s.offCount ? s.off / s.offCount : NaN };
}

/**
 * Keeps the recent steps of a run and turns a health step's device numbers into a StepHealth with trends and a
 * diagnosis. Holds plain numbers only.
 */
export class HealthTracker {
  private recent: StepMetrics[] = [];
  /** The position numbers of the tracker's first `window` steps (the run's start: what "learning" is measured from). */
  private start: PositionSums = positionSums([]);
  private startSteps = 0;
  private seen = 0;
  private probeFirst: { step: number; accuracy: number } | null = null;
  private probeLast: { step: number; accuracy: number; crops: number } | null = null;
  constructor(
    private readonly gradClip: number,
    private readonly window = HEALTH_WINDOW,
  ) {}

  /** Records a finished step (call for every step, before report()). */
  add(m: StepMetrics): void {
    this.recent.push(m);
    if (this.recent.length > this.window) this.recent.shift();
    this.seen++;
    if (m.probe) {
      if (!this.probeFirst) this.probeFirst = { step: m.step, accuracy: m.probe.accuracy };
      this.probeLast = { step: m.step, accuracy: m.probe.accuracy, crops: m.probe.crops };
    }
    if (this.startSteps < this.window) {
      positionSums([m], this.start);
      this.startSteps++;
    }
  }

  report(device: DeviceHealth, computeMs: number): StepHealth {
    const preds: number[] = [];
    const truth: number[] = [];
    for (const m of this.recent) {
      m.labels.forEach((vol, b) =>
        vol.forEach((l, s) => {
          truth.push(...l);
          preds.push(...m.predictions[b][s]);
        }),
      );
    }
    const cal = calibration(preds, truth);
    const norms = this.recent.map((m) => m.gradNorm ?? NaN).filter(Number.isFinite);
    const clipped = this.gradClip > 0 ? norms.filter((g) => g > this.gradClip).length : 0;
    const terms = (['loss', 'intra', 'inter', 'reg'] as const).map((t) => termTrend(t, this.recent.map((m) => m[t])));
    const recentPosition = positionSums(this.recent);
    const health: StepHealth = {
      studentStd: { min: device.studentStdMin, mean: device.studentStdMean },
      teacherStd: { min: device.teacherStdMin, mean: device.teacherStdMean },
      studentRank: effectiveRankFromGram(device.studentGram, device.rows),
      teacherRank: effectiveRankFromGram(device.teacherGram, device.rows),
      rankMax: device.rows,
      agreement: device.agreement,
      calibration: cal,
      clippedShare: norms.length ? clipped / norms.length : 0,
      gradNormMedian: median(norms),
      terms,
      position: {
        ...positionNumbers(recentPosition),
        chance: recentPosition.k ? 1 / recentPosition.k : NaN,
        steps: this.seen,
        ...(this.probeFirst && this.probeLast
          ? { probe: { accuracy: this.probeLast.accuracy, step: this.probeLast.step, first: this.probeFirst.accuracy, firstStep: this.probeFirst.step, crops: this.probeLast.crops } }
          : {}),
        start: { ...positionNumbers(this.start), steps: this.startSteps },
      },
      window: this.recent.length,
      diagnosis: [],
      ms: computeMs,
    };
    health.diagnosis = diagnose(health, this.recent.at(-1)?.lr ?? NaN, this.gradClip);
    return health;
  }
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const TERM_WORDS: Record<TermName, string> = {
  loss: 'The total loss',
  intra: 'The position (intra-volume) loss',
  inter: 'The inter-volume consistency loss',
  reg: 'The base-crop regulariser',
};

/**
 * Whether position prediction has measurably improved: the clean probe's latest accuracy above its first, or the
 * window's training-crop accuracy above the run's first window (both windows at least 40 crops, not overlapping),
 * each by more than 2 standard errors (two proportions) and above chance. Compared with the start, not with chance:
 * an untrained encoder already ranks overlapped base crops above chance (similar intensities), e.g. 0.19 on
 * training crops for tiny at lr ≈ 0 where chance is 0.11.
 */
export function positionLearning(h: Pick<StepHealth, 'position'>): boolean {
  return trainingCropsLearning(h) || probeLearning(h);
}

/** Two proportions a (of na) and b (of nb): is a above b by more than 2 standard errors? */
function risenBeyond2Se(a: number, na: number, b: number, nb: number): boolean {
  const se = Math.sqrt((a * (1 - a)) / na + (b * (1 - b)) / nb);
  return a - b > 2 * Math.max(se, 1e-9);
}

function trainingCropsLearning(h: Pick<StepHealth, 'position'>): boolean {
  const p = h.position;
  if (!p || p.crops < 40 || p.start.crops < 40 || p.steps < 2 * p.start.steps || !(p.accuracy > p.chance)) return false;
  return risenBeyond2Se(p.accuracy, p.crops, p.start.accuracy, p.start.crops);
}

/**
 * The clean probe (Trainer.positionProbe): its latest accuracy against its first on the same fixed crops, or against
 * chance when the first was below it (an untrained encoder's relu-cosines are often all 0, every argmax the first
 * base, and its probe 0: no baseline to have risen from).
 */
function probeLearning(h: Pick<StepHealth, 'position'>): boolean {
  const q = h.position?.probe;
  const chance = h.position?.chance ?? 0;
  if (!q || q.step <= q.firstStep) return false;
  return risenBeyond2Se(q.accuracy, q.crops, Math.max(q.first, chance), q.crops);
}

/** Plain-words findings, worst first; one 'ok' line when nothing is wrong. */
export function diagnose(h: StepHealth, lr: number, gradClip: number): { level: 'ok' | 'warn' | 'bad'; text: string }[] {
  const out: { level: 'ok' | 'warn' | 'bad'; text: string }[] = [];
  const pct = (v: number) => `${Math.round(v * 100)} %`;
  const learning = positionLearning(h);
  const intra = h.terms.find((t) => t.term === 'intra');
  // The reference's position loss charges every prediction on a base crop the random crop does not overlap, so
  // when training raises all of a scan's crop similarities together (predOn and predOff both up) the loss stays
  // flat or rises while the argmax accuracy climbs. Then the accuracy, not the loss, says whether it learns.
  const lossNotProgress = learning && intra && h.window >= 40 && (intra.state === 'flat' || intra.state === 'rising');
  if (learning) {
    const p = h.position!;
    const s = p.start;
    const q = p.probe;
    const evidence = [
      ...(q && probeLearning(h) ? [`on the probe's fixed clean crops ${fmt(q.accuracy)} at step ${q.step}, up from ${fmt(q.first)} at step ${q.firstStep}`] : []),
      trainingCropsLearning(h)
        ? `on the training crops ${fmt(p.accuracy)} over the last ${h.window} steps, up from ${fmt(s.accuracy)} over the run's first ${s.steps}`
        : `on the augmented training crops ${fmt(p.accuracy)} over the last ${h.window} steps (${fmt(s.accuracy)} over the first ${s.steps})`,
    ];
    out.push({
      level: 'ok',
      text:
        `Learning where crops sit: position accuracy ${evidence.join('; ')} (chance ${fmt(p.chance)}).` +
        (lossNotProgress
          ? ` The position loss is ${intra!.state} (${fmt(intra!.after)}) all the same: it also charges every prediction on a base crop the random crop does not overlap, ` +
            (p.predOff > s.predOff + 0.02
              ? `and those rose (${fmt(s.predOff)} → ${fmt(p.predOff)}) with the ones on the overlapped crops (${fmt(s.predOn)} → ${fmt(p.predOn)}) as the crops of a scan grew alike. `
              : `now ${fmt(p.predOff)} on average against ${fmt(p.predOn)} on the overlapped ones. `) +
            'At this scale read the accuracy, not the position loss.'
          : ''),
    });
  }
  for (const t of h.terms) {
    if (lossNotProgress && t.term === 'intra') continue; // explained above
    if (t.state === 'diverging') {
      out.push({
        level: 'bad',
        text: `${TERM_WORDS[t.term]} is diverging (${fmt(t.before)} → ${fmt(t.after)} over the last ${h.window} steps). Lower the learning rate (now ${fmt(lr)}) by 3×, lengthen the warmup, or clip gradients at 1–3.`,
      });
    } else if (t.state === 'rising' && t.term !== 'reg') {
      out.push({
        level: 'warn',
        text: `${TERM_WORDS[t.term]} is rising (${fmt(t.before)} → ${fmt(t.after)}). If it keeps rising, lower the learning rate or clip gradients.`,
      });
    } else if (t.state === 'flat' && t.term === 'intra' && h.window >= 40) {
      out.push({
        level: 'warn',
        text: `${TERM_WORDS.intra} is stuck at ${fmt(t.after)} (no significant change over ${h.window} steps). Try a 3× higher learning rate, a shorter warmup, or a smaller crop size r so more steps fit.`,
      });
    }
  }
  const minRank = Math.min(h.studentRank, h.teacherRank);
  if (h.studentStd.mean < 0.1 || minRank < 1.5) {
    out.push({
      level: 'bad',
      text: `The projections are collapsing (std ${fmt(h.studentStd.mean)} of a healthy ≈ 1, effective rank ${fmt(minRank)} of ${h.rankMax}): every crop maps to nearly the same vector. Lower the learning rate, raise the weight decay, or restart from a checkpoint before it began.`,
    });
  } else if (minRank < 0.2 * h.rankMax) {
    out.push({ level: 'warn', text: `Effective rank is low (${fmt(minRank)} of ${h.rankMax}): the projections use few directions. Watch it; if it keeps falling, lower the learning rate.` });
  }
  if (gradClip > 0 && h.clippedShare > 0.5) {
    out.push({
      level: 'warn',
      text: `${pct(h.clippedShare)} of recent steps were clipped (median gradient norm ${fmt(h.gradNormMedian)} > clip ${fmt(gradClip)}): the real step is smaller than the learning rate says. Raise the clip threshold or turn clipping off (the reference does not clip).`,
    });
  }
  if (!learning && h.window >= 40 && Number.isFinite(h.calibration.correlation) && h.calibration.correlation < 0.2) {
    out.push({
      level: 'warn',
      text: `Position predictions do not yet follow the true overlaps (correlation ${fmt(h.calibration.correlation)}). Normal early on; if it stays low, the encoder is not learning where crops sit: see the loss advice above.`,
    });
  }
  if (learning && Number.isFinite(h.calibration.correlation) && h.calibration.correlation < 0.2) {
    out.push({
      level: 'ok',
      text: `The predicted overlaps rank the base crops right more often than chance but their values are not calibrated yet (correlation ${fmt(h.calibration.correlation)} with the true overlaps, slope ${fmt(h.calibration.slope)}).`,
    });
  }
  if (out.length === 0) {
    const falling = h.terms.filter((t) => t.state === 'falling').map((t) => t.term);
    out.push({
      level: 'ok',
      text: falling.length
        ? `Learning: ${falling.join(', ')} falling; no collapse (rank ${fmt(minRank)} of ${h.rankMax}); predictions correlate ${fmt(h.calibration.correlation)} with the true overlaps.`
        : h.window < 10
          ? 'Too few steps to judge yet.'
          : `No problem found (rank ${fmt(minRank)} of ${h.rankMax}, calibration slope ${fmt(h.calibration.slope)}).`,
    });
  }
  const order = { bad: 0, warn: 1, ok: 2 };
  return out.sort((a, b) => order[a.level] - order[b.level]);
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? v.toExponential(1) : v.toFixed(a < 1 ? 3 : 2);
}
