// Timings of preprocessVolume on the shared scans (printed, not asserted: the machine is shared).
// Run alone: npx vitest run test/preprocess.timing.test.ts
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import type { Volume } from '../src/volume/volume';
import { preprocessVolume } from '../src/preprocess/preprocess';
import { PREPROCESS_PRESETS, type PreprocessSettings } from '../src/preprocess/settings';
import { niftiVolume } from './helpers/niftiNode';
import { DATA } from './helpers/paths';

const studio = PREPROCESS_PRESETS.studio.settings;
const at15: PreprocessSettings = { ...studio, spacing: [1.5, 1.5, 1.5], minSize: [192, 192, 64] };

function time(vol: Volume, settings: PreprocessSettings, runs = 3) {
  preprocessVolume(vol, settings); // warm-up (JIT)
  const ms: number[] = [];
  let dims: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    dims = preprocessVolume(vol, settings).dims;
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { dims: dims.join('×'), medianMs: Math.round(ms[Math.floor(runs / 2)]) };
}

const files = [
  ['ct-abdomen-totalseg/example_ct.nii.gz', 'ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz'],
  ['ct-abdomen-totalseg/example_ct_sm.nii.gz', 'ct-abdomen-totalseg/example_seg.nii.gz'],
  ['ct-chest-elastix/chest_ct_derived_4x.nii.gz', undefined],
] as const;

describe('preprocessVolume timings', () => {
  it('shared NIfTI scans at the studio preset and at 1.5 mm', () => {
    const rows: Record<string, unknown>[] = [];
    for (const [file, seg] of files) {
      const vol = niftiVolume(`${DATA}/${file}`, { labelsPath: seg ? `${DATA}/${seg}` : undefined });
      for (const [preset, s] of [['studio 3 mm', studio], ['1.5 mm', at15]] as const) {
        rows.push({ file, input: vol.dims.join('×'), labels: !!vol.labels, preset, ...time(vol, s) });
      }
    }
    console.table(rows);
    expect(rows.length).toBe(6);
  });

  it('a 512×512×300 int16 scan (0.7×0.7×1 mm) at the studio preset', () => {
    const dims: [number, number, number] = [512, 512, 300];
    const data = new Int16Array(512 * 512 * 300);
    for (let z = 0, i = 0; z < 300; z++)
      for (let y = 0; y < 512; y++)
        for (let x = 0; x < 512; x++, i++) data[i] = (x - 256) ** 2 + (y - 256) ** 2 < 200 ** 2 ? 40 + ((x * 7 + y * 3 + z) % 200) : -1000;
    const vol: Volume = {
      id: 'big', name: 'synthetic 512×512×300', dims, spacing: [0.7, 0.7, 1],
      affine: [[-0.7, 0, 0, 180], [0, -0.7, 0, 180], [0, 0, 1, -150], [0, 0, 0, 1]],
      data, sourceFiles: [],
    };
    const r = time(vol, studio, 2);
    console.log('512×512×300 int16 LPS → studio:', r);
    expect(r.dims).toBe('96×96×100'); // 280 mm disk → 94 voxels, padded to 96
  });
});
