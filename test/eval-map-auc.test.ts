// src/eval/mapAuc.ts: the AUC of a similarity map for the clicked structure, and the raw-intensity baseline, on
// cases whose answer is known in closed form.
import { describe, expect, it } from 'vitest';
import { BODY_HU, aucFromScores, mapAuc, structureClick } from '../src/eval/mapAuc';

const f = (xs: number[]) => Float32Array.from(xs);

describe('aucFromScores', () => {
  it('is 1 for perfect separation, 0 for reversed, 0.5 for all ties, and counts ties as one half', () => {
    expect(aucFromScores(f([3, 4, 5]), f([0, 1, 2]))).toBe(1);
    expect(aucFromScores(f([0, 1]), f([2, 3]))).toBe(0);
    expect(aucFromScores(f([1, 1]), f([1, 1, 1]))).toBe(0.5);
    // positives {1, 3}, negatives {1, 2}: pairs (1>1? tie=½), (1>2? 0), (3>1 1), (3>2 1) → 2.5 / 4
    expect(aucFromScores(f([1, 3]), f([1, 2]))).toBe(0.625);
    expect(aucFromScores(f([]), f([1]))).toBeNaN();
  });

  it('matches the brute-force pair count on random scores', () => {
    let s = 1;
    const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    const pos = Float32Array.from({ length: 57 }, () => Math.round(rnd() * 20) / 4);
    const neg = Float32Array.from({ length: 91 }, () => Math.round(rnd() * 16) / 4);
    let c = 0;
    for (const p of pos) for (const n of neg) c += p > n ? 1 : p === n ? 0.5 : 0;
    expect(aucFromScores(pos, neg)).toBeCloseTo(c / (57 * 91), 12);
  });
});

describe('mapAuc', () => {
  // A 10×10×4 scan: air (−1000) in column x = 0, a structure (label 1, 60 HU) at x = 6…9, other tissue (label 0,
  // 40 HU, or label 2 at 200 HU) elsewhere.
  const dims = [10, 10, 4] as const;
  const total = 400;
  const labels = new Int32Array(total);
  const hu = new Float32Array(total);
  const xOf = (i: number) => i % 10;
  for (let i = 0; i < total; i++) {
    const x = xOf(i);
    if (x === 0) hu[i] = -1000;
    else if (x >= 6) {
      labels[i] = 1;
      hu[i] = 60;
    } else if (x <= 2) {
      labels[i] = 2;
      hu[i] = 200;
    } else hu[i] = 40;
  }
  const click = [7, 5, 2];

  it('a map equal to x separates the structure perfectly; its negative is 0; a constant map is 0.5', () => {
    const byX = Float32Array.from({ length: total }, (_, i) => xOf(i));
    const r = mapAuc({ map: byX, labels, hu, dims, click });
    expect(r.ok && r.auc).toBe(1);
    expect(r.ok && r.structure).toBe(1);
    // Body excludes the air column: 40 structure voxels per… 4 columns × 10 × 4 = 160 positives, 5 × 40 = 200 negatives.
    expect(r.ok && [r.positives, r.negatives]).toEqual([160, 200]);
    const neg = mapAuc({ map: byX.map((v) => -v), labels, hu, dims, click });
    expect(neg.ok && neg.auc).toBe(0);
    const flat = mapAuc({ map: new Float32Array(total).fill(0.3), labels, hu, dims, click });
    expect(flat.ok && flat.auc).toBe(0.5);
  });

  it('the intensity baseline: 60 HU structure vs 40 and 200 HU tissue separates perfectly; equal HU ties to 0.5', () => {
    const r = mapAuc({ map: new Float32Array(total), labels, hu, dims, click });
    expect(r.ok && r.clickHu).toBe(60);
    expect(r.ok && r.intensityAuc).toBe(1);
    const same = hu.map((v) => (v > -500 ? 60 : v));
    const t = mapAuc({ map: new Float32Array(total), labels, hu: same, dims, click });
    expect(t.ok && t.intensityAuc).toBe(0.5);
  });

  it('voxels without a map value (NaN) and air are left out', () => {
    const m = Float32Array.from({ length: total }, (_, i) => (xOf(i) === 9 ? NaN : xOf(i) >= 6 ? 1 : 0));
    const r = mapAuc({ map: m, labels, hu, dims, click });
    expect(r.ok && r.positives).toBe(120);
    expect(r.ok && r.auc).toBe(1);
    // Air voxels with a high map value do not count against the map.
    const airHigh = Float32Array.from({ length: total }, (_, i) => (xOf(i) === 0 ? 5 : xOf(i) >= 6 ? 1 : 0));
    const a = mapAuc({ map: airHigh, labels, hu, dims, click });
    expect(a.ok && a.auc).toBe(1);
    expect(BODY_HU).toBe(-500);
  });

  it('says why it cannot score: a click outside any structure, outside the scan, mismatched sizes', () => {
    const m = new Float32Array(total);
    const r1 = mapAuc({ map: m, labels, hu, dims, click: [4, 5, 2] });
    expect(!r1.ok && r1.reason).toMatch(/not inside a labelled structure/);
    const r2 = mapAuc({ map: m, labels, hu, dims, click: [12, 0, 0] });
    expect(!r2.ok && r2.reason).toMatch(/outside the scan/);
    const r3 = mapAuc({ map: new Float32Array(10), labels, hu, dims, click });
    expect(!r3.ok && r3.reason).toMatch(/must all have/);
  });
});

describe('structureClick', () => {
  it('picks the voxel deepest inside the structure', () => {
    const dims = [9, 9, 9];
    const labels = new Uint8Array(729);
    // A 5×5×5 cube at 2…6 has its deepest voxel at its centre (4, 4, 4).
    for (let z = 2; z <= 6; z++) for (let y = 2; y <= 6; y++) for (let x = 2; x <= 6; x++) labels[x + 9 * (y + 9 * z)] = 3;
    expect(structureClick(labels, dims, 3)).toEqual([4, 4, 4]);
    expect(structureClick(labels, dims, 5)).toBeNull();
  });
});
