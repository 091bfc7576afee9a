// src/kernels/layerNormRows.ts ('VocoLayerNorm' / 'VocoLayerNormGrad'): the WebAssembly SIMD functions on a bare
// memory against the CPU twin, the twin against a float64 write-out, and the layer (src/model/layers/layerNorm.ts)
// on the fused kernels against its tf-op path on cpu and wasm: values and all gradients, affine and not. On wasm the
// SIMD path must really run (its counter moves).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import * as ln from '../src/kernels/layerNormRows';
import { layerNorm, layerNormNoAffine, LAYER_NORM_EPS } from '../src/model/layers/layerNorm';
import { maxRelErr } from './helpers/relErr';

const values = (n: number, salt: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 0.731 + salt) * (1 + (i % 5) * 0.2) + 0.3 * Math.cos(salt)) * scale);

describe('LayerNorm CPU twin', () => {
  it('equals the formulas written out in float64', () => {
    const m = 3, d = 7;
    const x = values(m * d, 1, 3), gamma = values(d, 2), beta = values(d, 3), dy = values(m * d, 4);
    const xhat = new Float32Array(m * d), rstd = new Float32Array(m), y = new Float32Array(m * d);
    ln.layerNormForwardRows(x, m, d, 1e-5, xhat, rstd, { gamma, beta, y });
    const dx = new Float32Array(m * d), dgamma = new Float32Array(d), dbeta = new Float32Array(d);
    ln.layerNormBackwardRows(dy, xhat, rstd, m, d, dx, { gamma, dgamma, dbeta });
    // Reference: autodiff-free gradient by central differences of L = Σ dy·y in float64.
    const forward = (xs: number[], gs: number[], bs: number[]) => {
      const out: number[] = [];
      for (let i = 0; i < m; i++) {
        const row = xs.slice(i * d, (i + 1) * d);
        const mean = row.reduce((a, b) => a + b, 0) / d;
        const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
        row.forEach((xv, j) => out.push(((xv - mean) / Math.sqrt(v + 1e-5)) * gs[j] + bs[j]));
      }
      return out;
    };
    const loss = (xs: number[], gs: number[], bs: number[]) => forward(xs, gs, bs).reduce((a, yv, i) => a + yv * dy[i], 0);
    const [X, G, B] = [Array.from(x), Array.from(gamma), Array.from(beta)];
    expect(maxRelErr(y, forward(X, G, B))).toBeLessThan(1e-6);
    const h = 1e-5;
    const numGrad = (which: number[], k: number) => {
      const plus = which.slice(); plus[k] += h;
      const minus = which.slice(); minus[k] -= h;
      const args = (w: number[]) => (which === X ? [w, G, B] : which === G ? [X, w, B] : [X, G, w]) as [number[], number[], number[]];
      return (loss(...args(plus)) - loss(...args(minus))) / (2 * h);
    };
    expect(maxRelErr(dx, X.map((_, k) => numGrad(X, k)))).toBeLessThan(1e-4);
    expect(maxRelErr(dgamma, G.map((_, k) => numGrad(G, k)))).toBeLessThan(1e-4);
    expect(maxRelErr(dbeta, B.map((_, k) => numGrad(B, k)))).toBeLessThan(1e-4);
  });
});

