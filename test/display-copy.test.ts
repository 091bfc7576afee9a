// The viewer's copy of a big volume (made in the ingest worker): block means on the right grid, under the budget.
import { describe, expect, it } from 'vitest';
import { displayFactor, displayLabels, makeDisplayCopy } from '../src/ingest/displayCopy';
import { voxelToWorld } from '../src/preprocess/geometry';

describe('display copy', () => {
  it('picks the smallest block size under the budget', () => {
    expect(displayFactor([122, 101, 112], 1 << 20)).toBe(2);
    expect(displayFactor([512, 512, 200], 1 << 20)).toBe(4);
    expect(displayFactor([1024, 1024, 480], 1 << 20)).toBe(8);
    expect(displayFactor([64, 64, 64], 1 << 20)).toBe(1);
  });

  it('averages each block, keeps the world position of the block centres, skips NaN', () => {
    const dims: [number, number, number] = [5, 4, 3];
    const data = new Float32Array(60).map((_, i) => i);
    data[0] = NaN;
    const affine = [[-2, 0, 0, 10], [0, 3, 0, -5], [0, 0, 1.5, 7], [0, 0, 0, 1]];
    const copy = makeDisplayCopy({ dims, spacing: [2, 3, 1.5], affine, data }, 12)!;
    expect(copy.factor).toBe(2);
    expect(copy.dims).toEqual([3, 2, 2]);
    expect(copy.spacing).toEqual([4, 6, 3]);
    // Brute-force mean of each block (the CPU reference), NaN left out.
    for (let k = 0; k < 2; k++)
      for (let j = 0; j < 2; j++)
        for (let i = 0; i < 3; i++) {
          const vals: number[] = [];
          for (let z = 2 * k; z < Math.min(3, 2 * k + 2); z++)
            for (let y = 2 * j; y < Math.min(4, 2 * j + 2); y++)
              for (let x = 2 * i; x < Math.min(5, 2 * i + 2); x++) if (!Number.isNaN(data[(z * 4 + y) * 5 + x])) vals.push(data[(z * 4 + y) * 5 + x]);
          expect(copy.data[(k * 2 + j) * 3 + i]).toBeCloseTo(vals.reduce((a, b) => a + b, 0) / vals.length, 5);
        }
    // Copy voxel (1, 1, 0) is the centre of source voxels 2..3, 2..3, 0..1: source index (2.5, 2.5, 0.5).
    expect(voxelToWorld(copy.affine, [1, 1, 0])).toEqual(voxelToWorld(affine, [2.5, 2.5, 0.5]));
  });

  it('integer volumes stay integer (rounded means); labels take the block centre, never a mixed id', () => {
    const dims: [number, number, number] = [4, 4, 4];
    const data = new Int16Array(64).map((_, i) => (i % 2 ? -1000 : 41));
    const copy = makeDisplayCopy({ dims, spacing: [1, 1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data }, 8)!;
    expect(copy.data).toBeInstanceOf(Int16Array);
    expect(Array.from(copy.data)).toEqual(new Array(8).fill(Math.round((41 - 1000) / 2)));
    const labels = new Uint8Array(64).map((_, i) => (i % 4 < 2 ? 1 : 2));
    expect(Array.from(displayLabels(labels, dims, copy))).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
  });
});
