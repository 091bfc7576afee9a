import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RUN_CONFIG,
  cropsPerStep,
  estimateStepMemory,
  parseRunConfig,
  regionSize,
  resampledDims,
  serializeRunConfig,
  validateRunConfig,
  wasmHeapRefusal,
  type ValidationContext,
} from '../src/store/runConfig';
import { PRESETS, paramCount } from '../src/model/presets';
import type { RunConfig } from '../src/worker/protocol';

// Abdomen 122×101×112 @ 3 mm and chest 128×128×141 @ 3.906×3.906×2 mm, resampled to 3 mm.
const abdomen = { id: 'a', name: 'example_ct.nii.gz', dims: resampledDims([122, 101, 112], [3, 3, 3], [3, 3, 3]) };
const chest = { id: 'c', name: 'chest_ct_derived_4x.nii.gz', dims: resampledDims([128, 128, 141], [3.906, 3.906, 2], [3, 3, 3]) };

const good: RunConfig = { ...DEFAULT_RUN_CONFIG, volumeIds: ['a', 'c'], preset: 'tiny', cropSize: 16 };
const ctx = (over: Partial<ValidationContext> = {}): ValidationContext => ({
  volumes: [abdomen, chest],
  preset: PRESETS.tiny,
  gpuLimits: { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 },
  ...over,
});
const messages = (c: RunConfig, x = ctx()) => validateRunConfig(c, x).map((i) => `${i.field}: ${i.message}`);

