// Crop similarity maps, the pure part: which crops a sliding window cuts out of a preprocessed volume, the cosine
// of each window's embedding to a query crop's, and the map that makes on the preprocessed grid and on the source
// scan. No tensors here: the embedding is injected (the training worker passes the encoder, tests pass their own),
// so the whole map pipeline runs and is tested under Node.
//
// Geometry. A crop with origin o covers voxels o … o + r − 1; its value in the map sits at its geometric centre
// o + (r − 1)/2 (half-way between two voxels for even r), so a volume mirrored about its middle gives a mirrored map.
// Windows along an axis have origins first + k·stride; the grid is aligned so that the query crop is one of the
// windows, which makes the map exactly cos(q, q) = 1 at the query crop's centre. Windows may overhang the volume:
// the crop sampler reads 0 there, the same value preprocessing pads with.
import { mapPreprocessedToSource } from '../preprocess/preprocess';
import type { CropSpec } from '../voco/cropPlan';

export type Vec3 = [number, number, number];

/** Sliding windows: window (i, j, k) has origin first + (i, j, k)·stride; i runs along x. */
export interface WindowGrid {
  /** Crop edge in voxels. */
  r: number;
  stride: number;
  /** Origin of window (0, 0, 0) in preprocessed voxels (≤ 0: the first window touches voxel 0). */
  first: Vec3;
  counts: Vec3;
}

/** The studio's default stride: a quarter crop. */
export function defaultStride(r: number): number {
  return Math.max(1, Math.round(r / 4));
}

/** Crops per encoder batch when the caller does not say: about 2 M voxels of tokens (64 crops at r = 32). */
export function defaultBatch(r: number): number {
  return Math.min(256, Math.max(4, Math.floor(2 ** 21 / r ** 3)));
}

/** Origin of the crop of edge r whose centre is nearest to the (continuous) voxel position p. */
export function cropOriginNear(p: readonly number[], r: number): Vec3 {
  const h = (r - 1) / 2;
  return [Math.round(p[0] - h), Math.round(p[1] - h), Math.round(p[2] - h)];
}

/** Geometric centre (continuous voxel position) of the crop of edge r with this origin. */
export function cropCentre(origin: readonly number[], r: number): Vec3 {
  const h = (r - 1) / 2;
  return [origin[0] + h, origin[1] + h, origin[2] + h];
}

/**
 * Windows of edge r every `stride` voxels over a volume of `dims`: every voxel lies in at least one window, and the
 * window with origin `anchor` is one of them (default: the volume's centre crop).
 */
export function slidingWindowGrid(dims: readonly number[], r: number, stride: number, anchor?: readonly number[]): WindowGrid {
  if (!(dims.length === 3 && dims.every((d) => Number.isInteger(d) && d > 0))) {
    throw new Error(`similarity map: volume dims [${dims.join(', ')}] must be three positive integers`);
  }
  if (!Number.isInteger(r) || r < 1) throw new Error(`similarity map: crop size r = ${r} must be a positive integer`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`similarity map: stride = ${stride} must be a positive integer`);
  if (stride > r) throw new Error(`similarity map: stride ${stride} is larger than the crop size ${r}, so windows would leave gaps`);
  const first: Vec3 = [0, 0, 0];
  const counts: Vec3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const n = dims[a];
    const at = anchor ? anchor[a] : Math.floor((n - r) / 2);
    if (!Number.isInteger(at)) throw new Error(`similarity map: anchor [${anchor?.join(', ')}] must be integer voxels`);
    // The first origin ≡ anchor (mod stride) at or before voxel 0, unless the anchor itself is further out.
    const f = Math.min(at, at - stride * Math.ceil(at / stride));
    // The last origin must reach the end of the volume (origin + r ≥ n), and not stop before the anchor.
    const last = Math.max(at, f + stride * Math.max(0, Math.ceil((n - r - f) / stride)));
    first[a] = f;
    counts[a] = (last - f) / stride + 1;
  }
  return { r, stride, first, counts };
}

/**
 * How the windows are laid out: 'sliding' every `stride` voxels with the query crop one of the windows (the
 * default), or 'tiles': non-overlapping r³ windows (stride r) tiling the volume, centred on it, ∏ ⌈dims/r⌉ of them —
 * the coarse map for an encoder whose crop costs seconds (the reference encoder on a CPU). In tiles the query crop
 * is embedded on its own and is usually not one of the windows, so the map is not exactly 1 at the click.
 */
