// Benchmark metrics and the linear-probe head on hand-made inputs with known answers.
import { describe, expect, it } from 'vitest';
import {
  DiceCounts,
  accuracy,
  argmaxAccuracy,
  dice,
  diceScores,
  f1PerClass,
  macroF1,
  mae,
  meanFinite,
  retrievalAtK,
  retrievalChance,
  retrievalCurve,
} from '../src/eval/metrics';
import { crossEntropy, fitSoftmaxRegression, predictClasses } from '../src/eval/logistic';
import { Rng } from '../src/voco/rng';

describe('dice', () => {
  it('counts overlap on a hand-made 2×3 mask', () => {
    // pred: label 1 on 3 voxels, truth: label 1 on 2 voxels, 1 shared → 2·1 / (3 + 2) = 0.4
    const pred = [1, 1, 1, 0, 0, 2];
    const truth = [1, 0, 0, 1, 0, 2];
    expect(dice(pred, truth, 1)).toBeCloseTo(0.4, 12);
    expect(dice(pred, truth, 2)).toBe(1);
    // label 0: pred at 3,4 (2 voxels), truth at 1,2,4 (3 voxels), shared 4 → 2/5
    expect(dice(pred, truth, 0)).toBeCloseTo(0.4, 12);
    expect(dice(pred, truth, 7)).toBeNaN(); // absent from both: no Dice
    expect(dice([3, 3], [0, 0], 3)).toBe(0);
  });

  it('diceScores and pooled DiceCounts agree with dice()', () => {
    const pred = [1, 2, 2, 0, 1, 1, 2, 0];
    const truth = [1, 2, 0, 0, 2, 1, 2, 1];
    const s = diceScores(pred, truth, [1, 2]);
    expect(s.get(1)).toBeCloseTo(dice(pred, truth, 1), 12);
    expect(s.get(2)).toBeCloseTo(dice(pred, truth, 2), 12);
    // Pooling two halves equals scoring the whole.
    const c = new DiceCounts([1, 2]);
    c.add(pred.slice(0, 4), truth.slice(0, 4));
    c.add(pred.slice(4), truth.slice(4));
    expect(c.scores().get(1)).toBeCloseTo(s.get(1)!, 12);
    expect(c.scores().get(2)).toBeCloseTo(s.get(2)!, 12);
    expect(meanFinite([0.5, NaN, 1])).toBe(0.75);
  });

  it('refuses arrays of different length', () => {
    expect(() => dice([1], [1, 1], 1)).toThrow(/1 entries, truth 2/);
  });
});

describe('macro-F1', () => {
  it('matches a hand computation', () => {
    const truth = [0, 0, 0, 1, 1, 2];
    const pred = [0, 0, 1, 1, 2, 2];
    // class 0: TP 2, FP 0, FN 1 → 4/5; class 1: TP 1, FP 1, FN 1 → 2/4; class 2: TP 1, FP 1, FN 0 → 2/3
    const per = f1PerClass(pred, truth);
    expect(per.get(0)).toBeCloseTo(0.8, 12);
    expect(per.get(1)).toBeCloseTo(0.5, 12);
    expect(per.get(2)).toBeCloseTo(2 / 3, 12);
    expect(macroF1(pred, truth)).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 12);
    expect(accuracy(pred, truth)).toBeCloseTo(4 / 6, 12);
  });

  it('is 1 for a perfect prediction and counts a class only predicted', () => {
    expect(macroF1([2, 1, 0], [2, 1, 0])).toBe(1);
    // class 3 appears only in the prediction: F1 0, and it is averaged in (as scikit-learn does).
    expect(macroF1([0, 3], [0, 1])).toBeCloseTo((1 + 0 + 0) / 3, 12);
  });
});

describe('position metrics', () => {
  it('argmax accuracy counts ties in the truth as either answer', () => {
    const truth = [0.1, 0.7, 0.2, 0, /**/ 0.5, 0.5, 0, 0, /**/ 0, 0, 0.9, 0.1];
    const pred = [0.3, 0.6, 0.1, 0, /**/ 0.1, 0.9, 0, 0, /**/ 0.8, 0, 0.1, 0];
    expect(argmaxAccuracy(pred, truth, 4)).toBeCloseTo(2 / 3, 12);
    expect(() => argmaxAccuracy([1, 2, 3], [1, 2, 3], 2)).toThrow(/width 2/);
  });

  it('mae', () => {
    expect(mae([0, 0.5, 1], [0.25, 0.5, 0])).toBeCloseTo((0.25 + 0 + 1) / 3, 12);
  });
});

