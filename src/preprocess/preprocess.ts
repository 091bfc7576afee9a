// Scan → training representation, step by step as in the VoCo reference (MONAI):
//   Orientationd(RAS) → Spacingd(bilinear image, nearest label) → ScaleIntensityRanged(clip) → CropForegroundd → SpatialPadd.
// Every step keeps a voxel→world affine, so the result overlays the source scan exactly.

import type { PreprocessedVolume, Volume, VoxelArray } from '../volume/volume';
import { rasAxisMapping, roundHalfEven, type RasAxisMapping } from '../volume/rasGrid';
import { voxelCount } from '../volume/volume';
import {
  invertAffine,
  isValidAffine,
  multiplyAffines,
  spacingFromAffine,
  subgridAffine,
  voxelToWorld,
  worldToVoxel,
  type Mat4,
  type Vec3,
} from './geometry';
import type { PreprocessSettings } from './settings';

export { invertAffine, multiplyAffines, spacingFromAffine, subgridAffine, voxelToWorld, worldToVoxel };
export type { Mat4, Vec3 };
export { rasAxisMapping, type RasAxisMapping };

export type LabelArray = NonNullable<Volume['labels']>;

/** An image on a voxel grid (x fastest) with its voxel→world affine: what passes between the late steps. */
export interface GridImage {
  dims: Vec3;
  affine: Mat4;
  data: Float32Array;
  labels?: LabelArray;
}

/** Half-open voxel box: start inclusive, end exclusive. */
export interface Box3 {
  start: Vec3;
  end: Vec3;
}

type TypedArrayCtor<T> = new (length: number) => T;

function allocLike<T extends VoxelArray>(like: T, length: number): T {
  return new (like.constructor as TypedArrayCtor<T>)(length);
}

// ─────────────────────────────────────────────── orientation

/** Permute and flip voxel axes: output axis w reads source axis mapping.fromAxis[w], reversed where flip[w]. */
export function permuteFlip<T extends VoxelArray>(data: T, dims: Vec3, mapping: RasAxisMapping): { data: T; dims: Vec3 } {
  const inStride = [1, dims[0], dims[0] * dims[1]];
  const outDims: Vec3 = [0, 0, 0];
  const step = [0, 0, 0];
  let base = 0;
  for (let w = 0; w < 3; w++) {
    const i = mapping.fromAxis[w];
    outDims[w] = dims[i];
    if (mapping.flip[w]) {
      step[w] = -inStride[i];
      base += (dims[i] - 1) * inStride[i];
    } else {
      step[w] = inStride[i];
    }
  }
  const out = allocLike(data, data.length);
  const [nx, ny, nz] = outDims;
  const [sx, sy, sz] = step;
  let o = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let p = base + z * sz + y * sy;
      for (let x = 0; x < nx; x++, p += sx) out[o++] = data[p];
    }
  }
  return { data: out, dims: outDims };
}

/** The affine of the permuted/flipped grid, so that every voxel keeps its world position. */
export function permuteFlipAffine(affine: Mat4, dims: Vec3, mapping: RasAxisMapping): Mat4 {
  const out: Mat4 = [
    [0, 0, 0, affine[0][3]],
    [0, 0, 0, affine[1][3]],
    [0, 0, 0, affine[2][3]],
    [0, 0, 0, 1],
  ];
  for (let w = 0; w < 3; w++) {
    const i = mapping.fromAxis[w];
    const sign = mapping.flip[w] ? -1 : 1;
    for (let r = 0; r < 3; r++) {
      out[r][w] = sign * affine[r][i];
      // new index 0 on a flipped axis is old index n-1
      if (mapping.flip[w]) out[r][3] += affine[r][i] * (dims[i] - 1);
    }
  }
  return out;
}

function isIdentityMapping(mapping: RasAxisMapping): boolean {
  return mapping.fromAxis.every((a, w) => a === w) && mapping.flip.every((f) => !f);
}

