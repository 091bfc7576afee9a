// Which crops the downstream tasks look at: crops centred inside labelled structures, the structures worth
// scoring, splits by volume, and the voxel labels inside a crop. Pure functions on label arrays (no tensors),
// seeded by the studio's Rng so that every set of weights is scored on exactly the same crops.
import type { Rng } from '../voco/rng';
import type { CropSpec } from '../voco/cropPlan';

export type Vec3 = [number, number, number];
export type LabelArray = Uint8Array | Uint16Array | Int32Array;

/** A volume as the tasks see it: its place in the packed list, its grid and (optionally) its label map. */
export interface TaskVolume {
  /** Index in the encoder's packed volume list. */
  index: number;
  id: string;
  name: string;
  dims: Vec3;
  labels?: LabelArray;
  /** The volume was used to pre-train the weights being scored. */
  seenInPretraining: boolean;
}

/** A crop of edge r centred at a voxel of a structure. */
export interface StructureCrop {
  volume: number;
  /** Position in the volumes list given to the sampler (for splits by volume). */
  volumeSlot: number;
  center: Vec3;
  origin: Vec3;
  /** Label id of the structure at the centre. */
  label: number;
}

/** Voxels per label id (id 0, the background, included). */
export function labelVoxelCounts(labels: LabelArray): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  return counts;
}

/**
 * The structures to score: label ids ≠ 0 with at least `minVoxels` voxels in every volume that must hold them
 * (with `requireAll`, all labelled volumes: a class split by volume has to exist on both sides), largest first,
 * at most `max`.
 */
export function chooseStructures(volumes: TaskVolume[], opts: { max: number; minVoxels: number; requireAll?: boolean; only?: number[] }): number[] {
  const labelled = volumes.filter((v) => v.labels);
  const total = new Map<number, number>();
  const presentIn = new Map<number, number>();
  for (const v of labelled) {
    for (const [id, n] of labelVoxelCounts(v.labels!)) {
      if (id === 0 || n < opts.minVoxels) continue;
      total.set(id, (total.get(id) ?? 0) + n);
      presentIn.set(id, (presentIn.get(id) ?? 0) + 1);
    }
  }
  let ids = [...total.keys()];
  if (opts.requireAll) ids = ids.filter((id) => presentIn.get(id) === labelled.length);
  if (opts.only?.length) ids = ids.filter((id) => opts.only!.includes(id));
  ids.sort((a, b) => total.get(b)! - total.get(a)! || a - b);
  return ids.slice(0, Math.max(0, opts.max));
}

/** Origin of the crop of edge r centred at `center` (the similarity maps' convention: origin = centre − ⌊r/2⌋). */
export function originAt(center: Vec3, r: number): Vec3 {
  const h = Math.floor(r / 2);
  return [center[0] - h, center[1] - h, center[2] - h];
}

/**
 * Up to `perStructure` crops per structure and volume, centred at voxels drawn uniformly (reservoir sampling,
 * one pass over the label map) from that structure. Crops may overhang the volume (the sampler reads 0 there).
 */
