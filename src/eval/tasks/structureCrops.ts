// The labelled crops shared by the probe, retrieval and segmentation tasks: which structures, which crops, the
// train/test split, and the reasons a task cannot run on the data it was given.
import type { Rng } from '../../voco/rng';
import { blockSplitCrops } from '../blockSplit';
import { chooseStructures, sampleStructureCrops, splitCrops, type StructureCrop, type TaskVolume } from '../sampling';
import { structureName, type TaskData } from './types';

export interface LabelledCrops {
  structures: number[];
  crops: StructureCrop[];
  labelled: TaskVolume[];
}

/** The structures worth scoring (before any split), or the reason there are not enough. */
function candidateStructures(data: TaskData): { structures: number[]; labelled: TaskVolume[] } | { reason: string } {
  const labelled = data.volumes.filter((v) => v.labels);
  if (labelled.length === 0) return { reason: 'no scored volume has a label map: drop one with its scan, or pair one in the Benchmark panel' };
  const o = data.options;
  const structures = chooseStructures(labelled, {
    max: o.maxStructures,
    minVoxels: o.minStructureVoxels,
    requireAll: labelled.length >= 2,
    only: o.structures,
  });
  if (structures.length < 2) {
    return {
      reason:
        `needs at least 2 labelled structures with ≥ ${o.minStructureVoxels} voxels` +
        (labelled.length >= 2 ? ' in every labelled volume' : '') +
        `, found ${structures.length}`,
    };
  }
  return { structures, labelled };
}

/** Structures and crops centred in them (no split: retrieval), or the reason there are none. */
export function labelledCrops(data: TaskData, rng: Rng, perStructure: number): LabelledCrops | { reason: string } {
  const found = candidateStructures(data);
  if ('reason' in found) return found;
  if (!Number.isInteger(perStructure) || perStructure < 1) return { reason: `crops per structure must be a positive integer, got ${perStructure}` };
  return { structures: found.structures, crops: sampleStructureCrops(rng, found.labelled, found.structures, perStructure, data.options.cropSize), labelled: found.labelled };
}

export interface LabelledSplit {
  /** Structures with crops on both sides of the split. */
  structures: number[];
  train: StructureCrop[];
  test: StructureCrop[];
  /** How the split was made (for the report). */
  how: string;
}

/**
 * Training and test crops, no test crop sharing a voxel with a training crop. Several labelled volumes: split by
 * volume (src/eval/sampling.ts splitCrops). One labelled volume: split by blocks (src/eval/blockSplit.ts) —
 * round(testShare·perStructure) test crops and the rest training crops for every structure kept, centred in
 * held-out blocks and ≥ r voxels from every test crop respectively (class-balanced).
 */
export function labelledSplit(data: TaskData, rng: Rng, perStructure: number): LabelledSplit | { reason: string } {
  const found = candidateStructures(data);
  if ('reason' in found) return found;
  const o = data.options;
  if (!Number.isInteger(perStructure) || perStructure < 2) return { reason: `crops per structure must be an integer ≥ 2 (some to train, some to test), got ${perStructure}` };
  if (found.labelled.length >= 2 || o.oneVolumeSplit === 'overlapping') {
    const crops = sampleStructureCrops(rng, found.labelled, found.structures, perStructure, o.cropSize);
    const split = splitCrops(rng, crops, o.testShare);
    return { structures: found.structures, train: split.train, test: split.test, how: split.how };
  }
  const testPer = Math.min(perStructure - 1, Math.max(1, Math.round(o.testShare * perStructure)));
  const trainPer = perStructure - testPer;
  const split = blockSplitCrops(rng, found.labelled[0], 0, found.structures, { r: o.cropSize, testShare: o.testShare, trainPerStructure: trainPer, testPerStructure: testPer });
  const name = (id: number) => structureName(data.labelNames, id);
  const dropped = split.dropped.length ? `; left out of this split: ${split.dropped.map((d) => `${name(d.id)} (${d.reason})`).join(', ')}` : '';
  if (split.kept.length < 2) {
    return { reason: `one labelled volume split by ${split.block}³-voxel blocks: only ${split.kept.length} of ${found.structures.length} structures could fill ${trainPer} training and ${testPer} test crops that share no voxel${dropped}` };
  }
  return {
    structures: split.kept,
    train: split.train,
    test: split.test,
    how:
      `one labelled volume, split by ${split.block}³-voxel blocks (${split.testBlocks} of ${split.blocks} held out): no test crop shares a voxel with a training crop ` +
      `(same patient: still optimistic); ${split.kept.length} of ${found.structures.length} structures, ${trainPer} training and ${testPer} test crops each${dropped}`,
  };
}
