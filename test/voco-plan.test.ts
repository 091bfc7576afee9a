// Crop plans: determinism, geometry (region inside the volume, crops inside the region), labels, augmentation
// frequencies and batch order. All seeds are fixed, so the statistical checks are deterministic.
import { describe, expect, it } from 'vitest';
import { REFERENCE_AUGMENT, Rng, batchCrops, planBatch, planLabels, positionLabels, regionSize, type BatchPlan, type PlanOptions } from '../src/voco';

const DIMS: [number, number, number][] = [
  [122, 101, 112],
  [128, 128, 141],
  [96, 96, 32],
  [200, 150, 40],
];
const OPTS: PlanOptions = { n: 3, r: 32, sw: 2, augment: REFERENCE_AUGMENT };

function plans(seed: number, count: number, indices = [0, 1, 2, 3], opts = OPTS): BatchPlan[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => planBatch(rng, DIMS, indices, opts));
}

describe('Rng', () => {
  it('is reproducible, resumable from its state, and within its ranges', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(seqA);
    expect(seqA.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Rng(43).next()).not.toBe(new Rng(42).next());

    const saved = a.getState();
    const resumed = Rng.fromState(JSON.parse(JSON.stringify(saved)));
    expect(Array.from({ length: 50 }, () => resumed.int(-3, 4))).toEqual(Array.from({ length: 50 }, () => a.int(-3, 4)));

    const ints = Array.from({ length: 2000 }, () => a.int(5, 9));
    expect(Math.min(...ints)).toBe(5);
    expect(Math.max(...ints)).toBe(8);
    const us = Array.from({ length: 2000 }, () => a.uniform(-0.1, 0.1));
    expect(us.every((u) => u >= -0.1 && u < 0.1)).toBe(true);
    expect(() => a.int(3, 3)).toThrow(/lo < hiExcl/);
    expect(() => Rng.fromState([1, 2])).toThrow(/four unsigned/);
  });
});

