// The one-scan train/test split of the label tasks (src/eval/blockSplit.ts): no test crop shares a voxel with a
// training crop, test crops sit in held-out blocks, class balance, seeded, and structures that cannot fill both sides
// are named. The former random split is checked to leak, so the leak check is one that can fail.
import { describe, expect, it } from 'vitest';
import { blockSplitCrops, cropsOverlap } from '../src/eval/blockSplit';
import { sampleStructureCrops, splitCrops, type TaskVolume, type Vec3 } from '../src/eval/sampling';
import { Rng } from '../src/voco/rng';

const R = 8;

/** 64×64×32 voxels: two large boxes (labels 1, 2) spanning many blocks and a 3³ speck (label 3). */
function volume(): TaskVolume {
  const dims: Vec3 = [64, 64, 32];
  const [nx, ny, nz] = dims;
  const labels = new Uint8Array(nx * ny * nz);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        if (x < 30 && y < 60) labels[i] = 1;
        else if (x >= 34 && y >= 4) labels[i] = 2;
        if (x >= 31 && x < 34 && y >= 30 && y < 33 && z >= 10 && z < 13) labels[i] = 3;
      }
  return { index: 0, id: 'v', name: 'v.nii.gz', dims, labels, seenInPretraining: false };
}

/** Brute force: do the two r³ boxes at these origins share a voxel? */
function boxesIntersect(a: Vec3, b: Vec3, r: number): boolean {
  return [0, 1, 2].every((k) => a[k] < b[k] + r && b[k] < a[k] + r);
}

describe('cropsOverlap', () => {
  it('agrees with a brute-force box intersection, including the boundary at distance r', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 2000; t++) {
      const a: Vec3 = [rng.int(0, 20), rng.int(0, 20), rng.int(0, 20)];
      const b: Vec3 = [rng.int(0, 20), rng.int(0, 20), rng.int(0, 20)];
      const h = Math.floor(R / 2);
      const oa: Vec3 = [a[0] - h, a[1] - h, a[2] - h];
      const ob: Vec3 = [b[0] - h, b[1] - h, b[2] - h];
      expect(cropsOverlap(a, b, R)).toBe(boxesIntersect(oa, ob, R));
    }
    expect(cropsOverlap([0, 0, 0], [R - 1, R - 1, R - 1], R)).toBe(true);
    expect(cropsOverlap([0, 0, 0], [R, 0, 0], R)).toBe(false);
  });
});

describe('blockSplitCrops', () => {
  const v = volume();
  const opts = { r: R, testShare: 0.3, trainPerStructure: 20, testPerStructure: 8 };

  it('no test crop shares a voxel with a training crop; test centres in held-out blocks; class-balanced', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = blockSplitCrops(new Rng(seed), v, 0, [1, 2], opts);
      expect(s.kept).toEqual([1, 2]);
      expect(s.block).toBe(2 * R);
      for (const id of [1, 2]) {
        expect(s.train.filter((c) => c.label === id)).toHaveLength(20);
        expect(s.test.filter((c) => c.label === id)).toHaveLength(8);
      }
      for (const te of s.test) for (const tr of s.train) expect(boxesIntersect(te.origin, tr.origin, R), `seed ${seed}: ${te.center} vs ${tr.center}`).toBe(false);
      // Every crop is centred on a voxel of its structure, and its origin is the centre − r/2.
      for (const c of [...s.train, ...s.test]) {
        const [x, y, z] = c.center;
        expect(v.labels![(z * 64 + y) * 64 + x]).toBe(c.label);
        expect(c.origin).toEqual([x - R / 2, y - R / 2, z - R / 2]);
      }
      // Test centres lie in fewer blocks than the training centres (≈ 30 % of the occupied blocks held out).
      const blockOf = (c: Vec3) => c.map((x) => Math.floor(x / (2 * R))).join(',');
      const testBlocks = new Set(s.test.map((c) => blockOf(c.center)));
      const trainBlocks = new Set(s.train.map((c) => blockOf(c.center)));
      for (const b of testBlocks) expect(trainBlocks.has(b)).toBe(false);
      expect(s.testBlocks).toBe(Math.round(0.3 * s.blocks));
    }
  });

  it('is seeded: the same seed gives the same crops, another seed other crops', () => {
    const a = blockSplitCrops(new Rng(9), v, 0, [1, 2], opts);
    const b = blockSplitCrops(new Rng(9), v, 0, [1, 2], opts);
    const c = blockSplitCrops(new Rng(10), v, 0, [1, 2], opts);
    expect(b).toEqual(a);
    expect(c.test.map((x) => x.center)).not.toEqual(a.test.map((x) => x.center));
  });

  it('drops, and names, a structure too small to fill both sides', () => {
    const s = blockSplitCrops(new Rng(1), v, 0, [1, 2, 3], opts);
    expect(s.kept).toEqual([1, 2]);
    expect(s.dropped.map((d) => d.id)).toEqual([3]);
    expect(s.dropped[0].reason).toMatch(/held-out blocks|disjoint from the test crops/);
    expect(s.test.some((c) => c.label === 3) || s.train.some((c) => c.label === 3)).toBe(false);
  });

  it('refuses bad settings and a volume without labels, naming the problem', () => {
    expect(() => blockSplitCrops(new Rng(1), v, 0, [1, 2], { ...opts, testShare: 1 })).toThrow(/test share/);
    expect(() => blockSplitCrops(new Rng(1), v, 0, [1, 2], { ...opts, testPerStructure: 0 })).toThrow(/test crops per structure/);
    expect(() => blockSplitCrops(new Rng(1), { ...v, labels: undefined }, 0, [1, 2], opts)).toThrow(/v\.nii\.gz.*no label map/);
  });

  it('the former random split of the same scan DOES put overlapping crops on both sides (the leak this removes)', () => {
    const crops = sampleStructureCrops(new Rng(1), [v], [1, 2], 28, R);
    const split = splitCrops(new Rng(1), crops, 0.3);
    const leaks = split.test.filter((te) => split.train.some((tr) => boxesIntersect(te.origin, tr.origin, R) && tr.label === te.label));
    expect(leaks.length).toBeGreaterThan(0);
  });
});