/** Orientationd(axcodes="RAS"): voxel axes x, y, z run towards Right, Anterior, Superior. Returns `vol` itself if already RAS. */
export function reorientToRAS(vol: Volume): Volume {
  const mapping = rasAxisMapping(vol.affine);
  if (isIdentityMapping(mapping)) return vol;
  const { data, dims } = permuteFlip(vol.data, vol.dims, mapping);
  const spacing: Vec3 = [vol.spacing[mapping.fromAxis[0]], vol.spacing[mapping.fromAxis[1]], vol.spacing[mapping.fromAxis[2]]];
  return {
    ...vol,
    dims,
    spacing,
    affine: permuteFlipAffine(vol.affine, vol.dims, mapping),
    data,
    labels: vol.labels ? permuteFlip(vol.labels, vol.dims, mapping).data : undefined,
  };
}

/** reorientToRAS for a GridImage, with a mapping computed beforehand. */
export function reorientGrid(img: GridImage, mapping: RasAxisMapping): GridImage {
  if (isIdentityMapping(mapping)) return img;
  const { data, dims } = permuteFlip(img.data, img.dims, mapping);
  return {
    dims,
    affine: permuteFlipAffine(img.affine, img.dims, mapping),
    data,
    labels: img.labels ? permuteFlip(img.labels, img.dims, mapping).data : undefined,
  };
}

// ─────────────────────────────────────────────── spacing

/** Output grid of a resampling, in source voxel coordinates: output voxel i sits at start + i·step. */
export interface ResampleGrid {
  dims: Vec3;
  start: Vec3;
  step: Vec3;
}

export interface ResampleResult<T> extends ResampleGrid {
  data: T;
}

/**
 * New grid for a target spacing. The voxel count scales the physical extent of the voxels:
 * m = round(n · s / t) (MONAI Spacing with scale_extent=True; 122 voxels of 3 mm → 244 of 1.5 mm).
 * MONAI's default (scale_extent=False) scales centre-to-centre distances instead, round((n−1)·s/t) + 1 = 243;
 * the studio follows the extent rule so the field of view is kept. The output spacing is exactly t and the
 * output grid is centred on the source grid (for exact ratios its edges coincide with the source's edges).
 */
export function resampleGrid(dims: Vec3, spacing: Vec3, targetSpacing: Vec3): ResampleGrid {
  const out: ResampleGrid = { dims: [0, 0, 0], start: [0, 0, 0], step: [0, 0, 0] };
  for (let a = 0; a < 3; a++) {
    const ratio = spacing[a] / targetSpacing[a];
    const m = Math.max(1, roundHalfEven(dims[a] * ratio));
    const step = targetSpacing[a] / spacing[a];
    out.dims[a] = m;
    out.step[a] = step;
    out.start[a] = (dims[a] - 1 - (m - 1) * step) / 2;
  }
  return out;
}

/** Per output index along one axis: lower source index, upper source index, weight of the upper. Border padding. */
function linearTaps(n: number, m: number, start: number, step: number) {
  const i0 = new Int32Array(m);
  const i1 = new Int32Array(m);
  const w = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    const c = Math.min(Math.max(start + j * step, 0), n - 1);
    const f = Math.floor(c);
    i0[j] = f;
    i1[j] = Math.min(f + 1, n - 1);
    w[j] = c - f;
  }
  return { i0, i1, w };
}

/** `mirrored`: break ties (x.5) as they would be broken on the axis reversed, see preprocessVolume. */
function nearestTaps(n: number, m: number, start: number, step: number, mirrored = false): Int32Array {
  const idx = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const c = start + j * step;
    const i = mirrored ? n - 1 - roundHalfEven(n - 1 - c) : roundHalfEven(c);
    idx[j] = Math.min(Math.max(i, 0), n - 1);
  }
  return idx;
}

function isIdentityAxis(n: number, m: number, start: number, step: number): boolean {
  return n === m && Math.abs(start) < 1e-9 && Math.abs(step - 1) < 1e-9;
}

