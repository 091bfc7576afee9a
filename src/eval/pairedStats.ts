// Is one set of weights better than another on the benchmark's label tasks, beyond what the split alone moves?
// Both are scored on the SAME splits (the same crops), so the split's own difficulty cancels in the per-split
// difference: the paired gain's spread is what decides, beside the unpaired spread (sd of the baseline over the
// splits) that the criterion names; the paired verdict is a paired t-test (95 %, two-sided). Pure arithmetic, unit-tested in test/eval-paired-stats.test.ts.

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1); NaN for fewer than two values. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

export interface PairedComparison {
  /** Pairs compared (splits, or seed × split). */
  n: number;
  baseMean: number;
  /** The unpaired spread: sd of the baseline's scores over the pairs. */
  baseSd: number;
  otherMean: number;
  otherSd: number;
  /** Per pair: other − base, signed so that positive is better (the metric's direction). */
  gains: number[];
  gainMean: number;
  gainSd: number;
  /** Standard error of the mean paired gain (gainSd / √n). */
  gainSe: number;
  /** Pairs where the other weights scored better (strictly). */
  better: number;
  /** Mean gain larger than the baseline's sd over the pairs (the "beyond the spread"). */
  beyondSpread: boolean;
  /** Two-sided 95 % Student t quantile for n − 1 degrees of freedom (the SE multiplier of beyondPairedNoise). */
  tCritical: number;
  /** Mean paired gain more than t·SE above zero (paired t-test, 95 %, two-sided). */
  beyondPairedNoise: boolean;
}

/** t₀.₉₇₅ for 1…30 degrees of freedom. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Two-sided 95 % quantile of Student's t with `df` degrees of freedom (table to 30, then 1.96 + 2.4/df, within 0.003). */
export function tCritical95(df: number): number {
  if (!(df >= 1)) return NaN;
  const d = Math.floor(df);
  return d <= 30 ? T975[d - 1] : 1.96 + 2.4 / d;
}

/**
 * Pairs base[i] with other[i] (the same split): the mean gain with its sd and standard error, the unpaired spread
 * of the baseline, and both verdicts. Throws when the lists differ in length or are empty; non-finite pairs
 * (a split a task could not score) are dropped from both.
 */
export function pairedComparison(base: readonly number[], other: readonly number[], better: 'higher' | 'lower' = 'higher'): PairedComparison {
  if (base.length !== other.length) throw new Error(`paired comparison: ${base.length} baseline scores but ${other.length} to compare`);
  const keep = base.map((b, i) => Number.isFinite(b) && Number.isFinite(other[i]));
  const b = base.filter((_, i) => keep[i]);
  const o = other.filter((_, i) => keep[i]);
  if (b.length === 0) throw new Error('paired comparison: no pair with two finite scores');
  const sign = better === 'higher' ? 1 : -1;
  const gains = b.map((x, i) => sign * (o[i] - x));
  const gainMean = mean(gains);
  const gainSd = sampleSd(gains);
  const gainSe = gainSd / Math.sqrt(gains.length);
  const baseSd = sampleSd(b);
  return {
    n: b.length,
    baseMean: mean(b),
    baseSd,
    otherMean: mean(o),
    otherSd: sampleSd(o),
    gains,
    gainMean,
    gainSd,
    gainSe,
    better: gains.filter((g) => g > 0).length,
    beyondSpread: Number.isFinite(baseSd) && gainMean > baseSd,
    tCritical: tCritical95(gains.length - 1),
    beyondPairedNoise: Number.isFinite(gainSe) && gains.length >= 2 && gainMean > tCritical95(gains.length - 1) * gainSe,
  };
}