export function sampleStructureCrops(rng: Rng, volumes: TaskVolume[], structures: number[], perStructure: number, r: number): StructureCrop[] {
  const crops: StructureCrop[] = [];
  const wanted = new Map(structures.map((id, k) => [id, k]));
  volumes.forEach((v, slot) => {
    if (!v.labels) return;
    const [nx, ny] = v.dims;
    const reservoirs = structures.map(() => [] as number[]);
    const seen = new Int32Array(structures.length);
    const labels = v.labels;
    for (let i = 0; i < labels.length; i++) {
      const k = wanted.get(labels[i]);
      if (k === undefined) continue;
      const n = ++seen[k];
      const res = reservoirs[k];
      if (res.length < perStructure) res.push(i);
      else {
        const j = rng.int(0, n);
        if (j < perStructure) res[j] = i;
      }
    }
    structures.forEach((id, k) => {
      // Sorted voxel order keeps the crop list independent of the reservoir's replacement history.
      for (const i of [...reservoirs[k]].sort((a, b) => a - b)) {
        const center: Vec3 = [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
        crops.push({ volume: v.index, volumeSlot: slot, center, origin: originAt(center, r), label: id });
      }
    });
  });
  return crops;
}

/** A plain (unaugmented) crop for the sampler. */
export function plainCropAt(volume: number, origin: Vec3): CropSpec {
  return { volume, origin: [...origin] as Vec3, flip: [false, false, false], rot90: 0, shift: 0 };
}

export interface Split<T> {
  train: T[];
  test: T[];
  /** How the split was made, for the report. */
  how: string;
}

/**
 * Train/test split of labelled crops. With two or more volumes the split is by volume (the last ⌈testShare·V⌉
 * volumes, at least one, are held out), so no test crop overlaps a training crop. With one volume each structure's
 * crops are split at random: neighbouring crops of one scan overlap, so that score is optimistic (the report says so).
 */
export function splitCrops<T extends { volumeSlot: number; label: number }>(rng: Rng, items: T[], testShare: number): Split<T> {
  const slots = [...new Set(items.map((c) => c.volumeSlot))].sort((a, b) => a - b);
  if (slots.length >= 2) {
    const held = Math.min(slots.length - 1, Math.max(1, Math.round(testShare * slots.length)));
    const testSlots = new Set(slots.slice(slots.length - held));
    return {
      train: items.filter((c) => !testSlots.has(c.volumeSlot)),
      test: items.filter((c) => testSlots.has(c.volumeSlot)),
      how: `split by volume: ${slots.length - held} volume(s) to train, ${held} held out`,
    };
  }
  const byLabel = new Map<number, T[]>();
  for (const c of items) byLabel.set(c.label, [...(byLabel.get(c.label) ?? []), c]);
  const train: T[] = [];
  const test: T[] = [];
  for (const group of byLabel.values()) {
    const order = shuffle(rng, group.length);
    const nTest = group.length < 2 ? 0 : Math.min(group.length - 1, Math.max(1, Math.round(testShare * group.length)));
    order.forEach((idx, k) => (k < nTest ? test : train).push(group[idx]));
  }
  return { train, test, how: 'one labelled volume: crops split at random per structure (overlapping crops of one scan: optimistic)' };
}

/** A seeded permutation of 0..n−1. */
export function shuffle(rng: Rng, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Class of every voxel of a crop (r³, x fastest): classOf(label id) for voxels inside the volume, 0 (background)
 * outside it and for ids that are not scored.
 */
export function cropClasses(labels: LabelArray, dims: Vec3, origin: Vec3, r: number, classOf: Map<number, number>): Uint8Array {
  const [nx, ny, nz] = dims;
  const out = new Uint8Array(r * r * r);
  let o = 0;
  for (let z = 0; z < r; z++) {
    const vz = origin[2] + z;
    for (let y = 0; y < r; y++) {
      const vy = origin[1] + y;
      for (let x = 0; x < r; x++, o++) {
        const vx = origin[0] + x;
        if (vx < 0 || vy < 0 || vz < 0 || vx >= nx || vy >= ny || vz >= nz) continue;
        out[o] = classOf.get(labels[(vz * ny + vy) * nx + vx]) ?? 0;
      }
    }
  }
  return out;
}

/**
 * Class fractions of each token's p³ patch ([T × classes], token t = (tz·g + ty)·g + tx as the crop sampler
 * orders them): the soft targets of a per-token segmentation head.
 */
export function patchClassFractions(voxelClasses: Uint8Array, r: number, p: number, classes: number): Float32Array {
  const g = r / p;
  if (!Number.isInteger(g)) throw new Error(`patchClassFractions: crop ${r} is not a multiple of patch ${p}`);
  const T = g * g * g;
  const out = new Float32Array(T * classes);
  const inv = 1 / (p * p * p);
  for (let z = 0; z < r; z++) {
    const tz = Math.floor(z / p);
    for (let y = 0; y < r; y++) {
      const ty = Math.floor(y / p);
      for (let x = 0; x < r; x++) {
        const t = (tz * g + ty) * g + Math.floor(x / p);
        out[t * classes + voxelClasses[(z * r + y) * r + x]] += inv;
      }
    }
  }
  return out;
}

/**
 * Voxel classes from per-token class scores ([T × classes]): scores interpolated trilinearly from the token
 * centres to every voxel (clamped at the crop's border), then the argmax. The segmentation head's prediction at
 * voxel resolution.
 */
export function upsampleTokenScores(scores: ArrayLike<number>, r: number, p: number, classes: number): Uint8Array {
  const g = r / p;
  if (!Number.isInteger(g)) throw new Error(`upsampleTokenScores: crop ${r} is not a multiple of patch ${p}`);
  if (scores.length !== g * g * g * classes) throw new Error(`upsampleTokenScores: ${scores.length} scores for ${g ** 3} tokens × ${classes} classes`);
  // Per axis: the two tokens a voxel interpolates between and the weight of the second.
  const lo = new Int32Array(r);
  const hi = new Int32Array(r);
  const w = new Float32Array(r);
  for (let x = 0; x < r; x++) {
    const u = Math.min(g - 1, Math.max(0, (x + 0.5) / p - 0.5));
    lo[x] = Math.floor(u);
    hi[x] = Math.min(g - 1, lo[x] + 1);
    w[x] = u - lo[x];
  }
  const out = new Uint8Array(r * r * r);
  const acc = new Float64Array(classes);
  let o = 0;
  for (let z = 0; z < r; z++) {
    for (let y = 0; y < r; y++) {
      for (let x = 0; x < r; x++, o++) {
        acc.fill(0);
        for (let cz = 0; cz < 2; cz++) {
          const tz = cz ? hi[z] : lo[z];
          const wz = cz ? w[z] : 1 - w[z];
          if (wz === 0) continue;
          for (let cy = 0; cy < 2; cy++) {
            const ty = cy ? hi[y] : lo[y];
            const wy = cy ? w[y] : 1 - w[y];
            if (wy === 0) continue;
            for (let cx = 0; cx < 2; cx++) {
              const tx = cx ? hi[x] : lo[x];
              const wx = cx ? w[x] : 1 - w[x];
              if (wx === 0) continue;
              const weight = wz * wy * wx;
              const base = ((tz * g + ty) * g + tx) * classes;
              for (let c = 0; c < classes; c++) acc[c] += weight * scores[base + c];
            }
          }
        }
        let best = 0;
        for (let c = 1; c < classes; c++) if (acc[c] > acc[best]) best = c;
        out[o] = best;
      }
    }
  }
  return out;
}
