// Facts about a loaded volume that the dataset panel shows: orientation code, intensity range,
// whether it could be a label map, whether its values look like Hounsfield units.
import type { VoxelArray } from '../volume/volume';
import { LABEL_MAX_DISTINCT } from './limits';

/**
 * Orientation code of the voxel axes from a voxel→RAS affine (row-major 4×4), nibabel's convention:
 * each letter names the world direction a voxel axis points to (identity → 'RAS', DICOM-style → 'LPS').
 */
export function orientationCode(affine: number[][]): string {
  const pos = ['R', 'A', 'S'], neg = ['L', 'P', 'I'];
  const used = new Set<number>();
  let code = '';
  for (let j = 0; j < 3; j++) {
    let best = -1, bestAbs = -1;
    for (let i = 0; i < 3; i++) {
      const a = Math.abs(affine[i][j]);
      if (!used.has(i) && a > bestAbs) { best = i; bestAbs = a; }
    }
    if (bestAbs <= 0) return '???';
    used.add(best);
    code += affine[best][j] > 0 ? pos[best] : neg[best];
  }
  return code;
}

export interface IntensityStats {
  /** Range of the finite values (0..0 when there are none). */
  min: number;
  max: number;
  integerValued: boolean;
  /** Distinct finite values counted up to LABEL_MAX_DISTINCT + 1 (then counting stops). */
  distinctValues: number;
  nanCount: number;
  infCount: number;
}

export function intensityStats(data: VoxelArray): IntensityStats {
  let min = Infinity, max = -Infinity, integerValued = true, nanCount = 0, infCount = 0;
  const isFloat = data instanceof Float32Array || data instanceof Float64Array;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (isFloat && !Number.isFinite(v)) {
      if (v !== v) nanCount++;
      else infCount++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    if (isFloat && integerValued && v !== Math.round(v)) integerValued = false;
  }
  if (!Number.isFinite(min)) { min = 0; max = 0; }
  // Distinct values only matter for label-map detection: stop as soon as there are too many.
  let distinctValues = 0;
  if (integerValued) {
    const seen = new Set<number>();
    for (let i = 0; i < data.length && seen.size <= LABEL_MAX_DISTINCT; i++) if (Number.isFinite(data[i])) seen.add(data[i]);
    distinctValues = seen.size;
  } else {
    distinctValues = LABEL_MAX_DISTINCT + 1;
  }
  return { min, max, integerValued, distinctValues, nanCount, infCount };
}

/** A 64-bit (two 32-bit FNV-1a lanes) hash of the grid, the affine and the voxel bytes. */
export function contentHash(dims: readonly number[], affine: number[][], data: VoxelArray): string {
  const words = new Uint32Array(data.buffer, data.byteOffset, Math.floor(data.byteLength / 4));
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ data.length;
  const mix = (w: number) => {
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h2 = Math.imul(h2 ^ w, 0x5bd1e995) ^ (h2 >>> 15);
  };
  for (const d of dims) mix(d);
  for (const row of affine) for (const v of row) mix(Math.round(v * 1000));
  mix(data.BYTES_PER_ELEMENT);
  for (let i = 0; i < words.length; i++) mix(words[i]);
  const tail = new Uint8Array(data.buffer, data.byteOffset + words.length * 4, data.byteLength - words.length * 4);
  for (let i = 0; i < tail.length; i++) mix(tail[i]);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/**
 * Does this look like CT in Hounsfield units? Air is about -1000 HU, bone and metal stay below
 * a few thousand; an 8-bit image (0..255) or MR intensities (no negatives) are not HU.
 */
export function ctCheck(stats: IntensityStats, modality?: string): { huLike: boolean; note: string } {
  const { min, max } = stats;
  if (modality && modality.toUpperCase() !== 'CT') return { huLike: false, note: `modality is ${modality}, not CT` };
  if (min >= 0 && max <= 255) return { huLike: false, note: `values ${fmt(min)}..${fmt(max)} look like an 8-bit image, not Hounsfield units` };
  if (min >= 0) return { huLike: false, note: `no negative values (${fmt(min)}..${fmt(max)}): air should be about -1000 HU` };
  if (min > -500) return { huLike: false, note: `minimum ${fmt(min)} is far above air (-1000 HU): not calibrated HU?` };
  if (min < -10000 || max > 40000) return { huLike: false, note: `range ${fmt(min)}..${fmt(max)} is outside plausible HU` };
  return { huLike: true, note: 'HU-like' };
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
