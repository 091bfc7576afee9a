// The two shared CTs as preprocessed training volumes (3 mm isotropic, HU −175…250), for trainer tests and the
// step-time measurement. Cached per process: preprocessing takes a moment on 2 cores.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { preprocessVolume } from '../../src/preprocess/preprocess';
import type { PreprocessedVolume } from '../../src/volume/volume';
import { niftiVolume } from './niftiNode';
import { DATA } from './paths';

export const ABDOMEN_CT = resolve(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz');
export const CHEST_CT = resolve(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz');

const cache = new Map<string, PreprocessedVolume[]>();

/** [abdomen, chest] preprocessed at 3 mm, padded to at least the n·r × n·r × r region. */
export function loadTrainingVolumes(minSize: [number, number, number] = [96, 96, 32]): PreprocessedVolume[] {
  const key = minSize.join('x');
  const hit = cache.get(key);
  if (hit) return hit;
  for (const p of [ABDOMEN_CT, CHEST_CT]) if (!existsSync(p)) throw new Error(`test data missing: ${p} (see test/data/README.md)`);
  const settings = { spacing: [3, 3, 3] as [number, number, number], huWindow: [-175, 250] as [number, number], minSize };
  const vols = [
    preprocessVolume(niftiVolume(ABDOMEN_CT, { id: 'abdomen' }), settings),
    preprocessVolume(niftiVolume(CHEST_CT, { id: 'chest' }), settings),
  ];
  cache.set(key, vols);
  return vols;
}