export type MapLayout = 'sliding' | 'tiles';

/** Origin of the first tile along each axis: the ⌈n/r⌉ tiles overhang the volume equally on both sides. */
export function tileAnchor(dims: readonly number[], r: number): Vec3 {
  const a = (n: number) => -Math.floor((Math.ceil(n / r) * r - n) / 2);
  return [a(dims[0]), a(dims[1]), a(dims[2])];
}

/** The window grid of a map: sliding (anchored at the query origin) or tiles (stride r, tileAnchor). */
export function mapGrid(dims: readonly number[], r: number, layout: MapLayout, stride: number, queryOrigin?: readonly number[]): WindowGrid {
  return layout === 'tiles' ? slidingWindowGrid(dims, r, r, tileAnchor(dims, r)) : slidingWindowGrid(dims, r, stride, queryOrigin);
}

export function windowCount(grid: WindowGrid): number {
  return grid.counts[0] * grid.counts[1] * grid.counts[2];
}

/** Origin of window number `index` (x fastest). */
export function windowOrigin(grid: WindowGrid, index: number): Vec3 {
  const [cx, cy] = grid.counts;
  const i = index % cx;
  const j = Math.floor(index / cx) % cy;
  const k = Math.floor(index / (cx * cy));
  return [grid.first[0] + i * grid.stride, grid.first[1] + j * grid.stride, grid.first[2] + k * grid.stride];
}

/** Plain (unaugmented) crops of windows [start, end) of the grid, for the crop sampler. */
export function windowCrops(grid: WindowGrid, volume: number, start = 0, end = windowCount(grid)): CropSpec[] {
  const crops: CropSpec[] = [];
  for (let w = start; w < end; w++) crops.push(plainCrop(volume, windowOrigin(grid, w)));
  return crops;
}

export function plainCrop(volume: number, origin: Vec3): CropSpec {
  return { volume, origin, flip: [false, false, false], rot90: 0, shift: 0 };
}

/** Cosine of each row of `rows` (count × dim, row-major) with `query` (dim), clamped to [−1, 1]. */
export function cosineToQuery(rows: Float32Array, dim: number, query: Float32Array, out?: Float32Array): Float32Array {
  if (query.length !== dim || rows.length % dim !== 0) {
    throw new Error(`cosineToQuery: ${rows.length} values are not rows of the query's ${query.length} (dim ${dim})`);
  }
  const count = rows.length / dim;
  const result = out ?? new Float32Array(count);
  const qn = Math.hypot(...query);
  for (let i = 0; i < count; i++) {
    let dot = 0;
    let nn = 0;
    for (let d = 0, o = i * dim; d < dim; d++, o++) {
      dot += rows[o] * query[d];
      nn += rows[o] * rows[o];
    }
    // Same guard as F.cosine_similarity: a zero vector has similarity 0 with everything.
    const c = dot / Math.max(Math.sqrt(nn) * qn, 1e-8);
    result[i] = Math.min(1, Math.max(-1, c));
  }
  return result;
}

/** The n × n cosine matrix of n embeddings (row-major, count × dim). */
export function cosineMatrix(rows: Float32Array, dim: number): Float32Array {
  const n = rows.length / dim;
  if (!Number.isInteger(n)) throw new Error(`cosineMatrix: ${rows.length} values are not rows of ${dim}`);
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) cosineToQuery(rows, dim, rows.subarray(i * dim, (i + 1) * dim), out.subarray(i * n, (i + 1) * n));
  return out;
}

/** Thrown (and reported as 'cancelled') when a map job is cancelled between batches. */
export class MapCancelledError extends Error {
  constructor(
    readonly done: number,
    readonly total: number,
  ) {
    super(`similarity map cancelled after ${done} of ${total} windows`);
    this.name = 'MapCancelledError';
  }
}

/** One set of weights to map with: its embedder returns count × dim floats for a list of crops. */
export interface MapEmbedder {
  embed(crops: CropSpec[]): Promise<Float32Array>;
}

