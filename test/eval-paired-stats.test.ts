// Paired comparison of two weights sets over the same splits (src/eval/pairedStats.ts), against hand-computed values.
import { describe, expect, it } from 'vitest';
import { mean, pairedComparison, sampleSd, tCritical95 } from '../src/eval/pairedStats';

describe('mean and sample sd', () => {
  it('match hand-computed values', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sampleSd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(mean([])).toBeNaN();
    expect(sampleSd([7])).toBeNaN();
  });
});

describe('tCritical95', () => {
  it('is Student t₀.₉₇₅: 12.706 at 1 df, 2.776 at 4, 2.045 at 29, ≈ 2.00 at 60, → 1.96', () => {
    expect(tCritical95(1)).toBe(12.706);
    expect(tCritical95(4)).toBe(2.776);
    expect(tCritical95(29)).toBe(2.045);
    expect(tCritical95(60)).toBeCloseTo(2.0, 2);
    expect(tCritical95(10000)).toBeCloseTo(1.96, 2);
    expect(tCritical95(0)).toBeNaN();
  });
});

describe('pairedComparison', () => {
  it('a gain far inside the unpaired spread but steady pair by pair: beyond the paired t, not the spread', () => {
    // The splits move both scores a lot (0.2 … 0.6); the trained weights are better by 0.04–0.06 on each.
    const base = [0.2, 0.6, 0.3, 0.5];
    const other = [0.25, 0.64, 0.36, 0.54];
    const c = pairedComparison(base, other);
    expect(c.n).toBe(4);
    expect(c.gains.map((g) => +g.toFixed(10))).toEqual([0.05, 0.04, 0.06, 0.04]);
    expect(c.gainMean).toBeCloseTo(0.0475, 12);
    expect(c.gainSd).toBeCloseTo(sampleSd([0.05, 0.04, 0.06, 0.04]), 12);
    expect(c.gainSe).toBeCloseTo(c.gainSd / 2, 12);
    expect(c.baseSd).toBeCloseTo(sampleSd(base), 12);
    expect(c.baseMean).toBeCloseTo(0.4, 12);
    expect(c.otherMean).toBeCloseTo(0.4475, 12);
    expect(c.better).toBe(4);
    expect(c.beyondSpread).toBe(false);
    expect(c.tCritical).toBe(3.182);
    expect(c.beyondPairedNoise).toBe(true); // 0.0475 > 3.182 × 0.0048
  });

  it('few splits need a larger multiple of the SE than 2 (t with n − 1 df)', () => {
    // Gains 0.1, 0.02, 0.06: mean 0.06, sd 0.04, SE 0.0231 → 2.6 SE, below t(2) = 4.303.
    const c = pairedComparison([0.3, 0.3, 0.3], [0.4, 0.32, 0.36]);
    expect(c.gainMean / c.gainSe).toBeCloseTo(2.598, 2);
    expect(c.beyondPairedNoise).toBe(false);
  });

  it('a large, steady gain is beyond both; a gain that flips sign is beyond neither', () => {
    const big = pairedComparison([0.3, 0.32, 0.31], [0.6, 0.58, 0.62]);
    expect(big.beyondSpread).toBe(true);
    expect(big.beyondPairedNoise).toBe(true);
    const noisy = pairedComparison([0.3, 0.4, 0.35, 0.33], [0.4, 0.3, 0.36, 0.31]);
    expect(noisy.better).toBe(2);
    expect(noisy.beyondSpread).toBe(false);
    expect(noisy.beyondPairedNoise).toBe(false);
  });

  it('signs the gain by the metric direction (lower is better) and drops pairs with a non-finite score', () => {
    const c = pairedComparison([0.5, 0.4, NaN], [0.3, 0.35, 0.1], 'lower');
    expect(c.n).toBe(2);
    expect(c.gains.map((g) => +g.toFixed(10))).toEqual([0.2, 0.05]);
    expect(c.better).toBe(2);
  });

  it('refuses lists of different lengths or without a finite pair', () => {
    expect(() => pairedComparison([1, 2], [1])).toThrow(/2 baseline scores but 1/);
    expect(() => pairedComparison([NaN], [1])).toThrow(/no pair/);
  });
});