describe('planBatch', () => {
  it('gives identical plans for the same seed and different plans for different seeds', () => {
    const a = plans(7, 5);
    expect(plans(7, 5)).toEqual(a);
    const b = plans(8, 5);
    expect(b).not.toEqual(a);
    expect(b.map((p) => p.volumes.map((v) => v.regionOrigin))).not.toEqual(a.map((p) => p.volumes.map((v) => v.regionOrigin)));
  });

  it('places the region inside the volume, uniformly over every fitting corner', () => {
    const seen = DIMS.map(() => [new Set<number>(), new Set<number>(), new Set<number>()]);
    const size = regionSize(3, 32);
    for (const plan of plans(1, 400)) {
      for (const v of plan.volumes) {
        const dims = DIMS[v.volume];
        for (let axis = 0; axis < 3; axis++) {
          expect(v.regionOrigin[axis]).toBeGreaterThanOrEqual(0);
          expect(v.regionOrigin[axis] + size[axis]).toBeLessThanOrEqual(dims[axis]);
          seen[v.volume][axis].add(v.regionOrigin[axis]);
        }
      }
    }
    // Both extremes are reachable: [0, dim − size] inclusive (volume 0: x slack 26, y slack 5, z slack 80).
    expect(Math.min(...seen[0][1])).toBe(0);
    expect(Math.max(...seen[0][1])).toBe(101 - 96);
    expect(seen[0][1].size).toBe(6);
    expect(Math.max(...seen[0][0])).toBe(122 - 96);
    // A volume exactly the region's size has one corner.
    expect([...seen[2][0], ...seen[2][1], ...seen[2][2]]).toEqual([0, 0, 0]);
  });

  it('centres the region on axes where the volume is smaller (as the reference pads symmetrically)', () => {
    const plan = planBatch(new Rng(3), [[90, 100, 20], [96, 96, 32]], [0, 1], { n: 3, r: 32, sw: 1 });
    const [ox, oy, oz] = plan.volumes[0].regionOrigin;
    expect(ox).toBe(-3); // pad 6 → 3 before
    expect(oy).toBeGreaterThanOrEqual(0);
    expect(oy).toBeLessThanOrEqual(4);
    expect(oz).toBe(-6); // pad 12 → 6 before
  });

  it('tiles the region with the base crops and keeps random crops inside it, with labels that sum to 1', () => {
    const { n, r } = OPTS;
    const half = r / 2;
    const centres: number[] = [];
    for (const plan of plans(2, 300)) {
      for (const v of plan.volumes) {
        const [ox, oy, oz] = v.regionOrigin;
        expect(v.bases).toHaveLength(n * n);
        v.bases.forEach((c, idx) => {
          const i = Math.floor(idx / n);
          const j = idx % n;
          expect(c.origin).toEqual([ox + i * r, oy + j * r, oz]);
          expect(c.volume).toBe(v.volume);
        });
        expect(v.randoms).toHaveLength(OPTS.sw);
        v.randoms.forEach((c, s) => {
          const [cx, cy] = v.randomCenters[s];
          expect(cx).toBeGreaterThanOrEqual(half);
          expect(cx).toBeLessThan(n * r - half);
          expect(cy).toBeGreaterThanOrEqual(half);
          expect(cy).toBeLessThan(n * r - half);
          expect(c.origin).toEqual([ox + cx - half, oy + cy - half, oz]);
          for (const axis of [0, 1] as const) {
            expect(c.origin[axis]).toBeGreaterThanOrEqual(v.regionOrigin[axis]);
            expect(c.origin[axis] + r).toBeLessThanOrEqual(v.regionOrigin[axis] + n * r);
          }
          const labels = v.labels[s];
          expect(Array.from(labels)).toEqual(Array.from(positionLabels(r, n, cx, cy)));
          expect(labels.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
          centres.push(cx, cy);
        });
      }
    }
    // numpy randint(half, n·r − half): both ends of the range are drawn.
    expect(Math.min(...centres)).toBe(half);
    expect(Math.max(...centres)).toBe(n * r - half - 1);
  });

  it('augments each crop with the reference probabilities', () => {
    const crops = plans(11, 250).flatMap(batchCrops); // 250 × 4 × 11 = 11000 crops
    const total = crops.length;
    const frac = (pred: (c: (typeof crops)[number]) => boolean) => crops.filter(pred).length / total;
    // Binomial σ at p=0.2 over 11000 draws is 0.004; these bounds are ~7σ.
    for (const axis of [0, 1, 2]) expect(Math.abs(frac((c) => c.flip[axis]) - 0.2)).toBeLessThan(0.03);
    expect(Math.abs(frac((c) => c.rot90 !== 0) - 0.2)).toBeLessThan(0.03);
    for (const k of [1, 2, 3]) expect(Math.abs(frac((c) => c.rot90 === k) - 0.2 / 3)).toBeLessThan(0.02);
    expect(crops.every((c) => Number.isInteger(c.rot90) && c.rot90 >= 0 && c.rot90 <= 3)).toBe(true);
    expect(Math.abs(frac((c) => c.shift !== 0) - 0.5)).toBeLessThan(0.04);
    const shifts = crops.filter((c) => c.shift !== 0).map((c) => c.shift);
    expect(shifts.every((s) => Math.abs(s) <= 0.1)).toBe(true);
    expect(Math.abs(shifts.reduce((a, b) => a + b, 0) / shifts.length)).toBeLessThan(0.01);
    expect(Math.min(...shifts)).toBeLessThan(-0.09);
    expect(Math.max(...shifts)).toBeGreaterThan(0.09);
    // Flips of different axes are drawn independently.
    expect(Math.abs(frac((c) => c.flip[0] && c.flip[1]) - 0.04)).toBeLessThan(0.015);
  });

  it('leaves crops untouched without augmentation', () => {
    const crops = plans(5, 20, [0, 1], { ...OPTS, augment: null }).flatMap(batchCrops);
    expect(crops.every((c) => !c.flip.some(Boolean) && c.rot90 === 0 && c.shift === 0)).toBe(true);
  });

  it('orders batch crops as all bases (volume-major, i*n+j) then all randoms (volume-major)', () => {
    const plan = plans(9, 1, [2, 0, 3])[0];
    const crops = batchCrops(plan);
    expect(crops).toHaveLength(3 * (9 + 2));
    expect(crops.slice(0, 27)).toEqual([...plan.volumes[0].bases, ...plan.volumes[1].bases, ...plan.volumes[2].bases]);
    expect(crops.slice(27)).toEqual([...plan.volumes[0].randoms, ...plan.volumes[1].randoms, ...plan.volumes[2].randoms]);
    expect(crops.map((c) => c.volume)).toEqual([...Array(9).fill(2), ...Array(9).fill(0), ...Array(9).fill(3), 2, 2, 0, 0, 3, 3]);

    const labels = planLabels(plan);
    expect(labels).toHaveLength(3 * 2 * 9);
    expect(Array.from(labels.subarray(9, 18))).toEqual(Array.from(plan.volumes[0].labels[1]));
    expect(Array.from(labels.subarray(36, 45))).toEqual(Array.from(plan.volumes[2].labels[0]));
  });

  it('rejects batches it cannot build, naming the problem', () => {
    expect(() => planBatch(new Rng(1), DIMS, [0], OPTS)).toThrow(/at least 2 volumes/);
    expect(() => planBatch(new Rng(1), DIMS, [0, 9], OPTS)).toThrow(/volume index 9 is out of range/);
    expect(() => planBatch(new Rng(1), DIMS, [0, 1], { ...OPTS, augment: { ...REFERENCE_AUGMENT, flipP: 2 } })).toThrow(/flipP/);
  });
});