export interface ComputeMapOptions {
  /** Index of the volume in the embedder's packed list, and its dims. */
  volume: number;
  dims: Vec3;
  r: number;
  stride: number;
  /** Origin of the query crop. */
  origin: Vec3;
  /** Window layout (default 'sliding'; 'tiles' ignores the stride). */
  layout?: MapLayout;
  /** Length of one embedding. */
  dim: number;
  /** Crops per embed() call (the most, when targetBatchMs adapts it). */
  batch: number;
  /**
   * Adapt the batch so one takes about this long: powers of two from 8 up to `batch`, sized from the last batch's
   * time per crop. Slow backends then report progress and honour a cancel within about this time; fast ones
   * soon run full batches. Powers of two keep the number of distinct shapes (and shader compilations) small.
   */
  targetBatchMs?: number;
  /** One map per embedder, over the same windows. */
  embedders: MapEmbedder[];
  /** Checked between batches: a set flag (or an aborted signal) ends the job with MapCancelledError. */
  cancelled?: () => boolean;
  /** Windows done so far over every embedder, after each batch. */
  onProgress?: (done: number, total: number) => void;
  /** Awaited between batches: lets a worker read its message queue (a cancel) while the job runs. */
  pause?: () => Promise<void>;
}

export interface ComputedMaps {
  grid: WindowGrid;
  /** Per embedder: one cosine per window (x fastest), and the query's similarity to itself (1 up to rounding). */
  maps: { values: Float32Array; querySelf: number }[];
}

/** Embeds the query crop and every window with each embedder, in batches, and returns the cosine per window. */
export async function computeSimilarityMaps(o: ComputeMapOptions): Promise<ComputedMaps> {
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`similarity map: batch = ${o.batch} must be a positive integer`);
  const queryOrigin = o.origin;
  const grid = mapGrid(o.dims, o.r, o.layout ?? 'sliding', o.stride, queryOrigin);
  const count = windowCount(grid);
  const total = count * o.embedders.length;
  let done = 0;
  const maps: ComputedMaps['maps'] = [];
  for (const embedder of o.embedders) {
    if (o.cancelled?.()) throw new MapCancelledError(done, total);
    const query = await embedder.embed([plainCrop(o.volume, queryOrigin)]);
    if (query.length !== o.dim) throw new Error(`similarity map: the query embedding has ${query.length} values, expected ${o.dim}`);
    const values = new Float32Array(count);
    let size = o.targetBatchMs ? Math.min(o.batch, 8) : o.batch;
    for (let start = 0, end = 0; start < count; start = end) {
      await o.pause?.();
      if (o.cancelled?.()) throw new MapCancelledError(done, total);
      end = Math.min(count, start + size);
      const t0 = performance.now();
      const rows = await embedder.embed(windowCrops(grid, o.volume, start, end));
      if (rows.length !== (end - start) * o.dim) {
        throw new Error(`similarity map: the encoder returned ${rows.length} values for ${end - start} crops of dim ${o.dim}`);
      }
      cosineToQuery(rows, o.dim, query, values.subarray(start, end));
      done += end - start;
      o.onProgress?.(done, total);
      if (o.targetBatchMs) size = adaptBatch(o.targetBatchMs, (performance.now() - t0) / (end - start), o.batch);
    }
    maps.push({ values, querySelf: cosineToQuery(query, o.dim, query)[0] });
  }
  return { grid, maps };
}

/** The power of two (≤ max) nearest below the batch that would take targetMs at msPerCrop. */
export function adaptBatch(targetMs: number, msPerCrop: number, max: number): number {
  const ideal = targetMs / Math.max(msPerCrop, 1e-3);
  let size = 1;
  while (size * 2 <= Math.min(ideal, max)) size *= 2;
  return Math.min(size, max);
}

// ---- from windows to voxels ---------------------------------------------------------------------------------

/**
 * Trilinear upsampling of the per-window values to every voxel of the preprocessed grid (`dims`): a window's value
 * sits at its geometric centre; voxels beyond the outermost centres take the nearest centre's value.
 */
