// The VoCo step with the authors' backbone (preset swin-tiny, feature size 12) at r = 64, the smallest crop it
// accepts, and the smallest VoCo step (B = 2 volumes × (2² base + 1 random) = 10 crops): two training steps on WebGPU
// (Dawn under Node) give finite losses and move the backbone, student head and (by EMA) teacher head, with no GPU error.
// Not on wasm: that step needs ~4.7 GiB of wasm heap (the run setup refuses it; tested below) and tfjs-wasm aborts
// at its 4 GiB; tfjs's pure-JS cpu backend takes hours. The run setup refuses r < 64 with the reason.
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu } from './helpers/nodeWebgpu';
import type { RunConfig } from '../src/worker/protocol';
import type { PreprocessedVolume } from '../src/volume/volume';
import { loadTrainingVolumes } from './helpers/trainingVolumes';
import { SLOW_TESTS } from './helpers/paths';
import { DEFAULT_RUN_CONFIG, validateRunConfig } from '../src/store/runConfig';
import { PRESETS, paramCount } from '../src/model/presets';

const gpu = SLOW_TESTS ? await initNodeWebgpu() : null;
const tf = await import('@tensorflow/tfjs-core');
const { Trainer } = await import('../src/worker/trainer');

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
    backend: 'webgpu',
    checkpointEvery: 0,
    ...over,
  };
}

let volumes: PreprocessedVolume[];

const VOLS = [{ id: 'abdomen', name: 'a', dims: [200, 200, 200] as [number, number, number] }, { id: 'chest', name: 'c', dims: [200, 200, 200] as [number, number, number] }];

describe('Trainer with the Swin backbone (webgpu)', () => {
  beforeAll(() => {
    if (!SLOW_TESTS) return;
    requireWebgpu(gpu!);
    volumes = loadTrainingVolumes([128, 128, 64]);
  });
  // Tens of minutes a step on a software adapter (2 shared cores): VOCO_SLOW_TESTS=1 runs it.
  it.skipIf(!SLOW_TESTS)('swin-tiny at r = 64: two steps, finite losses, every part of the model moves', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const gpuErrors: string[] = [];
    const onError = (e: Event) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
    device.addEventListener('uncapturederror', onError);
    // The run setup accepts this run on this adapter (memory, buffer limits).
    const params = paramCount(PRESETS['swin-tiny'], 64).total;
    expect(validateRunConfig(swinConfig(), { volumes: VOLS, preset: PRESETS['swin-tiny'], params, gpuLimits: device.limits })).toEqual([]);
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
      expect(tf.getBackend()).toBe('webgpu');
      expect(gpuErrors).toEqual([]);
    } finally {
      trainer.dispose();
      device.removeEventListener('uncapturederror', onError);
    }
  }, 7_200_000);

  it('the run setup refuses r < 64 for a Swin preset and says why', () => {
    const issues = validateRunConfig(swinConfig({ cropSize: 32 }), { volumes: VOLS, preset: PRESETS['swin-tiny'] });
    expect(issues.map((i) => i.message).join('\n')).toMatch(/r ≥ 64|at least 64/);
    expect(validateRunConfig(swinConfig(), { volumes: VOLS, preset: PRESETS['swin-tiny'] })).toEqual([]);
  });

  it('the run setup refuses the smallest swin-tiny step at r = 64 on wasm (over its 4 GiB heap) and says why', () => {
    const params = paramCount(PRESETS['swin-tiny'], 64).total;
    const issues = validateRunConfig(swinConfig({ backend: 'wasm' }), { volumes: VOLS, preset: PRESETS['swin-tiny'], params });
    expect(issues.map((i) => i.message).join('\n')).toMatch(/wasm heap/);
  });
});
