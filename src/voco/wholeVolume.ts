// The reference's second data mode: for whole-body and head-neck sets the authors resize the whole preprocessed
// volume to the n·r × n·r × r region (MONAI Resized, trilinear) instead of cutting a random region out of it, so the
// base-crop grid spans the whole scan. Pure numbers; the trainer packs the resized copies for training.
import { regionSize } from './cropPlan';

/** How a training region is taken from a volume: a random n·r × n·r × r window, or the whole volume resized to it. */
export type DataMode = 'region' | 'whole';
export const DATA_MODES: DataMode[] = ['region', 'whole'];

/**
 * Trilinear resize of a volume (x fastest) to `out` dims, with half-voxel centres as torch's
 * interpolate(mode='trilinear', align_corners=False) (what MONAI's Resize calls): output voxel i samples the input at
 * (i + 0.5)·in/out − 0.5, clamped to the edge. No anti-aliasing (MONAI's default).
 */
export function resizeTrilinear(data: ArrayLike<number>, dims: readonly number[], out: readonly number[]): Float32Array {
  const [nx, ny, nz] = dims;
  if (data.length !== nx * ny * nz) throw new Error(`resizeTrilinear: ${data.length} values do not fill ${dims.join('×')}`);
  if (!out.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`resizeTrilinear: target dims [${out.join(', ')}] must be positive integers`);
  const axes = [0, 1, 2].map((a) => {
    const n = dims[a];
    const m = out[a];
    const lo = new Int32Array(m);
    const hi = new Int32Array(m);
    const w = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const u = Math.min(Math.max(((i + 0.5) * n) / m - 0.5, 0), n - 1);
      lo[i] = Math.floor(u);
      hi[i] = Math.min(lo[i] + 1, n - 1);
      w[i] = u - lo[i];
    }
    return { lo, hi, w };
  });
  const [mx, my, mz] = out;
  const res = new Float32Array(mx * my * mz);
  const X = axes[0], Y = axes[1], Z = axes[2];
  const at = (x: number, y: number, z: number) => data[x + nx * (y + ny * z)];
  let o = 0;
  for (let z = 0; z < mz; z++) {
    const z0 = Z.lo[z], z1 = Z.hi[z], fz = Z.w[z];
    for (let y = 0; y < my; y++) {
      const y0 = Y.lo[y], y1 = Y.hi[y], fy = Y.w[y];
      for (let x = 0; x < mx; x++) {
        const x0 = X.lo[x], x1 = X.hi[x], fx = X.w[x];
        const c00 = at(x0, y0, z0) + (at(x1, y0, z0) - at(x0, y0, z0)) * fx;
        const c10 = at(x0, y1, z0) + (at(x1, y1, z0) - at(x0, y1, z0)) * fx;
        const c01 = at(x0, y0, z1) + (at(x1, y0, z1) - at(x0, y0, z1)) * fx;
        const c11 = at(x0, y1, z1) + (at(x1, y1, z1) - at(x0, y1, z1)) * fx;
        const c0 = c00 + (c10 - c00) * fy;
        const c1 = c01 + (c11 - c01) * fy;
        res[o++] = c0 + (c1 - c0) * fz;
      }
    }
  }
  return res;
}

/** The volume as training sees it in `mode`: unchanged ('region'), or resized to the n·r × n·r × r region ('whole'). */
export function trainingVolume(
  data: Float32Array,
  dims: [number, number, number],
  mode: DataMode,
  n: number,
  r: number,
): { data: Float32Array; dims: [number, number, number] } {
  if (mode === 'region') return { data, dims };
  if (mode !== 'whole') throw new Error(`unknown data mode "${String(mode)}" (use ${DATA_MODES.join(' or ')})`);
  const size = regionSize(n, r);
  return { data: resizeTrilinear(data, dims, size), dims: size };
}
