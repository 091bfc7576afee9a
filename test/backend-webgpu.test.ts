// src/backend on WebGPU under Node (Dawn, OpenGL ES): initBackend('webgpu') and the chunked AddN fix.
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU } from './helpers/nodeWebgpu';

const gpu = await initNodeWebgpu();
const tf = await import('@tensorflow/tfjs-core');
const { initBackend, onGpuError } = await import('../src/backend/backends');

describe.skipIf(SKIP_NODE_WEBGPU)('initBackend on WebGPU (Node, Dawn)', () => {
  beforeAll(() => requireWebgpu(gpu));
  const errors: string[] = [];
  beforeAll(() => {
    onGpuError((m) => errors.push(m));
  });

  it('starts webgpu with our device and reports the adapter', async () => {
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.adapter).toBeTruthy();
    expect(info.kernels).toContain('AddN → chunked to the storage-buffer limit');
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[1], [2], [3]])).data())).toEqual([14]);
  });

  it('tf.addN over more tensors than the storage-buffer limit is right and raises no GPU error', async () => {
    await initBackend('webgpu');
    const limit = (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBuffersPerShaderStage;
    for (const count of [2, limit - 1, limit, 3 * limit + 2, 57]) {
      const parts = Array.from({ length: count }, (_, i) => tf.tensor1d([i, 2 * i, 1]));
      const before = tf.memory().numTensors;
      const sum = tf.addN(parts);
      const got = Array.from(await sum.data());
      const n = count;
      expect(got).toEqual([(n * (n - 1)) / 2, n * (n - 1), n]);
      expect(tf.memory().numTensors).toBe(before + 1); // no partial sums left behind
      tf.dispose([sum, ...parts]);
    }
    await (tf.backend() as unknown as { device: GPUDevice }).device.queue.onSubmittedWorkDone();
    expect(errors).toEqual([]);
  });
});
