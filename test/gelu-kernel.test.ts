// src/kernels/geluTanh.ts ('VocoGelu' / 'VocoGeluGrad'): the WebAssembly SIMD functions (with their own exp) on a bare
// memory against the CPU twin over a wide range of inputs, the twin against the formula and a numerical derivative,
// and the MLP's gelu (src/model/layers/mlp.ts) on the fused kernels against its tf-op path on cpu and wasm, value and
// gradient; on wasm the SIMD path must really run (its counter moves).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import * as k from '../src/kernels/geluTanh';
import { gelu } from '../src/model/layers/mlp';

/** Inputs from −100 to 100, dense around 0 where GELU bends, plus the extremes. */
const inputs = (n: number) => Float32Array.from({ length: n }, (_, i) => (i === 0 ? -1e4 : i === 1 ? 1e4 : 12 * Math.sinh(3 * Math.sin(i * 0.917)) / Math.sinh(3)) * (i % 17 === 0 ? 8 : 1));

function maxAbsErr(got: ArrayLike<number>, ref: ArrayLike<number>, floor = 1): number {
  expect(got.length).toBe(ref.length);
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]) / Math.max(floor, Math.abs(ref[i])));
  return err;
}

describe('GELU CPU twin', () => {
  it('is x·½(1 + tanh(c(x + a x³))) and its derivative', () => {
    const x = inputs(300);
    const y = new Float32Array(x.length), s = new Float32Array(x.length), dx = new Float32Array(x.length);
    k.geluForward(x, y, s);
    const f = (v: number) => 0.5 * v * (1 + Math.tanh(k.GELU_C * (v + k.GELU_A * v ** 3)));
    expect(maxAbsErr(y, Array.from(x, f))).toBeLessThan(1e-6);
    const ones = new Float32Array(x.length).fill(1);
    k.geluBackward(ones, x, s, dx);
    const h = 1e-4;
    const numeric = Array.from(x, (v) => (f(v + h) - f(v - h)) / (2 * h));
    expect(maxAbsErr(dx, numeric)).toBeLessThan(1e-5);
    expect(y[0]).toBe(-0); // −1e4 · σ(−huge) is −0, not NaN
    expect(y[1]).toBe(1e4);
  });
});

describe('GELU wasm SIMD module (bare memory)', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'shared' : 'unshared'} memory: forward and backward equal the CPU twin, nothing written outside`, () => {
      const memory = shared ? new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 2 });
      const fns = k.geluSimdFor(memory);
      expect(fns).not.toBeNull();
      const n = 4000;
      const x = inputs(n);
      const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3) * 2);
      const f = new Float32Array(memory.buffer);
      f.fill(7);
      const [xo, dyo, yo, so, dxo] = [0, 1, 2, 3, 4].map((i) => 64 + i * (4 * n + 64));
      f.set(x, xo / 4);
      f.set(dy, dyo / 4);
      fns!.geluFwd(xo, yo, so, 4 * n);
      fns!.geluBwd(dyo, xo, so, dxo, 4 * n);
      const read = (off: number) => new Float32Array(memory.buffer, off, n).slice();
      const y = new Float32Array(n), s = new Float32Array(n), dx = new Float32Array(n);
      k.geluForward(x, y, s);
      k.geluBackward(dy, x, s, dx);
      expect(maxAbsErr(read(so), s, 1e-3)).toBeLessThan(1e-5);
      expect(maxAbsErr(read(yo), y)).toBeLessThan(5e-6);
      expect(maxAbsErr(read(dxo), dx)).toBeLessThan(5e-6);
      expect(Array.from(read(yo)).every(Number.isFinite)).toBe(true);
      for (const off of [yo, so, dxo]) expect(f[off / 4 + n], 'canary after an output').toBe(7);
      expect(Array.from(read(xo))).toEqual(Array.from(x));
    });
  }
});

describe('gelu layer: fused kernels vs tf ops', () => {
  for (const backend of ['cpu', 'wasm']) {
    for (const shape of [[45, 512], [7, 3], [2]]) {
      it(`${backend}, [${shape}]: value and gradient match`, async () => {
        await tf.setBackend(backend);
        await tf.ready();
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor(inputs(size + 2).slice(2).map((v) => v / 3), shape);
        const w = tf.tensor(Float32Array.from({ length: size }, (_, i) => Math.sin(i)), shape);
        const run = () => tf.tidy(() => [gelu(x), tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(gelu(xx), w)))(x)]);
        const before = { ...k.geluSimdRuns };
        k.useFusedGelu(true);
        expect(k.fusedGeluAvailable()).toBe(true);
        const fused = run();
        const ran = { forward: k.geluSimdRuns.forward - before.forward, backward: k.geluSimdRuns.backward - before.backward };
        k.useFusedGelu(false);
        const plain = run();
        k.useFusedGelu(true);
        for (let i = 0; i < 2; i++) {
          expect(fused[i].shape).toEqual(shape);
          expect(maxAbsErr(await fused[i].data(), await plain[i].data()), i ? 'dx' : 'y').toBeLessThan(2e-6);
        }
        if (backend === 'wasm' && size >= 4) expect(ran).toEqual({ forward: 2, backward: 1 });
        else expect(ran).toEqual({ forward: 0, backward: 0 });
        tf.dispose([...fused, ...plain, x, w]);
      });
    }
  }
});
