// Tiny synthetic labelled volumes for the benchmark tests: a noisy background with three "organs" of distinct
// intensity and texture (a bright ball, a striped box, a dim speckled ball) and the matching label map.
import { Rng } from '../../src/voco/rng';
import type { PreprocessedVolume } from '../../src/volume/volume';

export function syntheticLabelledVolume(id: string, seed: number, dims: [number, number, number] = [48, 48, 24]): PreprocessedVolume {
  const rng = new Rng(seed);
  const [nx, ny, nz] = dims;
  const data = new Float32Array(nx * ny * nz);
  const labels = new Uint8Array(nx * ny * nz);
  // Positions move a little per volume, so the volumes differ.
  const j = () => rng.int(-2, 3);
  const ball1 = [14 + j(), 14 + j(), 12 + j()];
  const box = [30 + j(), 8 + j(), 4];
  const ball3 = [34 + j(), 36 + j(), 12 + j()];
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        let v = 0.1 + 0.05 * rng.next();
        let l = 0;
        if (Math.hypot(x - ball1[0], y - ball1[1], z - ball1[2]) < 8) {
          v = 0.8 + 0.05 * rng.next();
          l = 1;
        } else if (x >= box[0] && x < box[0] + 14 && y >= box[1] && y < box[1] + 14 && z >= box[2] && z < box[2] + 16) {
          v = (x >> 1) % 2 ? 0.55 : 0.45;
          l = 2;
        } else if (Math.hypot(x - ball3[0], y - ball3[1], z - ball3[2]) < 7) {
          v = 0.3 + 0.2 * rng.next();
          l = 3;
        }
        data[i] = v;
        labels[i] = l;
      }
  const affine = [
    [3, 0, 0, 0],
    [0, 3, 0, 0],
    [0, 0, 3, 0],
    [0, 0, 0, 1],
  ];
  return { id, name: `${id}.nii.gz`, dims, spacing: [3, 3, 3], affine, data, labels };
}

export const SYNTHETIC_NAMES: Record<number, string> = { 1: 'bright_ball', 2: 'striped_box', 3: 'speckled_ball' };
