// src/kernels/softmaxRows.ts ('VocoSoftmax' / 'VocoSoftmaxGrad', attention's scaled softmax): the WebAssembly SIMD
// functions on a bare memory against the CPU twin, the twin against tf.softmax and a numerical derivative, and
// attention (src/model/layers/attention.ts) on the fused kernels against its tf-op path on cpu and wasm, value and
// every gradient; on wasm the SIMD path must really run (its counter moves).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import * as k from '../src/kernels/softmaxRows';
import { attention, type AttentionParams } from '../src/model/layers/attention';
import { maxRelErr } from './helpers/relErr';

const values = (n: number, salt: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + salt) * (1 + (i % 5) * 0.7) * scale);

describe('softmax CPU twin', () => {
  it('equals tf.softmax(scale·x) on cpu and the numerical derivative', async () => {
    await tf.setBackend('cpu');
    const [rows, cols, scale] = [5, 9, 0.37];
    const x = values(rows * cols, 1, 10);
    const y = new Float32Array(rows * cols);
    k.softmaxForwardRows(x, rows, cols, scale, y);
    const ref = await tf.softmax(tf.mul(tf.tensor2d(x, [rows, cols]), scale)).data();
    expect(maxRelErr(y, ref)).toBeLessThan(1e-6);
    const dy = values(rows * cols, 2);
    const dx = new Float32Array(rows * cols);
    k.softmaxBackwardRows(dy, y, rows, cols, scale, dx);
    const loss = (xs: Float64Array) => {
      let l = 0;
      for (let i = 0; i < rows; i++) {
        const row = xs.subarray(i * cols, (i + 1) * cols);
        const mx = Math.max(...row);
        const e = Array.from(row, (v) => Math.exp(scale * (v - mx)));
        const s = e.reduce((a, b) => a + b, 0);
        e.forEach((v, j) => (l += (v / s) * dy[i * cols + j]));
      }
      return l;
    };
    const num = Array.from(x, (_, i) => {
      const p = Float64Array.from(x); p[i] += 1e-4;
      const m = Float64Array.from(x); m[i] -= 1e-4;
      return (loss(p) - loss(m)) / 2e-4;
    });
    expect(maxRelErr(dx, num)).toBeLessThan(1e-4);
  });
});

describe('softmax wasm SIMD module (bare memory)', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'shared' : 'unshared'} memory: forward and backward equal the CPU twin, nothing written outside`, () => {
      const memory = shared ? new WebAssembly.Memory({ initial: 4, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 4 });
      const fns = k.softmaxSimdFor(memory);
      expect(fns).not.toBeNull();
      const [rows, cols, scale] = [70, 64, 0.125];
      // Large scores (row spread of hundreds) as well as small ones: the max shift must keep exp finite.
      const x = values(rows * cols, 3, 40);
      const dy = values(rows * cols, 4);
      const f = new Float32Array(memory.buffer);
      f.fill(7);
      const size = rows * cols;
      const [xo, dyo, yo, dxo] = [0, 1, 2, 3].map((i) => 64 + i * (4 * size + 64));
      f.set(x, xo / 4);
      f.set(dy, dyo / 4);
      fns!.smFwd(xo, yo, rows, cols, scale);
      fns!.smBwd(dyo, yo, dxo, rows, cols, scale);
      const read = (off: number) => new Float32Array(memory.buffer, off, size).slice();
      const y = new Float32Array(size), dx = new Float32Array(size);
      k.softmaxForwardRows(x, rows, cols, scale, y);
      k.softmaxBackwardRows(dy, read(yo), rows, cols, scale, dx);
      expect(maxRelErr(read(yo), y)).toBeLessThan(2e-6);
      expect(maxRelErr(read(dxo), dx)).toBeLessThan(2e-6);
      for (let i = 0; i < rows; i++) expect(read(yo).subarray(i * cols, (i + 1) * cols).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      for (const off of [yo, dxo]) expect(f[off / 4 + size], 'canary after an output').toBe(7);
    });
  }
});

describe('attention: fused softmax vs tf ops', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: value and gradients (x, qkv, proj) match; the fused kernels ran`, async () => {
      await tf.setBackend(backend);
      await tf.ready();
      const [n, t, dim, heads] = [3, 8, 16, 2];
      const x = tf.tensor2d(values(n * t * dim, 1, 2), [n * t, dim]);
      const v = (shape: number[], salt: number, s = 0.3) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b), salt, s), shape));
      const p: AttentionParams = { qkv: { weight: v([dim, 3 * dim], 2), bias: v([3 * dim], 3) }, proj: { weight: v([dim, dim], 4), bias: v([dim], 5) } };
      const w = tf.tensor2d(values(n * t * dim, 6), [n * t, dim]);
      const vars = [x, p.qkv.weight, p.qkv.bias, p.proj.weight, p.proj.bias];
      const run = () =>
        tf.tidy(() => [
          attention(x, p, n, t, heads),
          ...tf.grads((xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
            tf.sum(tf.mul(attention(xx as tf.Tensor2D, { qkv: { weight: a as tf.Variable, bias: b as tf.Variable }, proj: { weight: c as tf.Variable, bias: d as tf.Variable } }, n, t, heads), w)),
          )(vars),
        ]);
      const before = { ...k.softmaxSimdRuns };
      k.useFusedSoftmax(true);
      expect(k.fusedSoftmaxAvailable()).toBe(true);
      let fused: tf.Tensor[] = [];
      const info = await tf.profile(() => (fused = run()));
      expect(info.kernels.map((kk) => kk.name)).toContain(k.SOFTMAX_GRAD_KERNEL);
      const ran = { forward: k.softmaxSimdRuns.forward - before.forward, backward: k.softmaxSimdRuns.backward - before.backward };
      k.useFusedSoftmax(false);
      const plain = run();
      k.useFusedSoftmax(true);
      for (let i = 0; i < plain.length; i++) expect(maxRelErr(await fused[i].data(), await plain[i].data()), `output ${i}`).toBeLessThan(2e-5);
      expect(ran).toEqual(backend === 'wasm' ? { forward: 2, backward: 1 } : { forward: 0, backward: 0 });
      tf.dispose([...fused, ...plain, ...vars, w]);
    });
  }
});