describe('retrieval', () => {
  // Four 2-D features: two near +x (label 0), two near +y (label 1).
  const feats = Float32Array.from([1, 0.1, 0.9, 0, 0, 1, 0.1, 1]);
  it('scores perfectly separated features 1 at k=1', () => {
    expect(retrievalAtK(feats, 2, [0, 0, 1, 1], 1)).toBe(1);
    // k=2: the 2nd neighbour is always of the other label → (1 + 0)/2
    expect(retrievalAtK(feats, 2, [0, 0, 1, 1], 2)).toBeCloseTo(0.5, 12);
    expect(retrievalCurve(feats, 2, [0, 0, 1, 1], 3)).toEqual([1, 0.5, 1 / 3]);
  });

  it('scores mislabelled features 0 and knows its chance level', () => {
    expect(retrievalAtK(feats, 2, [0, 1, 0, 1], 1)).toBe(0);
    expect(retrievalChance([0, 0, 1, 1])).toBeCloseTo(1 / 3, 12);
  });

  it('searches other groups only when groups are given', () => {
    // groups: rows 0,2 in volume A, rows 1,3 in volume B → row 0's only candidates are 1 (label 0) and 3 (label 1)
    expect(retrievalAtK(feats, 2, [0, 0, 1, 1], 1, { groups: [0, 1, 0, 1] })).toBe(1);
    expect(retrievalChance([0, 0, 1, 1], [0, 1, 0, 1])).toBeCloseTo(0.5, 12);
  });

  it('skips excluded pairs (crops sharing voxels with the query) as neighbours and in the chance level', () => {
    // Row 0's nearest (row 1, same label) is excluded: its nearest allowed neighbour is row 3 (label 1) → 0.
    const excluded = (i: number, j: number) => (i === 0 && j === 1) || (i === 1 && j === 0);
    expect(retrievalCurve(feats, 2, [0, 0, 1, 1], 1)).toEqual([1]);
    expect(retrievalCurve(feats, 2, [0, 0, 1, 1], 1, { excluded })).toEqual([0.5]);
    // Rows 0 and 1 lose their only same-label candidate; rows 2 and 3 keep 1 of 3: (0 + 0 + 1/3 + 1/3) / 4.
    expect(retrievalChance([0, 0, 1, 1], undefined, excluded)).toBeCloseTo(1 / 6, 12);
    // Only rows 2 and 3 as queries (rows 0 and 1 remain candidates): both find each other → 1.
    const isQuery = (i: number) => i >= 2;
    expect(retrievalCurve(feats, 2, [0, 0, 1, 1], 1, { excluded, isQuery })).toEqual([1]);
    expect(retrievalChance([0, 0, 1, 1], undefined, excluded, isQuery)).toBeCloseTo(1 / 3, 12);
  });
});

describe('softmax regression (linear probe head)', () => {
  /** Three Gaussian blobs in 5-D, far apart along different directions: linearly separable. */
  function blobs(perClass: number, seed: number) {
    const rng = new Rng(seed);
    const centres = [
      [6, 0, 0, 0, 0],
      [0, 6, 0, 0, 0],
      [0, 0, -6, 0, 3],
    ];
    const x: number[] = [];
    const y: number[] = [];
    centres.forEach((c, k) => {
      for (let i = 0; i < perClass; i++) {
        for (const v of c) x.push(v + rng.uniform(-1, 1));
        y.push(k);
      }
    });
    return { x: Float32Array.from(x), y };
  }

  it('reaches 100 % on linearly separable features (train and held out)', () => {
    const train = blobs(30, 1);
    const test = blobs(20, 2);
    const losses: number[] = [];
    const model = fitSoftmaxRegression(train.x, 5, train.y, 3, { iterations: 200, onIteration: (_, l) => losses.push(l) });
    expect(accuracy(predictClasses(model, train.x), train.y)).toBe(1);
    expect(accuracy(predictClasses(model, test.x), test.y)).toBe(1);
    // The loss falls monotonically enough to end far below log(3).
    expect(losses.at(-1)!).toBeLessThan(0.1 * Math.log(3));
    expect(crossEntropy(model, test.x, test.y)).toBeLessThan(0.2);
  });

  it('separates XOR-free but badly scaled features (standardisation and the curvature step)', () => {
    // Feature 0 in the thousands, feature 1 tiny: label = x1 > 0. Plain GD without scaling would crawl.
    const rng = new Rng(3);
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 80; i++) {
      const label = i % 2;
      x.push(1000 + rng.uniform(-500, 500), (label ? 1 : -1) * (1e-3 + rng.uniform(0, 1e-3)));
      y.push(label);
    }
    const model = fitSoftmaxRegression(Float32Array.from(x), 2, y, 2, { iterations: 150 });
    expect(accuracy(predictClasses(model, Float32Array.from(x)), y)).toBe(1);
  });

  it('cannot exceed chance on features without information', () => {
    const rng = new Rng(9);
    const n = 60;
    const x = Float32Array.from({ length: n * 4 }, () => rng.uniform(-1, 1));
    const y = Array.from({ length: n }, (_, i) => i % 2);
    const test = Float32Array.from({ length: n * 4 }, () => rng.uniform(-1, 1));
    const model = fitSoftmaxRegression(x, 4, y, 2, { iterations: 100 });
    const acc = accuracy(predictClasses(model, test), y);
    expect(acc).toBeGreaterThan(0.2);
    expect(acc).toBeLessThan(0.8);
  });

  it('names a bad label', () => {
    expect(() => fitSoftmaxRegression(Float32Array.from([1, 2]), 1, [0, 5], 2)).toThrow(/row 1 has label 5/);
  });
});
