// Register-tiled WebGPU BatchMatMul (opt-in replacement of tfjs's): results and gradients against a float64
// reference and the cpu backend, on Dawn under Node, for every transpose / batch / edge-size case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, type NodeWebgpuResult } from './helpers/nodeWebgpu';
import type * as tfTypes from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

let gpu: NodeWebgpuResult;
let tf: typeof tfTypes;
let mm: typeof import('../src/kernels/matMulRegisterTiled');

beforeAll(async () => {
  gpu = await initNodeWebgpu();
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  mm = await import('../src/kernels/matMulRegisterTiled');
});

afterAll(async () => {
  if (gpu.ok) mm.useRegisterTiledMatMul(false);
  await tf.setBackend('cpu');
});

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** float64 C = op(A)·op(B) for 3-D views with whole-batch broadcasting. */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): Float64Array {
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const batchA = a.length / (ar * ac);
  const batchB = b.length / (br * bc);
  const batch = Math.max(batchA, batchB);
  const m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = (batchA === 1 ? 0 : t) * ar * ac;
    const bo = (batchB === 1 ? 0 : t) * br * bc;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) sum += a[ao + (ta ? q * ac + i : i * ac + q)] * b[bo + (tb ? j * bc + q : q * bc + j)];
      out[t * m * n + i * n + j] = sum;
    }
  }
  return out;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  return worst;
}

const cases: { name: string; a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
  { name: '2-D 13×7 · 7×5 (edges in rows and columns)', a: [13, 7], b: [7, 5], ta: false, tb: false },
  { name: '2-D transposeA', a: [7, 13], b: [7, 5], ta: true, tb: false },
  { name: '2-D transposeB', a: [13, 7], b: [5, 7], ta: false, tb: true },
  { name: '2-D both transposed', a: [7, 13], b: [5, 7], ta: true, tb: true },
  { name: 'K = 1', a: [9, 1], b: [1, 6], ta: false, tb: false },
  { name: '3-D batch 3', a: [3, 17, 9], b: [3, 9, 11], ta: false, tb: false },
  { name: '3-D batch broadcast on A', a: [1, 17, 9], b: [3, 9, 11], ta: false, tb: false },
  { name: '3-D · 2-D broadcast on B', a: [3, 17, 9], b: [9, 12], ta: false, tb: false },
  { name: '4-D attention-like, transposeB', a: [2, 3, 10, 6], b: [2, 3, 10, 6], ta: false, tb: true },
  { name: 'model-sized 130×64 · 64×72', a: [130, 64], b: [64, 72], ta: false, tb: false },
  // Even column counts (the pairs variant's cases), with odd K through transposeA and odd N through transposeB.
  { name: '2-D transposeA, even columns, odd K = 7', a: [7, 14], b: [7, 6], ta: true, tb: false },
  { name: '2-D transposeB, even columns, N = 5', a: [13, 10], b: [5, 10], ta: false, tb: true },
  { name: '2-D both transposed, even columns', a: [10, 14], b: [6, 10], ta: true, tb: true },
  { name: '3-D batch 2, even columns', a: [2, 9, 12], b: [2, 12, 8], ta: false, tb: false },
];