describe('run configuration validation', () => {
  it('accepts the studio defaults on two real volumes', () => {
    expect(resampledDims([128, 128, 141], [3.906, 3.906, 2], [3, 3, 3])).toEqual([167, 167, 94]);
    expect(messages(good)).toEqual([]);
    expect(messages({ ...good, preset: 'S', cropSize: 32 }, ctx({ preset: PRESETS.S }))).toEqual([]);
    expect(regionSize(good)).toEqual([48, 48, 16]);
    expect(cropsPerStep(good)).toBe(2 * (9 + 2));
  });

  it('refuses fewer than 2 volumes, unknown volumes and B < 2', () => {
    expect(messages({ ...good, volumeIds: ['a'] })).toContainEqual(expect.stringMatching(/^volumes: 1 volume selected.*at least 2/));
    expect(messages({ ...good, volumeIds: ['a', 'zzz'] })).toContainEqual(expect.stringMatching(/volume "zzz" is not loaded/));
    expect(messages({ ...good, batchVolumes: 1 })).toContainEqual(expect.stringMatching(/^batchVolumes: .*B = 1.*≥ 2/));
    expect(messages({ ...good, batchVolumes: 3 })).toContainEqual(expect.stringMatching(/B = 3 but only 2 volumes/));
  });

  it('accepts scans smaller than the region: preprocessing pads them (60×63×82 at 1 mm → 20×21×27 at 3 mm)', () => {
    const small = { id: 's', name: 'small.nii.gz', dims: resampledDims([60, 63, 82], [1, 1, 1], [3, 3, 3]) };
    expect(small.dims).toEqual([20, 21, 27]);
    const m = messages({ ...good, volumeIds: ['a', 's'], cropSize: 64 }, ctx({ volumes: [abdomen, small] }));
    expect(m.filter((x) => /larger than volume|small/.test(x))).toEqual([]);
  });

  it("refuses a crop size that is not a multiple of the preset's patch", () => {
    expect(messages({ ...good, cropSize: 18 })).toContainEqual(expect.stringMatching(/r = 18 is not a multiple of preset tiny's patch size 4/));
    expect(messages({ ...good, preset: 'S', cropSize: 20 }, ctx({ preset: PRESETS.S }))).toContainEqual(expect.stringMatching(/patch size 8/));
    expect(messages({ ...good, preset: 'nope' }, ctx({ preset: undefined }))).toContainEqual('preset: unknown model preset "nope"');
  });

  it('refuses a crop batch over the GPU buffer limit (only when WebGPU may be used)', () => {
    const big: RunConfig = { ...good, preset: 'S', cropSize: 32, randomCrops: 64 };
    const small = ctx({ preset: PRESETS.S, gpuLimits: { maxStorageBufferBindingSize: 8 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 } });
    const m = messages(big, small);
    expect(m).toContainEqual(expect.stringMatching(/^gpu: the crop batch does not fit the GPU's buffer limit: .* the limit is 8.0 MiB/));
    expect(messages({ ...big, backend: 'wasm' }, small)).toEqual([]);
    expect(messages(big, ctx({ preset: PRESETS.S, gpuLimits: null }))).toEqual([]);
  });

  it('refuses bad optimisation settings', () => {
    const m = messages({ ...good, lr: 0, warmupSteps: 500, totalSteps: 100, weightDecay: -1, seed: 1.5, checkpointEvery: -2, gridN: 1 });
    for (const f of ['lr', 'warmupSteps', 'weightDecay', 'seed', 'checkpointEvery', 'gridN']) {
      expect(m.some((x) => x.startsWith(`${f}:`))).toBe(true);
    }
    expect(messages({ ...good, huWindow: [250, -175] })).toContainEqual(expect.stringMatching(/^huWindow:/));
  });

  it('estimates memory per step from the preset and the crop batch (coefficients calibrated by the bench)', () => {
    const est = estimateStepMemory(PRESETS.S, { ...good, cropSize: 32 }, 1_000_000);
    // Stored: 4 floats per trainable parameter (weight, m, v, amsgrad max) + the teacher head (640→1024→1024→1024).
    const teacher = 640 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 1024 + 1024;
    expect(est.parameterBytes).toBe(4 * (4_000_000 + teacher));
    // Step: 2.33 per parameter + 22 crops × 4 blocks × (115.5·64·128 + 7.5·2·64²) + 15.5·22·32³ + 0.6 M, in floats.
    const act = 2.33e6 + 22 * 4 * (115.5 * 64 * 128 + 7.5 * 2 * 4096) + 15.5 * 22 * 32768 + 6e5;
    expect(est.activationBytes).toBe(4 * Math.round(act));
    expect(est.totalBytes).toBe(est.parameterBytes + est.activationBytes);
    expect(est.wasmHeapBytes).toBe(Math.round(1.2 * est.totalBytes));
    expect(est.largestBuffer.bytes).toBe(22 * 32 ** 3 * 4); // input tokens and MLP hidden tie here
    // Packed volumes count when given.
    expect(estimateStepMemory(PRESETS.S, { ...good, cropSize: 32 }, 1_000_000, 1000).parameterBytes).toBe(est.parameterBytes + 4000);
    // tiny at r = 32: T = 8³ = 512 tokens, so the attention scores dominate.
    const tiny = estimateStepMemory(PRESETS.tiny, { ...good, cropSize: 32 }, 0);
    expect(tiny.largestBuffer).toEqual({ bytes: 22 * 2 * 512 * 512 * 4, what: 'attention scores (22 crops × 2 heads × 512² tokens)' });
  });

  it('measured peaks (bench, wasm, 22 crops) fall within 15 % of the estimate', () => {
    // tf.profile peakBytes of one step minus what was live before the trainer, from the calibration runs.
    const measuredMiB: [string, number, number][] = [['S', 32, 498.9], ['B', 32, 680.0], ['L', 32, 1276.9], ['H', 16, 1002.9], ['tiny', 32, 1018]];
    for (const [name, r, mib] of measuredMiB) {
      const est = estimateStepMemory(PRESETS[name], { ...good, preset: name, cropSize: r }, paramCount(PRESETS[name], r).total, 800_000);
      expect(est.totalBytes / 2 ** 20 / mib, `${name} r=${r}`).toBeGreaterThan(0.85);
      expect(est.totalBytes / 2 ** 20 / mib, `${name} r=${r}`).toBeLessThan(1.15);
    }
  });

  it('cpu/wasm (fused kernels): measured peaks (bench, wasm, 22 crops, r = 32) fall within 15 % of the estimate', () => {
    // npm run bench -- --backends wasm --presets tiny,S,B,L then H --steps 1 (17:20, this session): tf.profile peakBytes.
    const measuredMiB: [string, number][] = [['tiny', 563], ['S', 305], ['B', 407], ['L', 743], ['H', 2165]];
    const packed = 2_760_128; // the bench's two packed sample volumes
    for (const [name, mib] of measuredMiB) {
      const config = { ...good, preset: name, cropSize: 32, backend: 'wasm' as const };
      const ratio = estimateStepMemory(PRESETS[name], config, paramCount(PRESETS[name], 32).total, packed).totalBytes / 2 ** 20 / mib;
      expect(ratio, name).toBeGreaterThan(0.85);
      expect(ratio, name).toBeLessThan(1.15);
      // The GPU backends keep the tf-op path, which holds more.
      expect(estimateStepMemory(PRESETS[name], { ...config, backend: 'webgpu' }, paramCount(PRESETS[name], 32).total, packed).totalBytes).toBeGreaterThan(1.3 * mib * 2 ** 20);
    }
  });

  it('refuses a run whose step cannot fit the 4 GiB wasm heap before it starts, with the numbers', () => {
    const wasmCtx = (preset: string, r: number) => ctx({ preset: PRESETS[preset], params: paramCount(PRESETS[preset], r).total, gpuLimits: null });
    // H at r = 32 with 22 crops fits since the fused cpu/wasm kernels (2.4 GiB heap measured); 50 crops do not.
    expect(validateRunConfig({ ...good, preset: 'H', cropSize: 32, backend: 'wasm' }, wasmCtx('H', 32))).toEqual([]);
    const h32: RunConfig = { ...good, preset: 'H', cropSize: 32, backend: 'wasm', randomCrops: 16 };
    const refused = validateRunConfig(h32, wasmCtx('H', 32));
    expect(refused).toHaveLength(1);
    expect(refused[0].field).toBe('preset');
    expect(refused[0].message).toMatch(/^preset H at r = 32 with 50 crops per step needs about [4-9]\.\d GiB of wasm heap \([\d.]+ GiB of tensors at the step's peak\), over the 4\.0 GiB a wasm backend can address; lower B, sw or r, or choose a smaller preset$/);
    // 'auto' without a WebGPU adapter lands on wasm: refused too. With an adapter, or on webgpu, the heap is not the limit.
    expect(validateRunConfig({ ...h32, backend: 'auto' }, wasmCtx('H', 32))).toHaveLength(1);
    expect(validateRunConfig({ ...h32, backend: 'auto' }, { ...wasmCtx('H', 32), gpuLimits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 } })).toEqual([]);
    // Only a software adapter (SwiftShader): auto never picks it and lands on wasm, so the heap is the limit.
    expect(validateRunConfig({ ...h32, backend: 'auto' }, { ...wasmCtx('H', 32), gpuLimits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31, software: true } })).toHaveLength(1);
    expect(validateRunConfig({ ...h32, backend: 'webgpu' }, { ...wasmCtx('H', 32), gpuLimits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 } })).toEqual([]);
    // Smaller steps of the same preset, and the default preset, fit.
    expect(validateRunConfig({ ...h32, cropSize: 16 }, wasmCtx('H', 16))).toEqual([]);
    expect(validateRunConfig({ ...h32, preset: 'B' }, wasmCtx('B', 32))).toEqual([]);
    expect(validateRunConfig({ ...h32, preset: 'L' }, wasmCtx('L', 32))).toEqual([]);
  });
});

describe('run configuration JSON', () => {
  it('round-trips', () => {
    const c: RunConfig = { ...good, spacing: [1.5, 1.5, 2], huWindow: [-1000, 500], backend: 'wasm', lr: 3.3e-5 };
    expect(parseRunConfig(serializeRunConfig(c))).toEqual(c);
    // A bare RunConfig object is accepted too.
    expect(parseRunConfig(JSON.stringify(c))).toEqual(c);
  });

  it('rejects files that are not a run configuration, naming the problems', () => {
    expect(() => parseRunConfig('{oops', 'x.json')).toThrow(/x.json is not JSON/);
    expect(() => parseRunConfig('[1,2]', 'x.json')).toThrow(/x.json is not a valid VoCo run configuration/);
    expect(() => parseRunConfig(JSON.stringify({ format: 'something-else', config: good }), 'y.json')).toThrow(/format "something-else"/);
    // The half-precision opt-in (WebGPU matmul operands in f16) round-trips and must be a boolean.
    const half: RunConfig = { ...good, halfPrecisionMatmul: true };
    expect(parseRunConfig(serializeRunConfig(half)).halfPrecisionMatmul).toBe(true);
    expect(() => parseRunConfig(JSON.stringify({ ...good, halfPrecisionMatmul: 'yes' }), 'h.json')).toThrow(/halfPrecisionMatmul \(true\|false\)/);
    const broken = { ...good, cropSize: '32', backend: 'gpu' } as unknown;
    expect(() => parseRunConfig(JSON.stringify(broken), 'z.json')).toThrow(/cropSize \(number\).*backend/);
  });
});

describe('preprocessed size estimate', () => {
  it('follows the RAS axes of the affine', async () => {
    const { resampledRasDims } = await import('../src/store/runConfig');
    // LPS-like axis-aligned: same as resampledDims.
    expect(resampledRasDims([128, 128, 141], [[-3.906, 0, 0, 0], [0, -3.906, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], [3, 3, 3])).toEqual([167, 167, 94]);
    // Voxel axes permuted (slices along y): world x ← voxel 0, world y ← voxel 2, world z ← voxel 1.
    expect(resampledRasDims([100, 50, 20], [[1, 0, 0, 0], [0, 0, 2, 0], [0, 3, 0, 0], [0, 0, 0, 1]], [1, 1, 1])).toEqual([100, 40, 150]);
  });
});

describe('continuing pre-training of an imported reference-encoder model (wasmHeapRefusal, used by Open on my scans)', () => {
  // The configuration an imported model is opened with: the setup's defaults at r = 64 (B = 2, n = 3, sw = 2: 22 crops).
  const imported = (preset: string, over: Partial<RunConfig> = {}): RunConfig => ({ ...good, preset, cropSize: 64, backend: 'wasm', ...over });
  const voxels = 2 * 192 * 192 * 64;
  it('the fixture model (swin-tiny) and VoCo-B at 22 crops of 64³ are refused on wasm with the heap they need; VoCo-B on a GPU is not the heap\'s business', () => {
    for (const name of ['swin-tiny', 'VoCo-B']) {
      const why = wasmHeapRefusal(PRESETS[name], imported(name), paramCount(PRESETS[name], 64).total, voxels, null);
      expect(why, name).toMatch(new RegExp(`^preset ${name} at r = 64 with 22 crops per step needs about [\\d.]+ GiB of wasm heap`));
      expect(why).toContain('over the 4.0 GiB a wasm backend can address');
      const gib = Number(/about ([\d.]+) GiB/.exec(why!)![1]);
      console.log(`[memory] ${name}, 22 crops of 64³ on wasm: ${gib} GiB of heap`);
      expect(gib).toBeGreaterThan(4);
    }
    expect(wasmHeapRefusal(PRESETS['VoCo-B'], imported('VoCo-B', { backend: 'webgpu' }), paramCount(PRESETS['VoCo-B'], 64).total, voxels, null)).toBeNull();
    expect(wasmHeapRefusal(PRESETS['VoCo-B'], imported('VoCo-B', { backend: 'auto' }), paramCount(PRESETS['VoCo-B'], 64).total, voxels, { maxStorageBufferBindingSize: 2 ** 31 })).toBeNull();
  });
  it('the estimate grows with the crops of the step: the smallest step (B = 2, n = 2, sw = 1: 10 crops) needs less than 22 crops', () => {
    const small = imported('swin-tiny', { gridN: 2, randomCrops: 1 });
    expect(cropsPerStep(small)).toBe(10);
    const p = paramCount(PRESETS['swin-tiny'], 64).total;
    const a = estimateStepMemory(PRESETS['swin-tiny'], small, p, voxels);
    const b = estimateStepMemory(PRESETS['swin-tiny'], imported('swin-tiny'), p, voxels);
    console.log(`[memory] swin-tiny, 10 crops of 64³: ${(a.wasmHeapBytes / 2 ** 30).toFixed(2)} GiB of heap; 22 crops: ${(b.wasmHeapBytes / 2 ** 30).toFixed(2)} GiB`);
    expect(a.activationBytes).toBeLessThan(b.activationBytes * 0.6);
  });
});
