// Transformer MLP: Linear → GELU → Linear.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamFactory } from '../init';
import { createLinear, linear, VIT_LINEAR_INIT, type LinearParams } from './linear';
import { fusedGeluAvailable, geluBackwardKernel, geluForwardKernel } from '../../kernels/geluTanh';

export interface MlpParams {
  fc1: LinearParams;
  fc2: LinearParams;
}

export function createMlp(f: ParamFactory, name: string, dim: number, hidden: number): MlpParams {
  return { fc1: createLinear(f, `${name}.fc1`, dim, hidden, VIT_LINEAR_INIT), fc2: createLinear(f, `${name}.fc2`, hidden, dim, VIT_LINEAR_INIT) };
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GELU in its tanh form (torch.nn.GELU(approximate='tanh'), within 1e-3 of the erf form), written as
 * x·σ(2c(x + a·x³)) because ½(1 + tanh z) = σ(2z): sigmoid is a fast kernel everywhere, while erf and tanh
 * cost 20–30× more than a multiply on tfjs-wasm. Gradient by hand: σ(u) + x·σ(u)(1 − σ(u))·u'.
 */
const geluOps = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const x2 = tf.square(x);
  const s = tf.sigmoid(tf.mul(tf.mul(x, tf.add(1, tf.mul(GELU_A, x2))), 2 * GELU_C));
  save([x, x2, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, xsq, sig] = saved;
      const du = tf.mul(tf.add(1, tf.mul(3 * GELU_A, xsq)), 2 * GELU_C);
      const ds = tf.mul(tf.mul(sig, tf.sub(1, sig)), tf.mul(xs, du));
      return tf.mul(dy, tf.add(sig, ds));
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** The same GELU on the fused kernels (src/kernels/geluTanh.ts: one pass forward, one backward; cpu and wasm). */
const geluFused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const [y, s] = geluForwardKernel(x);
  save([x, s]);
  return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => geluBackwardKernel(dy, saved[0], saved[1]) };
}) as (x: tf.Tensor) => tf.Tensor;

/** GELU (tanh form): the fused kernels where the backend has them, else tf ops. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return fusedGeluAvailable() ? geluFused(x) : geluOps(x);
}

export function mlp(x: tf.Tensor2D, p: MlpParams): tf.Tensor2D {
  return linear(gelu(linear(x, p.fc1)) as tf.Tensor2D, p.fc2);
}
