// NiiVue's NVImage (what its loaders produce) → our Volume: first 3-D frame, rescale slope/intercept
// applied, compact storage (CT in HU fits Int16), plus the facts the dataset panel shows.
import { NVImage } from '@niivue/niivue';
import type { Volume, VoxelArray } from '../volume/volume';
import { IngestError } from './readBytes';
import { sizeProblem } from './limits';
import { contentHash, ctCheck, intensityStats, orientationCode } from './volumeFacts';
import type { IngestFormat, LoadedVolume } from './types';

/** NVImage.new with its defaults spelled out (its type declaration lists every parameter). */
export async function nvImageFromBytes(bytes: ArrayBuffer, name: string, paired: ArrayBuffer | null = null): Promise<NVImage> {
  const make = NVImage.new as unknown as (...a: unknown[]) => Promise<NVImage>;
  try {
    const img = await make(bytes, name, 'gray', 1, paired, NaN, NaN, true, 0.02, false, false, '', 0);
    if (!img || !img.hdr || !img.img) throw new Error('the reader returned no image');
    return img;
  } catch (e) {
    throw new IngestError(`could not be read as an image: ${(e as Error).message}`);
  }
}

const NON_SCALAR: Record<number, string> = { 32: 'complex', 128: 'RGB colour', 1792: 'complex', 2048: 'complex', 2304: 'RGBA colour' };

export interface VolumeSource {
  id: string;
  name: string;
  sourceFiles: string[];
  format: IngestFormat;
  modality?: string;
}

export function volumeFromNVImage(img: NVImage, src: VolumeSource): LoadedVolume {
  const hdr = img.hdr!;
  const warnings: string[] = [];
  const nonScalar = NON_SCALAR[hdr.datatypeCode];
  if (nonScalar) throw new IngestError(`${nonScalar} image: a scalar CT volume is needed`);

  const nd = hdr.dims[0];
  const dims = [1, 2, 3].map((i) => (i <= nd ? Math.max(1, hdr.dims[i]) : 1)) as [number, number, number];
  const flat = dims.filter((d) => d === 1).length;
  if (flat > 0) throw new IngestError(`${flat === 1 ? '2-D' : '1-D'} image (${dims.join('×')}): a 3-D volume is needed`);
  let frames = 1;
  for (let i = 4; i <= nd && i < hdr.dims.length; i++) frames *= Math.max(1, hdr.dims[i]);
  if (frames > 1) warnings.push(`4-D series with ${frames} frames: only the first 3-D frame is loaded`);
  const tooBig = sizeProblem(dims, (img.img as unknown as VoxelArray).BYTES_PER_ELEMENT);
  if (tooBig) throw new IngestError(tooBig);

  let spacing = [1, 2, 3].map((i) => Math.abs(hdr.pixDims[i])) as [number, number, number];
  let affine = hdr.affine.map((row) => row.map(Number));
  const validSpacing = (sp: number[]) => sp.every((v) => v > 0 && Number.isFinite(v));
  // A NIfTI with pixdim 0 and a valid sform was accepted (with a warning) by the header check: the sform decides.
  if (!validSpacing(spacing) && affineUsable(affine)) spacing = [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c])) as [number, number, number];
  if (!validSpacing(spacing)) throw new IngestError(`invalid voxel spacing ${spacing.join(' × ')} mm`);

  if (!affineUsable(affine)) {
    warnings.push('no usable orientation in the header: assuming RAS with the voxel spacing');
    affine = [
      [spacing[0], 0, 0, 0],
      [0, spacing[1], 0, 0],
      [0, 0, spacing[2], 0],
      [0, 0, 0, 1],
    ];
  }

  const nvox = dims[0] * dims[1] * dims[2];
  const raw = img.img as unknown as VoxelArray;
  if (raw.length < nvox) throw new IngestError(`holds ${raw.length} voxels, fewer than its ${dims.join('×')} grid needs (truncated?)`);
  let slope = hdr.scl_slope, inter = hdr.scl_inter;
  if (!Number.isFinite(slope) || slope === 0) slope = 1;
  if (!Number.isFinite(inter)) inter = 0;
  const data = compact(raw.subarray(0, nvox) as VoxelArray, slope, inter);

  const stats = intensityStats(data);
  const bad = stats.nanCount + stats.infCount;
  if (bad === nvox) throw new IngestError(stats.infCount === 0 ? 'every voxel is NaN: the volume holds no values' : 'every voxel is NaN or infinite: the volume holds no values');
  let exclude: string | undefined;
  if (bad > 0) {
    const parts = [stats.nanCount ? `${stats.nanCount} NaN` : '', stats.infCount ? `${stats.infCount} infinite` : ''].filter(Boolean).join(' and ');
    warnings.push(`holds ${parts} voxels (of ${nvox}); preprocessing would treat them as 0`);
    exclude = 'holds NaN or infinite voxels';
  }
  const constant = stats.min === stats.max;
  const ct = ctCheck(stats, src.modality);
  if (constant) {
    // Never a label map (no ids) and nothing to learn from.
    const what = stats.min === 0 ? 'every voxel is 0 (an empty volume)' : `every voxel is ${stats.min} (a constant volume)`;
    warnings.push(`${what}: not a scan, not a label map`);
    exclude = what;
  } else if (!ct.huLike) {
    warnings.push(`not HU-like: ${ct.note}`);
    exclude ??= `not HU-like (${ct.note})`;
  }
  const volume: Volume = { id: src.id, name: src.name, dims, spacing, affine, data, sourceFiles: src.sourceFiles };
  return {
    volume,
    facts: {
      format: src.format,
      orientation: orientationCode(affine),
      min: stats.min,
      max: stats.max,
      integerValued: stats.integerValued,
      distinctValues: stats.distinctValues,
      ct,
      modality: src.modality,
      warnings,
      nanCount: stats.nanCount,
      infCount: stats.infCount,
      exclude,
      contentHash: contentHash(dims, affine, data),
    },
  };
}

function affineUsable(a: number[][]): boolean {
  if (a.length < 3 || a.some((r) => r.length < 4 || r.some((v) => !Number.isFinite(v)))) return false;
  const det =
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
    a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
    a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  return Math.abs(det) > 1e-12;
}

/**
 * Values after slope/intercept in the smallest array that holds them exactly: integer values within
 * int16 (CT in HU) → Int16Array, other integers → Int32Array, else Float32Array. Always a fresh
 * buffer of exactly this length, so it can be transferred between threads.
 */
export function compact(raw: VoxelArray, slope: number, inter: number): VoxelArray {
  const n = raw.length;
  const identity = slope === 1 && inter === 0;
  const narrowInt = raw instanceof Int16Array || raw instanceof Uint8Array || raw instanceof Int8Array || raw instanceof Uint16Array;
  if (identity && narrowInt) return raw.slice();
  let integral = true, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = raw[i] * slope + inter;
    if (integral && v !== Math.round(v)) integral = false;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let out: VoxelArray;
  if (integral && lo >= -32768 && hi <= 32767) out = new Int16Array(n);
  else if (integral && lo >= -2147483648 && hi <= 2147483647) out = new Int32Array(n);
  else out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = raw[i] * slope + inter;
  return out;
}