describe('register-tiled BatchMatMul on webgpu (Dawn)', () => {
  it('WebGPU starts under Node', () => {
    expect(gpu.reason).toBe('');
    expect(gpu.ok).toBe(true);
  });

  it('is off by default and toggles cleanly', async () => {
    await tf.setBackend('webgpu');
    expect(mm.registerTiledMatMulActive()).toBe(false);
    mm.useRegisterTiledMatMul(true);
    mm.useRegisterTiledMatMul(true);
    expect(mm.registerTiledMatMulActive()).toBe(true);
    mm.useRegisterTiledMatMul(false);
    expect(mm.registerTiledMatMulActive()).toBe(false);
  });

  for (const c of cases) {
    it(`matches a float64 reference: ${c.name}`, async () => {
      await tf.setBackend('webgpu');
      mm.useRegisterTiledMatMul(true);
      const backend = tf.backend() as unknown as WebGPUBackend;
      const device = backend.device;
      device.pushErrorScope('validation');
      const av = values(c.a.reduce((x, y) => x * y), 1), bv = values(c.b.reduce((x, y) => x * y), 2);
      const a = tf.tensor(av, c.a), b = tf.tensor(bv, c.b);
      const out = tf.matMul(a, b, c.ta, c.tb);
      const got = await out.data();
      expect(await device.popErrorScope()).toBeNull();
      // Proof that our program ran (not tfjs's): its pipeline is in the backend's cache.
      const keys = Object.keys((backend as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
      expect(keys.some((k) => k.startsWith(`vocoMatMulRegTiled_${c.ta}_${c.tb}`))).toBe(true);
      await tf.setBackend('cpu');
      const cpuOut = tf.matMul(tf.tensor(av, c.a), tf.tensor(bv, c.b), c.ta, c.tb);
      expect(out.shape).toEqual(cpuOut.shape);
      expect(maxRelErr(got, reference(av, c.a, bv, c.b, c.ta, c.tb))).toBeLessThan(1e-5);
      tf.dispose([a, b, out, cpuOut]);
    });
  }

  for (const c of cases) {
    it(`pairs variant (vec2 loads, two k per step) equals the plain program bit for bit: ${c.name}`, async () => {
      await tf.setBackend('webgpu');
      mm.useRegisterTiledMatMul(true);
      const backend = tf.backend() as unknown as WebGPUBackend;
      const av = values(c.a.reduce((x, y) => x * y), 1), bv = values(c.b.reduce((x, y) => x * y), 2);
      const a = tf.tensor(av, c.a), b = tf.tensor(bv, c.b);
      try {
        mm.setRegisterTiledVariant('tiled');
        const plain = await tf.matMul(a, b, c.ta, c.tb).data();
        mm.setRegisterTiledVariant('tiled-pairs');
        const got = await tf.matMul(a, b, c.ta, c.tb).data();
        // Even column counts in both stored operands take the pairs program; odd ones keep the plain program.
        const even = c.a[c.a.length - 1] % 2 === 0 && c.b[c.b.length - 1] % 2 === 0;
        const keys = Object.keys((backend as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
        if (even) expect(keys.some((k) => k.startsWith(`vocoMatMulRegTiledPairs_${c.ta}_${c.tb}`))).toBe(true);
        expect(Array.from(got)).toEqual(Array.from(plain));
        expect(maxRelErr(got, reference(av, c.a, bv, c.b, c.ta, c.tb))).toBeLessThan(1e-5);
      } finally {
        mm.setRegisterTiledVariant('tiled');
        tf.dispose([a, b]);
      }
    });
  }

  it('gradients of a two-matmul expression match the cpu backend', async () => {
    const av = values(11 * 6, 3), bv = values(6 * 9, 4), cv = values(9 * 5, 5);
    const run = () => tf.grads((a: tfTypes.Tensor, b: tfTypes.Tensor, c: tfTypes.Tensor) =>
      tf.sum(tf.square(tf.matMul(tf.matMul(a, b), c, false, false))))([tf.tensor2d(av, [11, 6]), tf.tensor2d(bv, [6, 9]), tf.tensor2d(cv, [9, 5])]);
    await tf.setBackend('cpu');
    const want = await Promise.all(run().map((g) => g.data()));
    await tf.setBackend('webgpu');
    mm.useRegisterTiledMatMul(true);
    const got = await Promise.all(run().map((g) => g.data()));
    got.forEach((g, i) => expect(maxRelErr(g, want[i])).toBeLessThan(1e-4));
  });

  it('leaves no tensors behind', async () => {
    await tf.setBackend('webgpu');
    mm.useRegisterTiledMatMul(true);
    const a = tf.tensor(values(24, 6), [2, 3, 4]), b = tf.tensor(values(40, 7), [2, 4, 5]);
    const before = tf.memory().numTensors;
    const out = tf.matMul(a, b);
    await out.data();
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([a, b, out]);
  });
});
