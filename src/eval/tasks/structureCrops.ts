// The labelled crops shared by the probe, retrieval and segmentation tasks: which structures, which crops, and
// the reasons a task cannot run on the data it was given.
import type { Rng } from '../../voco/rng';
import { chooseStructures, sampleStructureCrops, type StructureCrop, type TaskVolume } from '../sampling';
import type { TaskData } from './types';

export interface LabelledCrops {
  structures: number[];
  crops: StructureCrop[];
  labelled: TaskVolume[];
}

/** Structures and crops centred in them, or the reason there are none. */
export function labelledCrops(data: TaskData, rng: Rng, perStructure: number): LabelledCrops | { reason: string } {
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
  if (!Number.isInteger(perStructure) || perStructure < 1) return { reason: `crops per structure must be a positive integer, got ${perStructure}` };
  return { structures, crops: sampleStructureCrops(rng, labelled, structures, perStructure, o.cropSize), labelled };
}