/** One linear-interpolation pass along `axis`; the other two axes are untouched. */
function linearPass(src: ArrayLike<number>, dims: Vec3, axis: number, m: number, start: number, step: number): { data: Float32Array; dims: Vec3 } {
  const [nx, ny, nz] = dims;
  const outDims: Vec3 = [nx, ny, nz];
  outDims[axis] = m;
  const out = new Float32Array(outDims[0] * outDims[1] * outDims[2]);
  const { i0, i1, w } = linearTaps(dims[axis], m, start, step);
  let o = 0;
  if (axis === 0) {
    for (let row = 0, rows = ny * nz; row < rows; row++) {
      const base = row * nx;
      for (let x = 0; x < m; x++) {
        const a = src[base + i0[x]];
        out[o++] = a + (src[base + i1[x]] - a) * w[x];
      }
    }
  } else if (axis === 1) {
    for (let z = 0; z < nz; z++) {
      const plane = z * nx * ny;
      for (let y = 0; y < m; y++) {
        const r0 = plane + i0[y] * nx;
        const r1 = plane + i1[y] * nx;
        const wy = w[y];
        for (let x = 0; x < nx; x++) {
          const a = src[r0 + x];
          out[o++] = a + (src[r1 + x] - a) * wy;
        }
      }
    }
  } else {
    const planeSize = nx * ny;
    for (let z = 0; z < m; z++) {
      const p0 = i0[z] * planeSize;
      const p1 = i1[z] * planeSize;
      const wz = w[z];
      for (let p = 0; p < planeSize; p++) {
        const a = src[p0 + p];
        out[o++] = a + (src[p1 + p] - a) * wz;
      }
    }
  }
  return { data: out, dims: outDims };
}

/**
 * Resample to a target spacing (Spacingd): 'linear' is separable trilinear (one pass per axis, most shrinking
 * axis first, border padding) and returns Float32Array; 'nearest' gathers with precomputed indices and keeps the
 * input's array type (labels keep their ids).
 */
export function resample(data: VoxelArray, dims: Vec3, spacing: Vec3, targetSpacing: Vec3, mode: 'linear'): ResampleResult<Float32Array>;
export function resample<T extends VoxelArray>(data: T, dims: Vec3, spacing: Vec3, targetSpacing: Vec3, mode: 'nearest'): ResampleResult<T>;
export function resample(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  targetSpacing: Vec3,
  mode: 'linear' | 'nearest',
): ResampleResult<VoxelArray> {
  if (data.length !== voxelCount(dims)) throw new Error(`resample: ${data.length} values for dims ${dims.join('×')}`);
  const grid = resampleGrid(dims, spacing, targetSpacing);
  if (mode === 'nearest') return { ...grid, data: resampleNearest(data, dims, grid) };

  // Shrinking axes first keeps the intermediate volumes small (bulk of the cost for 512² CT).
  const order = [0, 1, 2].sort((a, b) => grid.dims[a] / dims[a] - grid.dims[b] / dims[b]);
  let cur: ArrayLike<number> = data;
  let curDims: Vec3 = [dims[0], dims[1], dims[2]];
  for (const axis of order) {
    if (isIdentityAxis(dims[axis], grid.dims[axis], grid.start[axis], grid.step[axis])) continue;
    const next = linearPass(cur, curDims, axis, grid.dims[axis], grid.start[axis], grid.step[axis]);
    cur = next.data;
    curDims = next.dims;
  }
  const out = cur instanceof Float32Array && cur !== data ? cur : Float32Array.from(cur);
  return { ...grid, data: out };
}

export function resampleNearest<T extends VoxelArray>(data: T, dims: Vec3, grid: ResampleGrid, mirrored: readonly boolean[] = [false, false, false]): T {
  const [nx, ny] = dims;
  const [mx, my, mz] = grid.dims;
  const ix = nearestTaps(dims[0], mx, grid.start[0], grid.step[0], mirrored[0]);
  const iy = nearestTaps(dims[1], my, grid.start[1], grid.step[1], mirrored[1]);
  const iz = nearestTaps(dims[2], mz, grid.start[2], grid.step[2], mirrored[2]);
  const out = allocLike(data, mx * my * mz);
  let o = 0;
  for (let z = 0; z < mz; z++) {
    const plane = iz[z] * nx * ny;
    for (let y = 0; y < my; y++) {
      const row = plane + iy[y] * nx;
      for (let x = 0; x < mx; x++) out[o++] = data[row + ix[x]];
    }
  }
  return out;
}

