// src/model/layers/linear.ts: on cpu and wasm the forward's bias is added inside tfjs's _FusedMatMul (XNNPACK's
// fully-connected bias on wasm). Value and all three gradients equal the matMul + add path, and the fused kernel
// really ran (tf.profile's kernel names).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import { linear, useFusedBiasMatMul } from '../src/model/layers/linear';

const values = (n: number, salt: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.613 + salt) * (1 + (i % 7) * 0.1));

describe('linear: bias inside the fused matmul', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: value and gradients equal matMul + add; _FusedMatMul ran`, async () => {
      await tf.setBackend(backend);
      await tf.ready();
      const [m, k, n] = [37, 24, 40];
      const x = tf.tensor2d(values(m * k, 1), [m, k]);
      const p = { weight: tf.variable(tf.tensor2d(values(k * n, 2), [k, n])), bias: tf.variable(tf.tensor1d(values(n, 3))) };
      const dy = tf.tensor2d(values(m * n, 4), [m, n]);
      const run = () =>
        tf.tidy(() => [
          linear(x, p),
          ...tf.grads((xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(linear(xx as tf.Tensor2D, { weight: w as tf.Variable, bias: b as tf.Variable }), dy)))([x, p.weight, p.bias]),
        ]);
      useFusedBiasMatMul(true);
      let fused: tf.Tensor[] = [];
      const info = await tf.profile(() => {
        fused = run();
        return fused;
      });
      expect(info.kernels.map((kk) => kk.name)).toContain('_FusedMatMul');
      useFusedBiasMatMul(false);
      const plain = run();
      useFusedBiasMatMul(true);
      for (let i = 0; i < plain.length; i++) {
        const a = await fused[i].data();
        const b = await plain[i].data();
        const scale = Math.max(...Array.from(b, Math.abs));
        expect(Math.max(...Array.from(a, (v, j) => Math.abs(v - b[j]))) / scale, ['y', 'dx', 'dW', 'db'][i]).toBeLessThan(1e-5);
      }
      tf.dispose([...fused, ...plain, x, p.weight, p.bias, dy]);
    });
  }
});