export function upsampleToVolume(values: Float32Array, grid: WindowGrid, dims: readonly number[]): Float32Array {
  if (values.length !== windowCount(grid)) throw new Error(`upsampleToVolume: ${values.length} values for ${windowCount(grid)} windows`);
  const h = (grid.r - 1) / 2;
  // Per axis and voxel: the lower window index and the weight of the upper one.
  const axes = [0, 1, 2].map((a) => {
    const n = dims[a];
    const lo = new Int32Array(n);
    const hi = new Int32Array(n);
    const w = new Float32Array(n);
    const last = grid.counts[a] - 1;
    for (let x = 0; x < n; x++) {
      const u = Math.min(Math.max((x - (grid.first[a] + h)) / grid.stride, 0), last);
      lo[x] = Math.floor(u);
      hi[x] = Math.min(lo[x] + 1, last);
      w[x] = u - lo[x];
    }
    return { lo, hi, w };
  });
  const [cx, cy] = grid.counts;
  const [nx, ny, nz] = dims;
  const out = new Float32Array(nx * ny * nz);
  const X = axes[0], Y = axes[1], Z = axes[2];
  let o = 0;
  for (let z = 0; z < nz; z++) {
    const z0 = Z.lo[z] * cx * cy, z1 = Z.hi[z] * cx * cy, fz = Z.w[z];
    for (let y = 0; y < ny; y++) {
      const y0 = Y.lo[y] * cx, y1 = Y.hi[y] * cx, fy = Y.w[y];
      const r00 = z0 + y0, r01 = z0 + y1, r10 = z1 + y0, r11 = z1 + y1;
      for (let x = 0; x < nx; x++) {
        const x0 = X.lo[x], x1 = X.hi[x], fx = X.w[x];
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

export interface Grid3 {
  dims: Vec3;
  /** voxel → world (RAS mm), row-major 4×4. */
  affine: number[][];
}

/**
 * The map on the source scan's grid: per-window values → trilinear on the preprocessed grid → trilinear through
 * the two affines onto the scan. Scan voxels outside the preprocessed grid (cropped-away background) are NaN.
 */
export function mapToScan(values: Float32Array, grid: WindowGrid, preprocessed: Grid3, scan: Grid3): { preprocessed: Float32Array; scan: Float32Array } {
  const pre = upsampleToVolume(values, grid, preprocessed.dims);
  const onScan = mapPreprocessedToSource(pre, preprocessed, scan, { mode: 'linear', outside: NaN });
  return { preprocessed: pre, scan: onScan };
}

export interface MapStats {
  min: number;
  max: number;
  mean: number;
  /** Finite voxels. */
  count: number;
  /** Index of the (first) maximum. */
  argmax: number;
  /** Value at the given quantiles (0…1), e.g. [0.5, 0.75]. */
  quantiles: number[];
}

/** Statistics over the finite values (NaN marks voxels without data). */
export function mapStats(values: ArrayLike<number>, quantiles: number[] = [0.5, 0.75, 0.9]): MapStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  let argmax = -1;
  // Quantiles from a histogram (cosines live in [−1, 1]; 4096 bins resolve 5e-4).
  const bins = 4096;
  const hist = new Uint32Array(bins);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) {
      max = v;
      argmax = i;
    }
    sum += v;
    count++;
  }
  if (count === 0) return { min: NaN, max: NaN, mean: NaN, count, argmax, quantiles: quantiles.map(() => NaN) };
  const span = max - min || 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) hist[Math.min(bins - 1, Math.floor(((v - min) / span) * bins))]++;
  }
  const qs = quantiles.map((q) => {
    const target = q * (count - 1);
    let seen = 0;
    for (let b = 0; b < bins; b++) {
      seen += hist[b];
      if (seen > target) return min + ((b + 0.5) / bins) * span;
    }
    return max;
  });
  return { min, max, mean: sum / count, count, argmax, quantiles: qs };
}

/** Trilinear value of a volume at a continuous voxel position (NaN outside by more than half a voxel). */
export function sampleAt(values: ArrayLike<number>, dims: readonly number[], p: readonly number[]): number {
  const [nx, ny, nz] = dims;
  if (p.some((v, a) => v < -0.5 || v > dims[a] - 0.5)) return NaN;
  const c = p.map((v, a) => Math.min(Math.max(v, 0), dims[a] - 1));
  const i0 = c.map(Math.floor);
  const i1 = i0.map((v, a) => Math.min(v + 1, dims[a] - 1));
  const f = c.map((v, a) => v - i0[a]);
  const at = (x: number, y: number, z: number) => values[x + nx * (y + ny * z)];
  let out = 0;
  for (let k = 0; k < 8; k++) {
    const x = k & 1 ? i1[0] : i0[0];
    const y = k & 2 ? i1[1] : i0[1];
    const z = k & 4 ? i1[2] : i0[2];
    const w = (k & 1 ? f[0] : 1 - f[0]) * (k & 2 ? f[1] : 1 - f[1]) * (k & 4 ? f[2] : 1 - f[2]);
    if (w) out += w * at(x, y, z);
  }
  void nz;
  return out;
}