// ─────────────────────────────────────────────── intensity

/**
 * ScaleIntensityRanged(a_min=lo, a_max=hi, b_min=0, b_max=1, clip=True). `out` may be `data` itself (in place).
 * NaN (float scans mark missing data so) becomes 0, like air, instead of poisoning training.
 */
export function windowToUnit(data: ArrayLike<number>, window: [number, number], out?: Float32Array): Float32Array {
  const [lo, hi] = window;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`HU window [${lo}, ${hi}] must have lo < hi`);
  const res = out ?? new Float32Array(data.length);
  if (res.length !== data.length) throw new Error(`windowToUnit: output length ${res.length} ≠ input length ${data.length}`);
  const scale = 1 / (hi - lo);
  for (let i = 0, n = data.length; i < n; i++) {
    const v = (data[i] - lo) * scale;
    res[i] = v > 0 ? (v < 1 ? v : 1) : 0; // NaN fails v > 0
  }
  return res;
}

// ─────────────────────────────────────────────── foreground crop and pad

/** Smallest box holding every voxel > threshold (MONAI generate_spatial_bounding_box, margin 0); null if none. */
export function foregroundBox(data: ArrayLike<number>, dims: Vec3, threshold = 0): Box3 | null {
  const [nx, ny, nz] = dims;
  let x0 = nx, x1 = -1, y0 = ny, y1 = -1, z0 = nz, z1 = -1;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const row = (z * ny + y) * nx;
      let first = -1;
      for (let x = 0; x < nx; x++) {
        if (data[row + x] > threshold) {
          first = x;
          break;
        }
      }
      if (first < 0) continue;
      let last = first;
      for (let x = nx - 1; x > first; x--) {
        if (data[row + x] > threshold) {
          last = x;
          break;
        }
      }
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (z < z0) z0 = z;
      z1 = z;
    }
  }
  if (x1 < 0) return null;
  return { start: [x0, y0, z0], end: [x1 + 1, y1 + 1, z1 + 1] };
}

/** Copy the voxels of `box` (must lie inside the grid) into a new array of the same type. */
export function cropBox<T extends VoxelArray>(data: T, dims: Vec3, box: Box3): T {
  const [nx, ny] = dims;
  const size = [box.end[0] - box.start[0], box.end[1] - box.start[1], box.end[2] - box.start[2]];
  for (let a = 0; a < 3; a++) {
    if (box.start[a] < 0 || box.end[a] > dims[a] || size[a] <= 0) {
      throw new Error(`crop box [${box.start}]–[${box.end}] does not fit in ${dims.join('×')}`);
    }
  }
  const out = allocLike(data, size[0] * size[1] * size[2]);
  let o = 0;
  for (let z = 0; z < size[2]; z++) {
    for (let y = 0; y < size[1]; y++) {
      const from = ((box.start[2] + z) * ny + box.start[1] + y) * nx + box.start[0];
      out.set(data.subarray(from, from + size[0]) as never, o);
      o += size[0];
    }
  }
  return out;
}

/** CropForegroundd(source_key="image", select_fn x > threshold): image and labels cropped to the same box. */
export function cropForeground(img: GridImage, threshold = 0): { image: GridImage; box: Box3 } {
  const box = foregroundBox(img.data, img.dims, threshold);
  if (!box) throw new Error(`no voxel above ${threshold} after the HU window: the scan has no foreground to keep`);
  const dims: Vec3 = [box.end[0] - box.start[0], box.end[1] - box.start[1], box.end[2] - box.start[2]];
  return {
    box,
    image: {
      dims,
      affine: subgridAffine(img.affine, box.start),
      data: cropBox(img.data, img.dims, box),
      labels: img.labels ? cropBox(img.labels, img.dims, box) : undefined,
    },
  };
}

