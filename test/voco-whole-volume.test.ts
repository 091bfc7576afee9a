// Whole-volume data mode (the reference's mode for whole-body and head-neck sets): the trilinear resize, the run
// config field (validation, JSON round trip, old files), and the trainer training on resized copies while maps and
// embeddings keep the volume's own grid.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { resizeTrilinear, trainingVolume } from '../src/voco/wholeVolume';
import { DEFAULT_RUN_CONFIG, parseRunConfig, resampledDims, serializeRunConfig, validateRunConfig } from '../src/store/runConfig';
import { PRESETS } from '../src/model/presets';
import { Trainer } from '../src/worker/trainer';
import type { RunConfig } from '../src/worker/protocol';
import type { PreprocessedVolume } from '../src/volume/volume';
import { loadTrainingVolumes } from './helpers/trainingVolumes';

describe('resizeTrilinear', () => {
  it('keeps a constant, keeps a linear ramp linear (half-voxel centres), and is the identity at the same size', () => {
    const dims = [7, 5, 3];
    const n = 7 * 5 * 3;
    const ramp = Float32Array.from({ length: n }, (_, i) => i % 7); // value = x
    expect(Array.from(resizeTrilinear(new Float32Array(n).fill(2.5), dims, [4, 9, 6])).every((v) => Math.abs(v - 2.5) < 1e-6)).toBe(true);
    expect(Array.from(resizeTrilinear(ramp, dims, dims))).toEqual(Array.from(ramp));
    // Downsampling 7 → 3 along x: output voxel i samples x = (i + 0.5)·7/3 − 0.5 (torch align_corners=False).
    const down = resizeTrilinear(ramp, dims, [3, 5, 3]);
    for (let i = 0; i < 3; i++) expect(down[i]).toBeCloseTo(((i + 0.5) * 7) / 3 - 0.5, 5);
    // Upsampling 7 → 14: the edges clamp to the first/last voxel.
    const up = resizeTrilinear(ramp, dims, [14, 5, 3]);
    expect(up[0]).toBe(0);
    expect(up[13]).toBe(6);
    expect(up[5]).toBeCloseTo((5.5 * 7) / 14 - 0.5, 5);
  });

  it('refuses data that does not fill the dims, and bad target dims', () => {
    expect(() => resizeTrilinear(new Float32Array(10), [2, 2, 2], [2, 2, 2])).toThrow(/do not fill/);
    expect(() => resizeTrilinear(new Float32Array(8), [2, 2, 2], [2, 0, 2])).toThrow(/positive integers/);
  });

  it('trainingVolume: region mode passes through, whole mode gives the n·r × n·r × r region', () => {
    const data = new Float32Array(10 * 12 * 14).fill(1);
    expect(trainingVolume(data, [10, 12, 14], 'region', 3, 8).data).toBe(data);
    const w = trainingVolume(data, [10, 12, 14], 'whole', 3, 8);
    expect(w.dims).toEqual([24, 24, 8]);
    expect(w.data.length).toBe(24 * 24 * 8);
    expect(() => trainingVolume(data, [10, 12, 14], 'sideways' as never, 3, 8)).toThrow(/unknown data mode/);
  });
});

describe('dataMode in the run configuration', () => {
  const small = { id: 's', name: 'small.nii', dims: [40, 40, 20] as [number, number, number] };
  const chest = { id: 'c', name: 'chest.nii', dims: resampledDims([128, 128, 141], [3.906, 3.906, 2], [3, 3, 3]) };
  const cfg: RunConfig = { ...DEFAULT_RUN_CONFIG, volumeIds: ['s', 'c'], preset: 'tiny', cropSize: 16 };
  const ctx = { volumes: [small, chest], preset: PRESETS.tiny };

  it('both modes accept a volume smaller than the region (region mode pads it, whole mode resizes it); an unknown mode is refused', () => {
    expect(validateRunConfig({ ...cfg, dataMode: 'region' }, ctx)).toEqual([]);
    expect(validateRunConfig({ ...cfg, dataMode: 'whole' }, ctx)).toEqual([]);
    const bad = validateRunConfig({ ...cfg, dataMode: 'slab' as never }, ctx);
    expect(bad.some((i) => i.field === 'dataMode' && /"slab"/.test(i.message))).toBe(true);
  });

  it('round-trips through JSON; a file without the field reads as region mode; a wrong value is refused', () => {
    expect(parseRunConfig(serializeRunConfig({ ...cfg, dataMode: 'whole' })).dataMode).toBe('whole');
    const { dataMode: _, ...old } = cfg;
    expect(parseRunConfig(JSON.stringify(old)).dataMode).toBe('region');
    expect(() => parseRunConfig(JSON.stringify({ ...cfg, dataMode: 3 }), 'x.json')).toThrow(/x\.json.*dataMode/);
  });

  it('clipping is off by default, as in the reference', () => {
    expect(DEFAULT_RUN_CONFIG.gradClip).toBe(0);
    expect(DEFAULT_RUN_CONFIG.weightDecay).toBe(0.01);
  });
});

describe('Trainer in whole-volume mode (cpu)', () => {
  let volumes: PreprocessedVolume[];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    volumes = loadTrainingVolumes();
  });

  it('plans every region at the origin of the resized copy, reports the scale back to the volume, and keeps maps on the volume grid', async () => {
    const cfg: RunConfig = { ...DEFAULT_RUN_CONFIG, volumeIds: ['abdomen', 'chest'], preset: 'tiny', cropSize: 8, backend: 'cpu', checkpointEvery: 0, dataMode: 'whole', seed: 3 };
    const trainer = await Trainer.create(cfg, volumes);
    try {
      for (let k = 0; k < 2; k++) {
        const m = await trainer.step();
        expect(Number.isFinite(m.loss)).toBe(true);
        for (const region of m.regions) {
          expect(region.origin).toEqual([0, 0, 0]);
          const v = volumes.find((x) => x.id === region.volumeId)!;
          expect(region.scale).toEqual([v.dims[0] / 24, v.dims[1] / 24, v.dims[2] / 8]);
          for (const c of region.crops) for (let a = 0; a < 3; a++) expect(c.origin[a] + c.size).toBeLessThanOrEqual(a < 2 ? 24 : 8);
        }
      }
      // Embeddings and maps index the volume's own grid, not the 24×24×8 copy.
      expect(trainer.volumeDims).toEqual(volumes.map((v) => v.dims));
      const far = volumes[0].dims.map((d) => d - 8) as [number, number, number];
      const e = await trainer.embedCrops([{ volume: 0, origin: far, flip: [false, false, false], rot90: 0, shift: 0 }]);
      expect(e.some((v) => v !== 0)).toBe(true);
      // The same seed in region mode draws other crops (regions are not at the origin).
      const region = await Trainer.create({ ...cfg, dataMode: 'region' }, volumes);
      try {
        const r0 = await region.step();
        expect(r0.regions.some((g) => g.origin.some((o) => o !== 0))).toBe(true);
        expect(r0.regions[0].scale).toBeUndefined();
      } finally {
        region.dispose();
      }
    } finally {
      trainer.dispose();
    }
    await expect(Trainer.create({ ...cfg, dataMode: "x" as never }, volumes)).rejects.toThrow(/data mode/);
  });
});
