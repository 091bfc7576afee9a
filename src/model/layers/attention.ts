// Multi-head self-attention over the tokens of each crop, as batched matmuls at rank ≤ 4:
// [N·T, D] --qkv--> three [N·T, D] --reshape--> [N, T, H, dh] --transpose--> [N, H, T, dh] --reshape--> [N·H, T, dh],
// scores [N·H, T, T] = q·kᵀ/√dh, softmax over keys, [N·H, T, dh] = attn·v, and back the same way.
// Never rank 5 (tfjs-webgpu has silent rank-5 bugs); transposes are rank 4, their gradients are transposes.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamFactory } from '../init';
import { createLinear, linear, VIT_LINEAR_INIT, type LinearParams } from './linear';
import { rowSum } from './reductions';
import { fusedSoftmaxAvailable, softmaxBackwardKernel, softmaxForwardKernel } from '../../kernels/softmaxRows';

export interface AttentionParams {
  qkv: LinearParams; // [D, 3D]: q | k | v, each head a contiguous dh-slice
  proj: LinearParams; // [D, D]
}

export function createAttention(f: ParamFactory, name: string, dim: number): AttentionParams {
  return { qkv: createLinear(f, `${name}.qkv`, dim, 3 * dim, VIT_LINEAR_INIT), proj: createLinear(f, `${name}.proj`, dim, dim, VIT_LINEAR_INIT) };
}

function splitHeads(x: tf.Tensor2D, n: number, t: number, heads: number): tf.Tensor3D {
  const dh = x.shape[1] / heads;
  return tf.reshape(tf.transpose(tf.reshape(x, [n, t, heads, dh]), [0, 2, 1, 3]), [n * heads, t, dh]);
}

function mergeHeads(x: tf.Tensor3D, n: number, heads: number): tf.Tensor2D {
  const [, t, dh] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [n, heads, t, dh]), [0, 2, 1, 3]), [n * t, heads * dh]);
}

/** Cap on score − row mean before exp: t · e^80 stays far below float32's 3.4e38, so row sums stay finite. */
const EXP_CLAMP = 80;

/**
 * Softmax over the last axis of [B, t, t] scores, with its sums as matmuls (see reductions.ts; tfjs's softmax
 * kernel reduces with workgroup barriers, 517 ms for [44, 64, 64] on SwiftShader). Softmax is unchanged by a
 * per-row shift; the row MEAN (a matmul) stands in for the usual row max, and the cap keeps exp finite. So
 * this is the exact softmax unless a score exceeds its row's mean by more than 80; such scores are then
 * treated as equal (subtracting the max would keep their differences). With layer-normalised inputs and the
 * 1/√dh scale that only happens once attention has collapsed onto single keys. Gradient: y ⊙ (dy − Σ dy ⊙ y).
 */
export const softmaxRows = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
  const [b, r, c] = x.shape;
  const rows = tf.reshape(x, [b * r, c]) as tf.Tensor2D;
  const shift = tf.matMul(rows, tf.fill([c, 1], 1 / c));
  const e = tf.exp(tf.minimum(tf.sub(rows, shift), EXP_CLAMP)) as tf.Tensor2D;
  const y = tf.div(e, rowSum(e)) as tf.Tensor2D;
  save([y]);
  return {
    value: tf.reshape(y, [b, r, c]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const ys = saved[0] as tf.Tensor2D;
      const g = tf.reshape(dy, [b * r, c]) as tf.Tensor2D;
      return tf.reshape(tf.mul(ys, tf.sub(g, rowSum(tf.mul(g, ys) as tf.Tensor2D))), [b, r, c]);
    },
  };
}) as (x: tf.Tensor3D) => tf.Tensor3D;

/** softmax(scale·x) over the last axis on the fused kernels (src/kernels/softmaxRows.ts; cpu, wasm), one op per scale. */
const scaledSoftmaxOps = new Map<number, (x: tf.Tensor) => tf.Tensor>();
function scaledSoftmax(x: tf.Tensor, scale: number): tf.Tensor {
  let f = scaledSoftmaxOps.get(scale);
  if (!f) {
    f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
      const y = softmaxForwardKernel(xs, scale);
      save([y]);
      return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => softmaxBackwardKernel(dy, saved[0], scale) };
    }) as (x: tf.Tensor) => tf.Tensor;
    scaledSoftmaxOps.set(scale, f);
  }
  return f(x);
}

/** x: [n·t, D] token rows of n crops with t tokens each → [n·t, D]. */
export function attention(x: tf.Tensor2D, p: AttentionParams, n: number, t: number, heads: number): tf.Tensor2D {
  const dim = x.shape[1];
  const [q, k, v] = tf.split(linear(x, p.qkv), 3, 1) as tf.Tensor2D[];
  const scale = 1 / Math.sqrt(dim / heads);
  // Where the fused softmax runs, the 1/√dh scale is folded into it (no multiply over q).
  const fused = fusedSoftmaxAvailable();
  const qh = splitHeads(fused ? q : (tf.mul(q, scale) as tf.Tensor2D), n, t, heads);
  const scores = tf.matMul(qh, splitHeads(k, n, t, heads), false, true); // [n·H, t, t]
  const probs = fused ? (scaledSoftmax(scores, scale) as tf.Tensor3D) : softmaxRows(scores as tf.Tensor3D);
  const context = tf.matMul(probs, splitHeads(v, n, t, heads)); // [n·H, t, dh]
  return linear(mergeHeads(context as tf.Tensor3D, n, heads), p.proj);
}
