// The VoCo step with the authors' backbone (preset swin-tiny, feature size 12) on the cpu backend at r = 64, the
// smallest crop it accepts: two training steps give finite losses and move the backbone, student head and (by EMA)
// teacher head; the run setup refuses r < 64 with the reason.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer } from '../src/worker/trainer';
import type { RunConfig } from '../src/worker/protocol';
import type { PreprocessedVolume } from '../src/volume/volume';
import { loadTrainingVolumes } from './helpers/trainingVolumes';
import { SLOW_TESTS } from './helpers/paths';
import { DEFAULT_RUN_CONFIG, validateRunConfig } from '../src/store/runConfig';
import { PRESETS, paramCount } from '../src/model/presets';

function swinConfig(over: Partial<RunConfig> = {}): RunConfig {
  return {
    ...DEFAULT_RUN_CONFIG,
    dataMode: 'region',
    volumeIds: ['abdomen', 'chest'],
    preset: 'swin-tiny',
    gridN: 2,
    cropSize: 64,
    batchVolumes: 2,
    randomCrops: 1,
    warmupSteps: 0,
    totalSteps: 10,
    lr: 1e-3,
    seed: 3,
    backend: 'cpu',
    checkpointEvery: 0,
    ...over,
  };
}

let volumes: PreprocessedVolume[];

beforeAll(async () => {
  await tf.setBackend('cpu');
  volumes = loadTrainingVolumes([128, 128, 64]);
});

describe('Trainer with the Swin backbone (cpu)', () => {
  // Minutes per step on tfjs's pure-JS cpu backend here: VOCO_SLOW_TESTS=1 runs it.
  it.skipIf(!SLOW_TESTS)('swin-tiny at r = 64: two steps, finite losses, every part of the model moves', async () => {
    const trainer = await Trainer.create(swinConfig(), volumes);
    try {
      const before = new Map((await trainer.exportState()).weights.map((w) => [w.name, w.data]));
      expect(before.has('backbone.swinViT.layers1.0.blocks.0.attn.qkv.weight')).toBe(true);
      expect(trainer.embedDim).toBe(24 * 12);
      const counts = trainer.paramCounts();
      expect(counts.encoder).toBe(paramCount(PRESETS['swin-tiny'], 64).encoder);
      const steps = [await trainer.step(), await trainer.step()];
      for (const m of steps) {
        console.log(`[swin-trainer] step ${m.step}: loss ${m.loss.toFixed(4)} (intra ${m.intra.toFixed(4)}, inter ${m.inter.toFixed(4)}, reg ${m.reg.toFixed(4)}), |g| ${m.gradNorm?.toExponential(2)}, ${Math.round(m.stepMs)} ms`);
        expect(Number.isFinite(m.loss)).toBe(true);
        expect(m.gradNorm).toBeGreaterThan(0);
        expect(m.loss).toBeCloseTo(m.intra + m.inter + m.reg, 4);
      }
      const after = new Map((await trainer.exportState()).weights.map((w) => [w.name, w.data]));
      const moved = (name: string) => {
        const a = before.get(name)!;
        const b = after.get(name)!;
        return a.some((v, i) => v !== b[i]);
      };
      for (const name of [
        'backbone.swinViT.patch_embed.proj.weight',
        'backbone.swinViT.layers1.0.blocks.1.attn.relative_position_bias_table',
        'backbone.swinViT.layers4c.0.layer.conv2.conv.weight',
        'backbone.encoder1.layer.conv1.conv.weight',
        'backbone.encoder10.layer.conv2.conv.weight',
        'student.layer3.0.weight',
        'teacher.layer1.0.weight',
      ]) expect(moved(name), name).toBe(true);
    } finally {
      trainer.dispose();
    }
  }, 1_800_000);

  it('the run setup refuses r < 64 for a Swin preset and says why', () => {
    const vols = [{ id: 'abdomen', name: 'a', dims: [200, 200, 200] as [number, number, number] }, { id: 'chest', name: 'c', dims: [200, 200, 200] as [number, number, number] }];
    const issues = validateRunConfig(swinConfig({ cropSize: 32 }), { volumes: vols, preset: PRESETS['swin-tiny'] });
    expect(issues.map((i) => i.message).join('\n')).toMatch(/r ≥ 64|at least 64/);
    expect(validateRunConfig(swinConfig(), { volumes: vols, preset: PRESETS['swin-tiny'] })).toEqual([]);
  });
});
