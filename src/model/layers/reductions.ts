// Sums and means along one axis of a 2-D tensor, written as matmuls against a constant vector.
// Why: on tfjs-webgpu the reduction kernels synchronise a workgroup with barriers, which a software adapter
// (SwiftShader) emulates very slowly — measured in Chromium: mean over the last axis of [1408, 32] 121 ms
// against 3 ms as a matmul, sum over rows of [1408, 96] 398 ms, softmax of [44, 64, 64] 517 ms. A matmul
// has no barriers there (register-tiled kernel), maps to XNNPACK on wasm, and is cheap on real GPUs.
// Their gradients are matmuls too, and nothing here broadcasts (a broadcast's gradient would be a reduction).
import * as tf from '@tensorflow/tfjs-core';

/** Σ over the last axis: [M, D] → [M, 1]. */
export function rowSum(x: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(x, tf.ones([x.shape[1], 1]));
}

/** Mean over the last axis: [M, D] → [M, 1]. */
export function rowMean(x: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(x, tf.fill([x.shape[1], 1], 1 / x.shape[1]));
}

/** Σ over the rows: [M, N] → [N] (xᵀ·1, so wasm transposes once and XNNPACK packs only the ones). */
export function colSum(x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(x, tf.ones([x.shape[0], 1]), true, false), [x.shape[1]]);
}

/** Mean over the rows: [M, N] → [1, N]. */
export function colMean(x: tf.Tensor2D): tf.Tensor2D {
  return tf.reshape(tf.matMul(x, tf.fill([x.shape[0], 1], 1 / x.shape[0]), true, false), [1, x.shape[1]]);
}