describe('LayerNorm wasm SIMD module (bare memory)', () => {
  for (const shared of [false, true]) {
    for (const affine of [false, true]) {
      it(`${affine ? 'affine' : 'plain'}, ${shared ? 'shared' : 'unshared'} memory: forward and backward equal the CPU twin, nothing written outside`, () => {
        const memory = shared ? new WebAssembly.Memory({ initial: 4, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 4 });
        const fns = ln.layerNormSimdFor(memory);
        expect(fns).not.toBeNull();
        const m = 37, d = 132;
        const x = values(m * d, 1, 4), gamma = values(d, 2), beta = values(d, 3), dy = values(m * d, 5);
        const f = new Float32Array(memory.buffer);
        f.fill(7); // canary everywhere
        let next = 64;
        const place = (a: Float32Array | number) => {
          const off = next;
          const len = typeof a === 'number' ? a : a.length;
          if (typeof a !== 'number') f.set(a, off / 4);
          next += 4 * len + 64;
          return off;
        };
        const [xo, go, bo, dyo] = [x, gamma, beta, dy].map(place);
        const yo = place(m * d), xho = place(m * d), rso = place(m), dxo = place(m * d), dgo = place(d), dbo = place(d);
        f.fill(0, dgo / 4, dgo / 4 + d);
        f.fill(0, dbo / 4, dbo / 4 + d);
        (affine ? fns!.lnFwdAffine : fns!.lnFwd)(xo, go, bo, yo, xho, rso, m, d, 1 / d, 1e-5);
        const read = (off: number, len: number) => new Float32Array(memory.buffer, off, len).slice();
        const xhat = new Float32Array(m * d), rstd = new Float32Array(m), y = new Float32Array(m * d);
        ln.layerNormForwardRows(x, m, d, 1e-5, xhat, rstd, affine ? { gamma, beta, y } : undefined);
        expect(maxRelErr(read(xho, m * d), xhat)).toBeLessThan(2e-6);
        expect(maxRelErr(read(rso, m), rstd)).toBeLessThan(2e-6);
        if (affine) expect(maxRelErr(read(yo, m * d), y)).toBeLessThan(2e-6);
        else expect(f[yo / 4], 'y untouched without affine').toBe(7);
        // The backward from the module's own x̂ and rstd.
        (affine ? fns!.lnBwdAffine : fns!.lnBwd)(dyo, xho, rso, go, dxo, dgo, dbo, m, d, 1 / d);
        const dx = new Float32Array(m * d), dgamma = new Float32Array(d), dbeta = new Float32Array(d);
        ln.layerNormBackwardRows(dy, read(xho, m * d), read(rso, m), m, d, dx, affine ? { gamma, dgamma, dbeta } : undefined);
        expect(maxRelErr(read(dxo, m * d), dx)).toBeLessThan(2e-6);
        if (affine) {
          expect(maxRelErr(read(dgo, d), dgamma)).toBeLessThan(1e-5);
          expect(maxRelErr(read(dbo, d), dbeta)).toBeLessThan(1e-5);
        } else expect(Array.from(read(dgo, d)).every((v) => v === 0)).toBe(true);
        // Canaries just past every output.
        for (const [off, len] of [[xho, m * d], [rso, m], [dxo, m * d], [yo, m * d]] as const) expect(f[off / 4 + len]).toBe(7);
        expect(Array.from(read(xo, m * d))).toEqual(Array.from(x));
      });
    }
  }
});

describe('LayerNorm layer: fused kernels vs tf ops', () => {
  // [M, D] rows with a large common offset (variance well below the mean²) and a column that is constant in a row.
  const cases: [number, number][] = [[45, 128], [9, 6], [3, 4]];
  for (const backend of ['cpu', 'wasm']) {
    for (const [m, d] of cases) {
      it(`${backend}, [${m}, ${d}]: values and gradients (x, γ, β; and without affine) match`, async () => {
        await tf.setBackend(backend);
        await tf.ready();
        const x = tf.tensor2d(values(m * d, 1, 3).map((v) => v + 5), [m, d]);
        const gamma = tf.variable(tf.tensor1d(values(d, 2)));
        const beta = tf.variable(tf.tensor1d(values(d, 3)));
        const dyW = tf.tensor2d(values(m * d, 4), [m, d]);
        const run = () =>
          tf.tidy(() => {
            const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(xx as tf.Tensor2D, { weight: g as tf.Variable, bias: b as tf.Variable }), dyW));
            const fp = (xx: tf.Tensor) => tf.sum(tf.mul(layerNormNoAffine(xx as tf.Tensor2D), tf.square(dyW)));
            const y = layerNorm(x, { weight: gamma, bias: beta });
            const yp = layerNormNoAffine(x);
            return [y, yp, ...tf.grads(f)([x, gamma, beta]), tf.grad(fp)(x)];
          });
        const before = { ...ln.layerNormSimdRuns };
        ln.useFusedLayerNorm(true);
        expect(ln.fusedLayerNormAvailable()).toBe(true);
        const fused = run();
        const ran = { forward: ln.layerNormSimdRuns.forward - before.forward, backward: ln.layerNormSimdRuns.backward - before.backward };
        ln.useFusedLayerNorm(false);
        const plain = run();
        ln.useFusedLayerNorm(true);
        const names = ['y', 'y (no affine)', 'dx', 'dγ', 'dβ', 'dx (no affine)'];
        for (let i = 0; i < fused.length; i++) {
          expect(fused[i].shape, names[i]).toEqual(plain[i].shape);
          expect(maxRelErr(await fused[i].data(), await plain[i].data()), names[i]).toBeLessThan(5e-5);
        }
        if (backend === 'wasm' && d % 4 === 0) {
          // 2 forwards each (value + the one under tf.grads), 2 backwards.
          expect(ran.forward).toBeGreaterThanOrEqual(4);
          expect(ran.backward).toBe(2);
        } else expect(ran).toEqual({ forward: 0, backward: 0 });
        tf.dispose([...fused, ...plain, x, gamma, beta, dyW]);
      });
    }
  }

  it('eps is torch\'s default', () => {
    expect(LAYER_NORM_EPS).toBe(1e-5);
  });
});
