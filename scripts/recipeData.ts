// What the recipe scripts (recipe-experiment.ts, map-variants.ts) share: their argument reader, the bundled CTs
// they train and score on, and the structures clicked for the map AUC.
import { resolve } from 'node:path';

/** The script's arguments from an environment variable, split on spaces (Vitest passes no argv of its own). */
export function argsFrom(envVar: string): string[] {
  return (process.env[envVar] ?? '').split(/\s+/).filter(Boolean);
}

/** Reads `--name value` options from those arguments. */
export function optionReader(argv: string[]): (name: string, fallback?: string) => string | undefined {
  return (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
}

export const root = resolve(import.meta.dirname, '..');
export const DATA = process.env.VOCO_TEST_DATA ?? resolve(root, 'test/data');
export const ABDOMEN = resolve(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz');
export const ABDOMEN_SEG = resolve(DATA, 'ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz');
export const CHEST = resolve(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz');

/** Structures clicked for the map AUC (TotalSegmentator v2 ids). */
export const STRUCTURES: [number, string][] = [
  [5, 'liver'],
  [1, 'spleen'],
  [2, 'kidney_right'],
  [3, 'kidney_left'],
  [52, 'aorta'],
  [31, 'vertebrae_L1'],
  [29, 'vertebrae_L3'],
];