/** Place `data` at `offset` inside a zero-filled grid of `outDims`. */
function padInto<T extends VoxelArray>(data: T, dims: Vec3, outDims: Vec3, offset: Vec3): T {
  const out = allocLike(data, outDims[0] * outDims[1] * outDims[2]);
  const [nx, ny, nz] = dims;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const from = (z * ny + y) * nx;
      const to = ((z + offset[2]) * outDims[1] + y + offset[1]) * outDims[0] + offset[0];
      out.set(data.subarray(from, from + nx) as never, to);
    }
  }
  return out;
}

/** SpatialPadd(method="symmetric", constant 0): pad each short axis to minSize, floor(extra/2) before. */
export function padToMin(img: GridImage, minSize: Vec3): { image: GridImage; padBefore: Vec3 } {
  const padBefore: Vec3 = [0, 0, 0];
  const dims: Vec3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const extra = Math.max(minSize[a] - img.dims[a], 0);
    padBefore[a] = Math.floor(extra / 2);
    dims[a] = img.dims[a] + extra;
  }
  if (dims.every((d, a) => d === img.dims[a])) return { image: img, padBefore };
  return {
    padBefore,
    image: {
      dims,
      affine: subgridAffine(img.affine, [-padBefore[0], -padBefore[1], -padBefore[2]]),
      data: padInto(img.data, img.dims, dims, padBefore),
      labels: img.labels ? padInto(img.labels, img.dims, dims, padBefore) : undefined,
    },
  };
}

// ─────────────────────────────────────────────── the pipeline

function describe(vol: Pick<Volume, 'name' | 'sourceFiles'>): string {
  const files = vol.sourceFiles?.length ? ` (${vol.sourceFiles.slice(0, 3).join(', ')}${vol.sourceFiles.length > 3 ? ', …' : ''})` : '';
  return `"${vol.name}"${files}`;
}

function checkVec3(v: unknown, what: string, integer: boolean): void {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0 && (!integer || Number.isInteger(x)))) {
    throw new Error(`${what} must be three positive ${integer ? 'integers' : 'numbers'}, got ${JSON.stringify(v)}`);
  }
}

export function validateSettings(s: PreprocessSettings): void {
  checkVec3(s.spacing, 'target spacing', false);
  checkVec3(s.minSize, 'minimum size', true);
  const [lo, hi] = s.huWindow ?? [];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`HU window must be [lo, hi] with lo < hi, got ${JSON.stringify(s.huWindow)}`);
  if (s.foregroundThreshold !== undefined && !Number.isFinite(s.foregroundThreshold)) throw new Error(`foreground threshold must be a number`);
}

/** Checks that the pipeline relies on; throws a message without the volume's name (the caller adds it). */
export function validateVolume(vol: Volume): void {
  checkVec3(vol.dims, 'dims', true);
  if (vol.data.length !== voxelCount(vol.dims)) throw new Error(`the image has ${vol.data.length} voxel values but dims ${vol.dims.join('×')} need ${voxelCount(vol.dims)}`);
  if (vol.labels && vol.labels.length !== vol.data.length) throw new Error(`label map has ${vol.labels.length} voxels, the image ${vol.data.length}`);
  if (!isValidAffine(vol.affine)) throw new Error(`affine must be a 4×4 array of finite numbers`);
  invertAffine(vol.affine);
  // Geometry comes from the affine alone (as in MONAI): a `spacing` that disagrees with it (pixdim vs. sform) is ignored.
}

/**
 * RAS → target spacing → HU window to [0, 1] → foreground crop → pad to minSize.
 * Reorienting copies every voxel, so it runs on whichever grid is smaller: before resampling when upsampling, after
 * it when downsampling (a 512×512×300 scan → 3 mm). Both orders give the same voxels: the output grid is centred,
 * so flips and permutations commute with it, and nearest-neighbour ties are broken as on the RAS axes.
 */
