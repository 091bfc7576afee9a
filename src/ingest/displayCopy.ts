// The viewer draws on the main thread (NiiVue builds its image and uploads one 3-D texture in single tasks):
// above a voxel budget it gets a block-averaged copy made here, in the ingest worker, so the page never
// freezes; training and preprocessing keep the full-resolution voxels.
import type { DisplayCopy, Volume, VoxelArray } from '../volume/volume';

/**
 * Voxels the viewer may draw at full resolution. Measured in headless Chromium on software WebGL (SwiftShader,
 * 2 shared cores, load ~16): NiiVue's image build took 325 ms and its texture upload 250 ms for 1.96 M voxels,
 * each one task. The budget keeps ordinary CT at its own resolution (the bundled 122×101×112 and 128×128×141
 * scans, a 256×256×64 series) — a blocky first picture costs more than two sub-second tasks on a software
 * renderer, and a GPU uploads 4 M voxels in milliseconds — while a 512×512×300 scan is shown 3× coarser.
 */
export const DISPLAY_MAX_VOXELS = 4 * 1024 * 1024;

/** The integer block size that brings the volume under the budget (1: no copy needed). */
export function displayFactor(dims: readonly number[], budget = DISPLAY_MAX_VOXELS): number {
  let f = 1;
  while (Math.ceil(dims[0] / f) * Math.ceil(dims[1] / f) * Math.ceil(dims[2] / f) > budget) f++;
  return f;
}

/** A block-averaged copy (same array type, rounded for integer types), or null when the volume fits the budget. */
export function makeDisplayCopy(vol: Pick<Volume, 'dims' | 'spacing' | 'affine' | 'data'>, budget = DISPLAY_MAX_VOXELS, onProgress?: (f: number) => void): DisplayCopy | null {
  const f = displayFactor(vol.dims, budget);
  if (f === 1) return null;
  const [nx, ny, nz] = vol.dims;
  const dims: [number, number, number] = [Math.ceil(nx / f), Math.ceil(ny / f), Math.ceil(nz / f)];
  const src = vol.data;
  const data = new (src.constructor as new (n: number) => VoxelArray)(dims[0] * dims[1] * dims[2]);
  const isFloat = src instanceof Float32Array || src instanceof Float64Array;
  // Sum rows of f×f blocks one output z-slab at a time (sequential reads of the source).
  const sums = new Float64Array(dims[0] * dims[1]);
  const counts = new Uint32Array(dims[0] * dims[1]);
  for (let oz = 0; oz < dims[2]; oz++) {
    sums.fill(0);
    counts.fill(0);
    for (let z = oz * f; z < Math.min(nz, oz * f + f); z++)
      for (let y = 0; y < ny; y++) {
        const row = (z * ny + y) * nx;
        const orow = ((y / f) | 0) * dims[0];
        for (let x = 0; x < nx; x++) {
          const v = src[row + x];
          if (isFloat && !Number.isFinite(v)) continue;
          const o = orow + ((x / f) | 0);
          sums[o] += v;
          counts[o]++;
        }
      }
    const base = oz * dims[0] * dims[1];
    for (let i = 0; i < sums.length; i++) {
      const m = counts[i] ? sums[i] / counts[i] : 0;
      data[base + i] = isFloat ? m : Math.round(m);
    }
    onProgress?.((oz + 1) / dims[2]);
  }
  // Copy voxel i sits at the centre of its block: source index f·i + (f - 1)/2.
  const c = (f - 1) / 2;
  const a = vol.affine;
  const affine = [0, 1, 2].map((r) => [a[r][0] * f, a[r][1] * f, a[r][2] * f, a[r][0] * c + a[r][1] * c + a[r][2] * c + a[r][3]]);
  affine.push([0, 0, 0, 1]);
  return { dims, spacing: vol.spacing.map((s) => s * f) as [number, number, number], affine, data, factor: f };
}

/** Labels for a display copy: the label of each block's centre voxel (nearest neighbour, no mixing of ids). */
export function displayLabels<T extends NonNullable<Volume['labels']>>(labels: T, dims: readonly number[], copy: DisplayCopy): T {
  const f = copy.factor, c = Math.floor((f - 1) / 2);
  const out = new (labels.constructor as new (n: number) => T)(copy.dims[0] * copy.dims[1] * copy.dims[2]);
  let o = 0;
  for (let k = 0; k < copy.dims[2]; k++) {
    const z = Math.min(dims[2] - 1, k * f + c);
    for (let j = 0; j < copy.dims[1]; j++) {
      const y = Math.min(dims[1] - 1, j * f + c);
      const row = (z * dims[1] + y) * dims[0];
      for (let i = 0; i < copy.dims[0]; i++) out[o++] = labels[row + Math.min(dims[0] - 1, i * f + c)];
    }
  }
  return out;
}
