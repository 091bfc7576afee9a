// src/backend/webgpuKernelChoice.ts on WebGPU under Node (Dawn): initBackend('webgpu') chooses the matmul and crop
// sampler kernels by measurement on this adapter (it is not a "software adapter" rule any more), remembers the
// choice per device, and every candidate it can pick computes what the CPU twin computes.
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU } from './helpers/nodeWebgpu';

const gpu = await initNodeWebgpu();
const tf = await import('@tensorflow/tfjs-core');
const { initBackend, onGpuError } = await import('../src/backend/backends');
const choice = await import('../src/backend/webgpuKernelChoice');
const mm = await import('../src/kernels/matMulRegisterTiled');
const cs = await import('../src/kernels/cropSampler');
const { packVolumes } = await import('../src/kernels/packVolumes');

describe.skipIf(SKIP_NODE_WEBGPU)('WebGPU kernels chosen by measurement (Node, Dawn)', () => {
  beforeAll(() => requireWebgpu(gpu));
  const errors: string[] = [];
  beforeAll(() => {
    onGpuError((m) => errors.push(m));
  });

  it('initBackend measures the candidates on this adapter and reports the choice', async () => {
    const info = await initBackend('webgpu', { useStore: false });
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const features = [...device.features].map(String);
    console.log(`[kernel choice] Dawn adapter ${info.adapter}; subgroups ${features.includes('subgroups')}, shader-f16 ${features.includes('shader-f16')}`);
    const line = (info.kernels ?? []).find((k) => k.startsWith('BatchMatMul →'));
    console.log(`[kernel choice] ${line}`);
    expect(line).toMatch(/^BatchMatMul → (tfjs's|tiled|tiled-pairs|tiled-subgroups) \(tiled [\d.]+ ms, tiled-pairs [\d.]+ ms, (tiled-subgroups [\d.]+ ms, )?tfjs [\d.]+ ms\); crop sampler \d+×\d+ \(64x8 [\d.]+ ms, 256x8 [\d.]+ ms, 64x4 [\d.]+ ms, 128x1 [\d.]+ ms\), (measured|remembered)$/);
    // A subgroup candidate runs only where the device has the feature.
    expect(line!.includes('tiled-subgroups')).toBe(features.includes('subgroups'));
    expect(errors).toEqual([]);
  });

  it('a second start reuses the remembered choice without timing again', async () => {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const features = [...device.features].map(String);
    const a = await choice.chooseWebGpuKernels('test-device', features, { useStore: false });
    const b = await choice.chooseWebGpuKernels('test-device', features, { useStore: false });
    expect(a.source).toBe('measured');
    expect(b.source).toBe('remembered');
    expect(b.matmul).toBe(a.matmul);
    expect(b.cropSampler).toEqual(a.cropSampler);
    // A remembered subgroup choice is not applied to a device without subgroups.
    const c = await choice.chooseWebGpuKernels('test-device', [], { useStore: false });
    expect(c.matmul === 'tiled-subgroups' ? 'unexpected' : 'ok').toBe('ok');
  });

  it('half-precision storage is a matmul candidate only when the run opts in (it changes the numbers)', async () => {
    await initBackend('webgpu', { useStore: false });
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const features = [...device.features].map(String);
    const off = await choice.chooseWebGpuKernels('f16-device', features, { useStore: false });
    expect(Object.keys(off.matmulMs)).not.toContain('tiled-f16');
    expect(['tiled-f16', 'tiled-f16-native']).not.toContain(off.matmul);
    const on = await choice.chooseWebGpuKernels('f16-device', features, { useStore: false, halfPrecision: true });
    expect(on.source).toBe('measured');
    expect(on.halfPrecision).toBe(true);
    expect(Object.keys(on.matmulMs)).toContain('tiled-f16');
    // The native variant is measured only where the device has shader-f16.
    expect(Object.keys(on.matmulMs).includes('tiled-f16-native')).toBe(features.includes('shader-f16'));
    console.log(`[kernel choice, f16 allowed] ${choice.describeWebGpuKernelChoice(on)}`);
    // A run without the opt-in still gets its own (float32) choice afterwards.
    const again = await choice.chooseWebGpuKernels('f16-device', features, { useStore: false });
    expect(again.source).toBe('remembered');
    expect(['tiled-f16', 'tiled-f16-native']).not.toContain(again.matmul);
    expect(errors).toEqual([]);
  });

  it('every matmul candidate equals the cpu backend (forward and a weight gradient shape)', async () => {
    await initBackend('webgpu', { useStore: false });
    const a = tf.randomUniform([70, 48], -1, 1, 'float32', 5);
    const b = tf.randomUniform([48, 40], -1, 1, 'float32', 6);
    const dy = tf.randomUniform([70, 40], -1, 1, 'float32', 7);
    const cpu = async () => {
      await tf.setBackend('cpu');
      const av = tf.tensor(await a.data(), a.shape), bv = tf.tensor(await b.data(), b.shape), dv = tf.tensor(await dy.data(), dy.shape);
      const out = [await tf.matMul(av, bv).data(), await tf.matMul(av, dv, true, false).data()];
      tf.dispose([av, bv, dv]);
      await tf.setBackend('webgpu');
      return out;
    };
    const want = await cpu();
    for (const c of ['tfjs', 'tiled', 'tiled-pairs'] as const) {
      choice.applyWebGpuKernelChoice({ matmul: c, cropSampler: { workgroupX: 64, perThread: 8 } });
      expect(mm.registerTiledMatMulActive()).toBe(c !== 'tfjs');
      const got = [await tf.matMul(a, b).data(), await tf.matMul(a, dy, true, false).data()];
      got.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - want[i][j]), `${c} product ${i}`).toBeLessThan(1e-4)));
    }
    tf.dispose([a, b, dy]);
    expect(errors).toEqual([]);
  });

  it('every crop-sampler launch shape equals the CPU twin exactly', async () => {
    await initBackend('webgpu', { useStore: false });
    const dims: [number, number, number] = [30, 26, 22];
    const vol = { dims, data: Float32Array.from({ length: dims[0] * dims[1] * dims[2] }, (_, i) => i) };
    const { data, layout } = packVolumes([vol]);
    const packed = tf.tensor1d(data);
    const crops = [0, 1, 2, 3].map((k) => ({ volume: 0, origin: [k - 2, 3, k] as [number, number, number], flip: [k % 2 === 0, k === 3, false] as [boolean, boolean, boolean], rot90: k, shift: k * 0.5 }));
    const want = cs.sampleCropsCPU(data, layout, crops, 16, 8);
    for (const v of [{ workgroupX: 64, perThread: 8 }, { workgroupX: 256, perThread: 8 }, { workgroupX: 64, perThread: 4 }, { workgroupX: 128, perThread: 1 }]) {
      cs.setCropSamplerVariant(v);
      const out = cs.sampleCrops(packed, layout, crops, 16, 8);
      const got = await out.data();
      out.dispose();
      expect(Array.from(got), `${v.workgroupX}x${v.perThread}`).toEqual(Array.from(want));
    }
    cs.setCropSamplerVariant(null);
    packed.dispose();
    expect(errors).toEqual([]);
  });
});
