// A train/test split of structure crops inside ONE labelled scan in which no test crop shares a voxel with any
// training crop. Crops centred at random voxels of one scan overlap their neighbours, so a random split of them puts
// near-copies of test crops into training (the old split's "optimistic"). Here the scan is cut into cubic blocks;
// a seeded share of the blocks holding scored structures is held out; test crops are centred in held-out blocks;
// training crops are centred in the other blocks AND at least r voxels (Chebyshev) from every test crop's centre,
// which is exactly "the two r³ boxes are disjoint". Class-balanced: every structure kept has the same number of
// training crops and the same number of test crops; a structure that cannot fill both sides in this split is
// dropped from it (and named in the report). Pure functions on label arrays, seeded by the studio's Rng.
import type { Rng } from '../voco/rng';
import { originAt, shuffle, type StructureCrop, type TaskVolume, type Vec3 } from './sampling';

export interface BlockSplitOptions {
  /** Crop edge in voxels. */
  r: number;
  /** Block edge in voxels (default 2r). */
  block?: number;
  /** Share of the blocks holding scored structures that is held out for testing. */
  testShare: number;
  trainPerStructure: number;
  testPerStructure: number;
}

export interface BlockSplit {
  train: StructureCrop[];
  test: StructureCrop[];
  /** Structures with a full set of crops on both sides, in the order given. */
  kept: number[];
  /** Structures left out of this split, and why. */
  dropped: { id: number; reason: string }[];
  blocks: number;
  testBlocks: number;
  block: number;
}

/** Do the r³ crops centred at a and b share a voxel? (Their origins are centre − ⌊r/2⌋, so: |a − b| < r on every axis.) */
export function cropsOverlap(a: Vec3, b: Vec3, r: number): boolean {
  return Math.abs(a[0] - b[0]) < r && Math.abs(a[1] - b[1]) < r && Math.abs(a[2] - b[2]) < r;
}

/** Uniform sample (without replacement) of up to k items of a stream, by reservoir; returns the reservoir. */
class Reservoir {
  readonly items: number[] = [];
  seen = 0;
  constructor(private readonly k: number) {}
  offer(rng: Rng, item: number): void {
    this.seen++;
    if (this.items.length < this.k) this.items.push(item);
    else {
      const j = rng.int(0, this.seen);
      if (j < this.k) this.items[j] = item;
    }
  }
}

export function blockSplitCrops(rng: Rng, volume: TaskVolume, slot: number, structures: number[], opts: BlockSplitOptions): BlockSplit {
  const labels = volume.labels;
  if (!labels) throw new Error(`blockSplitCrops: "${volume.name}" has no label map`);
  const { r, testShare, trainPerStructure, testPerStructure } = opts;
  const block = opts.block ?? 2 * r;
  if (!Number.isInteger(r) || r < 1) throw new Error(`blockSplitCrops: crop size must be a positive integer, got ${r}`);
  if (!Number.isInteger(block) || block < 1) throw new Error(`blockSplitCrops: block edge must be a positive integer, got ${block}`);
  if (!(testShare > 0 && testShare < 1)) throw new Error(`blockSplitCrops: test share must be between 0 and 1, got ${testShare}`);
  for (const [k, v] of [['training', trainPerStructure], ['test', testPerStructure]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`blockSplitCrops: ${k} crops per structure must be a positive integer, got ${v}`);
  }
  const [nx, ny, nz] = volume.dims;
  const bx = Math.ceil(nx / block);
  const by = Math.ceil(ny / block);
  const bz = Math.ceil(nz / block);
  const wanted = new Map(structures.map((id, k) => [id, k]));
  const blockOf = (i: number) => {
    const x = i % nx;
    const y = Math.floor(i / nx) % ny;
    const z = Math.floor(i / (nx * ny));
    return (Math.floor(z / block) * by + Math.floor(y / block)) * bx + Math.floor(x / block);
  };

  // Blocks that hold a scored structure; a seeded share of them is held out (at least one on each side).
  const occupied = new Set<number>();
  for (let i = 0; i < labels.length; i++) if (wanted.has(labels[i])) occupied.add(blockOf(i));
  const blocks = [...occupied].sort((a, b) => a - b);
  const isTest = new Uint8Array(bx * by * bz);
  let testBlocks = 0;
  if (blocks.length >= 2) {
    testBlocks = Math.min(blocks.length - 1, Math.max(1, Math.round(testShare * blocks.length)));
    const order = shuffle(rng, blocks.length);
    for (let k = 0; k < testBlocks; k++) isTest[blocks[order[k]]] = 1;
  }

  // Test crops: uniform over each structure's voxels in held-out blocks.
  const testRes = structures.map(() => new Reservoir(testPerStructure));
  for (let i = 0; i < labels.length; i++) {
    const k = wanted.get(labels[i]);
    if (k !== undefined && isTest[blockOf(i)]) testRes[k].offer(rng, i);
  }
  const dropped: { id: number; reason: string }[] = [];
  const hasTest = structures.map((id, k) => {
    const n = testRes[k].seen;
    if (n >= testPerStructure) return true;
    dropped.push({ id, reason: n === 0 ? 'no voxel in the held-out blocks' : `${n} voxels in the held-out blocks, ${testPerStructure} test crops wanted` });
    return false;
  });

  // Training centres must be ≥ r (Chebyshev) from every test centre: mark the (2r−1)³ box around each.
  const forbidden = new Uint8Array(labels.length);
  const centre = (i: number): Vec3 => [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
  structures.forEach((_, k) => {
    if (!hasTest[k]) return;
    for (const i of testRes[k].items) {
      const [cx, cy, cz] = centre(i);
      for (let z = Math.max(0, cz - r + 1); z <= Math.min(nz - 1, cz + r - 1); z++)
        for (let y = Math.max(0, cy - r + 1); y <= Math.min(ny - 1, cy + r - 1); y++) {
          const row = (z * ny + y) * nx;
          forbidden.fill(1, row + Math.max(0, cx - r + 1), row + Math.min(nx - 1, cx + r - 1) + 1);
        }
    }
  });
  const trainRes = structures.map(() => new Reservoir(trainPerStructure));
  for (let i = 0; i < labels.length; i++) {
    const k = wanted.get(labels[i]);
    if (k !== undefined && hasTest[k] && !isTest[blockOf(i)] && !forbidden[i]) trainRes[k].offer(rng, i);
  }

  const kept: number[] = [];
  const train: StructureCrop[] = [];
  const test: StructureCrop[] = [];
  const toCrop = (i: number, id: number): StructureCrop => {
    const c = centre(i);
    return { volume: volume.index, volumeSlot: slot, center: c, origin: originAt(c, r), label: id };
  };
  structures.forEach((id, k) => {
    if (!hasTest[k]) return;
    const n = trainRes[k].seen;
    if (n < trainPerStructure) {
      dropped.push({ id, reason: n === 0 ? 'no voxel left for training crops disjoint from the test crops' : `${n} voxels left for training crops disjoint from the test crops, ${trainPerStructure} wanted` });
      return;
    }
    kept.push(id);
    // Sorted voxel order keeps the lists independent of the reservoirs' replacement history.
    for (const i of [...testRes[k].items].sort((a, b) => a - b)) test.push(toCrop(i, id));
    for (const i of [...trainRes[k].items].sort((a, b) => a - b)) train.push(toCrop(i, id));
  });
  dropped.sort((a, b) => structures.indexOf(a.id) - structures.indexOf(b.id));
  return { train, test, kept, dropped, blocks: blocks.length, testBlocks, block };
}
