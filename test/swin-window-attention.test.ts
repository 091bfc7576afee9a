// Window attention (src/model/swin/windowAttention.ts) on WebGPU (Dawn) against the cpu backend, forward and the
// gradients of q/k/v/bias through its custom op: the relative bias is added as one [1, heads·n·n] row broadcast over
// a chunk's windows (unshifted blocks) or with the shift mask [windows, n·n]; one chunk per crop, two crops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU, type NodeWebgpuResult } from './helpers/nodeWebgpu';
import type * as tfTypes from '@tensorflow/tfjs-core';

let gpu: NodeWebgpuResult;
let tf: typeof tfTypes;
let wa: typeof import('../src/model/swin/windowAttention');

beforeAll(async () => {
  gpu = await initNodeWebgpu();
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  wa = await import('../src/model/swin/windowAttention');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.8;
  }
  return out;
}

async function run(backend: string, masked: boolean) {
  await tf.setBackend(backend);
  const [crops, windows, n, heads, c] = [2, 6, 27, 3, 12];
  const rows = crops * windows * n;
  const x = tf.tensor2d(values(rows * c, 1), [rows, c]);
  const qkv = { weight: tf.variable(tf.tensor2d(values(c * 3 * c, 2), [c, 3 * c])), bias: tf.variable(tf.tensor2d(values(3 * c, 3), [1, 3 * c])) };
  const proj = { weight: tf.variable(tf.tensor2d(values(c * c, 4), [c, c])), bias: tf.variable(tf.tensor2d(values(c, 5), [1, c])) };
  const bias = tf.variable(tf.tensor2d(values(heads * n * n, 6), [heads, n * n]));
  const mask = masked ? tf.tensor2d(values(windows * n * n, 7).map((v) => (v > 0.2 ? -100 : 0)), [windows, n * n]) : null;
  const g = tf.tensor2d(values(rows * c, 8), [rows, c]);
  const f = () => tf.sum(tf.mul(wa.windowAttention(x, { qkv, proj } as never, { windows, tokens: n, heads, bias, mask }), g)) as tfTypes.Scalar;
  const y = await tf.tidy(() => wa.windowAttention(x, { qkv, proj } as never, { windows, tokens: n, heads, bias, mask })).data();
  const { grads } = tf.variableGrads(f, [qkv.weight, bias]);
  const out = { y, dw: await grads[qkv.weight.name].data(), db: await grads[bias.name].data() };
  tf.dispose([x, qkv.weight, qkv.bias, proj.weight, proj.bias, bias, g, ...(mask ? [mask] : []), ...Object.values(grads)]);
  return out;
}

const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(b[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / m;
};

describe.skipIf(SKIP_NODE_WEBGPU)('window attention on WebGPU (Dawn) vs cpu', () => {
  beforeAll(() => requireWebgpu(gpu));
  for (const masked of [false, true]) {
    it(`${masked ? 'shifted (mask)' : 'unshifted (broadcast bias row)'}: output and gradients within 1e-4`, async () => {
      const want = await run('cpu', masked);
      const got = await run('webgpu', masked);
      for (const k of ['y', 'dw', 'db'] as const) {
        expect(Math.max(...Array.from(want[k]).map(Math.abs)), `${k} all zeros`).toBeGreaterThan(0);
        expect(rel(got[k], want[k]), k).toBeLessThan(1e-4);
      }
    });
  }
});