export function preprocessVolume(vol: Volume, settings: PreprocessSettings): PreprocessedVolume {
  try {
    validateSettings(settings);
    validateVolume(vol);
    const mapping = rasAxisMapping(vol.affine);
    const target: Vec3 = [settings.spacing[0], settings.spacing[1], settings.spacing[2]];
    const targetOnSourceAxes: Vec3 = [0, 0, 0];
    const mirrored = [false, false, false];
    for (let w = 0; w < 3; w++) {
      targetOnSourceAxes[mapping.fromAxis[w]] = target[w];
      mirrored[mapping.fromAxis[w]] = mapping.flip[w];
    }
    const sourceSpacing = spacingFromAffine(vol.affine);
    const shrinks = voxelCount(resampleGrid(vol.dims, sourceSpacing, targetOnSourceAxes).dims) < vol.data.length;
    let resampled: GridImage;
    if (shrinks) {
      const img = resample(vol.data, vol.dims, sourceSpacing, targetOnSourceAxes, 'linear');
      const labels = vol.labels ? resampleNearest(vol.labels, vol.dims, img, mirrored) : undefined;
      windowToUnit(img.data, settings.huWindow, img.data);
      resampled = reorientGrid({ dims: img.dims, affine: subgridAffine(vol.affine, img.start, img.step), data: img.data, labels }, mapping);
    } else {
      const ras = reorientToRAS(vol);
      const rasSpacing = spacingFromAffine(ras.affine);
      const img = resample(ras.data, ras.dims, rasSpacing, target, 'linear');
      const labels = ras.labels ? resampleNearest(ras.labels, ras.dims, img) : undefined;
      windowToUnit(img.data, settings.huWindow, img.data);
      resampled = { dims: img.dims, affine: subgridAffine(ras.affine, img.start, img.step), data: img.data, labels };
    }
    const cropped = cropForeground(resampled, settings.foregroundThreshold ?? 0).image;
    const padded = padToMin(cropped, settings.minSize).image;
    return {
      id: vol.id,
      name: vol.name,
      dims: padded.dims,
      spacing: target,
      affine: padded.affine,
      data: padded.data,
      labels: padded.labels,
    };
  } catch (err) {
    throw new Error(`Preprocessing ${describe(vol)} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ─────────────────────────────────────────────── back to the source scan

export function preprocessedVoxelToWorld(pv: Pick<PreprocessedVolume, 'affine'>, p: readonly number[]): Vec3 {
  return voxelToWorld(pv.affine, p);
}

/** 4×4 matrix taking preprocessed voxel coordinates to (continuous) source voxel coordinates. */
export function preprocessedToSourceMatrix(pv: Pick<PreprocessedVolume, 'affine'>, source: Pick<Volume, 'affine'>): Mat4 {
  return multiplyAffines(invertAffine(source.affine), pv.affine);
}

export function preprocessedVoxelToSourceVoxel(pv: Pick<PreprocessedVolume, 'affine'>, source: Pick<Volume, 'affine'>, p: readonly number[]): Vec3 {
  return voxelToWorld(preprocessedToSourceMatrix(pv, source), p);
}

/**
 * A box of preprocessed voxels [origin, origin + size) as an axis-aligned box in source voxel coordinates,
 * measured at voxel edges (so a one-voxel box has the width of one preprocessed voxel): min/max are continuous
 * coordinates, e.g. for drawing a crop outline on the original scan.
 */
export function preprocessedBoxToSource(
  pv: Pick<PreprocessedVolume, 'affine'>,
  source: Pick<Volume, 'affine'>,
  origin: readonly number[],
  size: readonly number[],
): { min: Vec3; max: Vec3 } {
  const m = preprocessedToSourceMatrix(pv, source);
  const min: Vec3 = [Infinity, Infinity, Infinity];
  const max: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (let c = 0; c < 8; c++) {
    const corner = [0, 1, 2].map((a) => origin[a] - 0.5 + ((c >> a) & 1) * size[a]);
    const p = voxelToWorld(m, corner);
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a], p[a]);
      max[a] = Math.max(max[a], p[a]);
    }
  }
  return { min, max };
}

/**
 * Resample values living on one grid onto another, through a voxel→voxel matrix (target voxel → source voxel).
 * 'linear' is trilinear; points more than half a voxel outside the source grid get `outside`.
 */
export function resampleThroughMatrix(
  values: ArrayLike<number>,
  fromDims: Vec3,
  toDims: Vec3,
  toVoxelToFromVoxel: Mat4,
  mode: 'linear' | 'nearest' = 'linear',
  outside = 0,
): Float32Array {
  const [nx, ny, nz] = fromDims;
  const [mx, my, mz] = toDims;
  if (values.length !== nx * ny * nz) throw new Error(`resample: ${values.length} values for dims ${fromDims.join('×')}`);
  const m = toVoxelToFromVoxel;
  const out = new Float32Array(mx * my * mz);
  const dx = [m[0][0], m[1][0], m[2][0]];
  const nxy = nx * ny;
  let o = 0;
  for (let z = 0; z < mz; z++) {
    for (let y = 0; y < my; y++) {
      let cx = m[0][1] * y + m[0][2] * z + m[0][3];
      let cy = m[1][1] * y + m[1][2] * z + m[1][3];
      let cz = m[2][1] * y + m[2][2] * z + m[2][3];
      for (let x = 0; x < mx; x++, cx += dx[0], cy += dx[1], cz += dx[2]) {
        if (cx < -0.5 || cy < -0.5 || cz < -0.5 || cx > nx - 0.5 || cy > ny - 0.5 || cz > nz - 0.5) {
          out[o++] = outside;
          continue;
        }
        if (mode === 'nearest') {
          const ix = Math.min(Math.max(Math.round(cx), 0), nx - 1);
          const iy = Math.min(Math.max(Math.round(cy), 0), ny - 1);
          const iz = Math.min(Math.max(Math.round(cz), 0), nz - 1);
          out[o++] = values[iz * nxy + iy * nx + ix];
          continue;
        }
        const px = Math.min(Math.max(cx, 0), nx - 1);
        const py = Math.min(Math.max(cy, 0), ny - 1);
        const pz = Math.min(Math.max(cz, 0), nz - 1);
        const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
        const x1 = Math.min(x0 + 1, nx - 1), y1 = Math.min(y0 + 1, ny - 1), z1 = Math.min(z0 + 1, nz - 1);
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        const r00 = z0 * nxy + y0 * nx, r01 = z0 * nxy + y1 * nx, r10 = z1 * nxy + y0 * nx, r11 = z1 * nxy + y1 * nx;
        const c00 = values[r00 + x0] + (values[r00 + x1] - values[r00 + x0]) * fx;
        const c01 = values[r01 + x0] + (values[r01 + x1] - values[r01 + x0]) * fx;
        const c10 = values[r10 + x0] + (values[r10 + x1] - values[r10 + x0]) * fx;
        const c11 = values[r11 + x0] + (values[r11 + x1] - values[r11 + x0]) * fx;
        const c0 = c00 + (c01 - c00) * fy;
        const c1 = c10 + (c11 - c10) * fy;
        out[o++] = c0 + (c1 - c0) * fz;
      }
    }
  }
  return out;
}

/**
 * A map computed on the preprocessed grid (pv.dims, e.g. a similarity map) resampled onto the source scan's
 * grid, for overlays on the original volume. Voxels of the source outside the preprocessed grid get `outside`.
 */
export function mapPreprocessedToSource(
  values: ArrayLike<number>,
  pv: Pick<PreprocessedVolume, 'affine' | 'dims'>,
  source: Pick<Volume, 'affine' | 'dims'>,
  opts: { mode?: 'linear' | 'nearest'; outside?: number } = {},
): Float32Array {
  const sourceToPre = multiplyAffines(invertAffine(pv.affine), source.affine);
  return resampleThroughMatrix(values, pv.dims, source.dims, sourceToPre, opts.mode ?? 'linear', opts.outside ?? 0);
}
