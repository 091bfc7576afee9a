// The crop plan of one training step: where each base and random crop sits in its volume, its position labels
// and its augmentation, drawn from a seeded Rng so a step can be replayed. Pure numbers; the crop sampler kernel
// turns a plan into voxels.
import { positionLabels } from './positionLabels';
import type { Rng } from './rng';

export interface CropSpec {
  /** Index into the packed volume list. */
  volume: number;
  /** Voxel corner [x, y, z] in the volume (may be negative or overhang when the volume is smaller than the region; the sampler reads 0 there). */
  origin: [number, number, number];
  flip: [boolean, boolean, boolean];
  /** Quarter turns in the x-y plane, 0..3 (applied after the flips). */
  rot90: number;
  /** Intensity offset added last. */
  shift: number;
}

export interface AugmentConfig {
  flipP: number;
  rotP: number;
  shiftP: number;
  shiftMax: number;
}

/** The reference augmentation (RandFlipd ×3 p=0.2, RandRotate90d p=0.2 max_k=3, RandShiftIntensityd ±0.1 p=0.5). */
export const REFERENCE_AUGMENT: AugmentConfig = { flipP: 0.2, rotP: 0.2, shiftP: 0.5, shiftMax: 0.1 };

export interface VolumePlan {
  volume: number;
  /** Corner of the n·r × n·r × r region in volume voxels. */
  regionOrigin: [number, number, number];
  /** n*n base crops, index i*n + j (i along x). */
  bases: CropSpec[];
  /** sw random crops. */
  randoms: CropSpec[];
  /** Centres (x, y) of the random crops, relative to the region corner. */
  randomCenters: [number, number][];
  /** sw position labels, each n*n. */
  labels: Float32Array[];
}

export interface BatchPlan {
  n: number;
  r: number;
  sw: number;
  volumes: VolumePlan[];
}

export interface PlanOptions {
  n: number;
  r: number;
  sw: number;
  /** null or absent: no augmentation. */
  augment?: AugmentConfig | null;
}

/** Size of the VoCo region in voxels: n·r × n·r × r. */
export function regionSize(n: number, r: number): [number, number, number] {
  return [n * r, n * r, r];
}

/**
 * Draws one batch plan. `volumeDims` lists the dims of every packed volume; `volumeIndices` picks the B ≥ 2
 * volumes of this batch (repeats allowed). For each: a region corner uniform over the positions where the region
 * fits (MONAI RandSpatialCropd); if the volume is smaller than the region along an axis the region is centred
 * there instead (the reference pads symmetrically with zeros first, which this mirrors). Random crop centres are
 * uniform integers in [r/2, n·r − r/2) along x and y (numpy randint), at the full region depth.
 */
export function planBatch(
  rng: Rng,
  volumeDims: [number, number, number][],
  volumeIndices: number[],
  opts: PlanOptions,
): BatchPlan {
  const { n, r, sw } = opts;
  const augment = opts.augment ?? null;
  if (!Number.isInteger(n) || n < 1) throw new Error(`planBatch: grid size n must be a positive integer, got ${n}`);
  if (!Number.isInteger(r) || r < 2) throw new Error(`planBatch: crop size r must be an integer ≥ 2, got ${r}`);
  if (!Number.isInteger(sw) || sw < 1) throw new Error(`planBatch: sw must be a positive integer, got ${sw}`);
  if (volumeIndices.length < 2) {
    throw new Error(`planBatch: a batch needs at least 2 volumes (the inter-volume term pairs i with i+1), got ${volumeIndices.length}`);
  }
  if (augment) validateAugment(augment);

  const size = regionSize(n, r);
  const half = Math.floor(r / 2);
  const volumes: VolumePlan[] = volumeIndices.map((volume) => {
    const dims = volumeDims[volume];
    if (!dims) throw new Error(`planBatch: volume index ${volume} is out of range (${volumeDims.length} volumes)`);
    const regionOrigin = [0, 1, 2].map((axis) => {
      const slack = dims[axis] - size[axis];
      return slack >= 0 ? rng.int(0, slack + 1) : 0 - Math.floor(-slack / 2); // MONAI symmetric pad puts floor(pad/2) before
    }) as [number, number, number];
    const [ox, oy, oz] = regionOrigin;

    const randomCenters: [number, number][] = [];
    const labels: Float32Array[] = [];
    for (let s = 0; s < sw; s++) {
      const cx = rng.int(half, n * r - half);
      const cy = rng.int(half, n * r - half);
      randomCenters.push([cx, cy]);
      labels.push(positionLabels(r, n, cx, cy));
    }

    const bases: CropSpec[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) bases.push(makeCrop(rng, volume, [ox + i * r, oy + j * r, oz], augment));
    }
    const randoms = randomCenters.map(([cx, cy]) => makeCrop(rng, volume, [ox + cx - half, oy + cy - half, oz], augment));
    return { volume, regionOrigin, bases, randoms, randomCenters, labels };
  });
  return { n, r, sw, volumes };
}

/** Crops in batch order: all bases (volume-major, i*n+j), then all randoms (volume-major). */
export function batchCrops(plan: BatchPlan): CropSpec[] {
  return [...plan.volumes.flatMap((v) => v.bases), ...plan.volumes.flatMap((v) => v.randoms)];
}

/** Labels of a plan as one flat [B][sw][n²] array, ready for tf.tensor3d. */
export function planLabels(plan: BatchPlan): Float32Array {
  const k = plan.n * plan.n;
  const out = new Float32Array(plan.volumes.length * plan.sw * k);
  plan.volumes.forEach((v, b) => v.labels.forEach((l, s) => out.set(l, (b * plan.sw + s) * k)));
  return out;
}

// Each crop is augmented on its own, after its label is fixed, in the reference order: flip x, y, z, rotate, shift.
function makeCrop(rng: Rng, volume: number, origin: [number, number, number], augment: AugmentConfig | null): CropSpec {
  if (!augment) return { volume, origin, flip: [false, false, false], rot90: 0, shift: 0 };
  const flip: [boolean, boolean, boolean] = [rng.bool(augment.flipP), rng.bool(augment.flipP), rng.bool(augment.flipP)];
  // MONAI RandRotate90(max_k=3): when it fires, k is uniform in {1, 2, 3}.
  const rot90 = rng.bool(augment.rotP) ? rng.int(1, 4) : 0;
  const shift = rng.bool(augment.shiftP) ? rng.uniform(-augment.shiftMax, augment.shiftMax) : 0;
  return { volume, origin, flip, rot90, shift };
}

function validateAugment(a: AugmentConfig): void {
  for (const key of ['flipP', 'rotP', 'shiftP'] as const) {
    if (!(a[key] >= 0 && a[key] <= 1)) throw new Error(`planBatch: augment.${key} must be a probability in [0, 1], got ${a[key]}`);
  }
  if (!(a.shiftMax >= 0)) throw new Error(`planBatch: augment.shiftMax must be ≥ 0, got ${a.shiftMax}`);
}
