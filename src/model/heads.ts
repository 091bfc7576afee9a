// VoCo's projection head and the student's input dropout, as in the authors' voco_head.py.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; training through this module needs them all.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { ParamFactory } from './init';
import { createLinear, linear, torchLinearInit, type LinearParams } from './layers/linear';
import { colMean } from './layers/reductions';

export const BATCH_NORM_EPS = 1e-5; // torch.nn.BatchNorm1d's default
export const STUDENT_DROPOUT = 0.2;

/** Linear(in,h) → BN → ReLU → Linear(h,h) → BN → ReLU → Linear(h,out). Names follow the torch Sequential indices. */
export interface ProjectionHeadParams {
  fc0: LinearParams; // '0'
  fc3: LinearParams; // '3'
  fc6: LinearParams; // '6'
}

export function createProjectionHead(f: ParamFactory, inDim: number, hidden: number, out: number): ProjectionHeadParams {
  return {
    fc0: createLinear(f, '0', inDim, hidden, torchLinearInit(inDim)),
    fc3: createLinear(f, '3', hidden, hidden, torchLinearInit(hidden)),
    fc6: createLinear(f, '6', hidden, out, torchLinearInit(hidden)),
  };
}

/**
 * BatchNorm1d(h, affine=False, track_running_stats=False): with no running statistics torch normalises
 * with the statistics of the current batch in train AND eval mode: per feature, mean over the rows and
 * the biased variance (divide by N), eps 1e-5. Needs at least 2 rows, as torch does in training.
 * Column means are matmuls and the gradient is written out (see layers/reductions.ts for why):
 * dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)), means over the rows.
 */
export function batchNormNoAffine(x: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[0] < 2) throw new Error(`batchNormNoAffine: needs at least 2 rows to take batch statistics, got ${x.shape[0]}`);
  return batchNormOp(x) as tf.Tensor2D;
}

const batchNormOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
  const centred = tf.sub(x, colMean(x));
  const rstd = tf.rsqrt(tf.add(colMean(tf.square(centred) as tf.Tensor2D), BATCH_NORM_EPS)); // [1, C]
  const xhat = tf.mul(centred, rstd) as tf.Tensor2D;
  save([xhat, rstd]);
  return {
    value: xhat,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xh, rs] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return tf.mul(rs, tf.sub(tf.sub(g, colMean(g)), tf.mul(xh, colMean(tf.mul(g, xh) as tf.Tensor2D))));
    },
  };
});

export function projectionHead(x: tf.Tensor2D, p: ProjectionHeadParams): tf.Tensor2D {
  const h1 = tf.relu(batchNormNoAffine(linear(x, p.fc0)));
  const h2 = tf.relu(batchNormNoAffine(linear(h1, p.fc3)));
  return linear(h2, p.fc6);
}

/**
 * nn.Dropout1d(p) applied, as the authors do, to a 2-D [N, C] batch of embeddings. torch reads a 2-D
 * input to Dropout1d as ONE unbatched (C=N channels, L=C length) sample, and channel dropout zeroes whole
 * channels: so here whole ROWS (whole crop embeddings) are zeroed with probability p, and the surviving
 * rows are scaled by 1/(1 − p). `keep[i]` says whether row i survives.
 */
export function dropout1dRows(x: tf.Tensor2D, keep: readonly boolean[], p: number = STUDENT_DROPOUT): tf.Tensor2D {
  if (keep.length !== x.shape[0]) throw new Error(`dropout1dRows: ${keep.length} keep flags for ${x.shape[0]} rows`);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout1dRows: p must be in [0, 1), got ${p}`);
  const scale = 1 / (1 - p);
  const mask = tf.tensor2d(keep.map((k) => (k ? scale : 0)), [keep.length, 1]);
  return tf.mul(x, mask);
}

/**
 * Runs `forward` (a function of x) off the gradient tape: tfjs records the ops of a customGrad's forward as ONE
 * node, whose gradient here is zero. So nothing flows back through it, and — unlike a stop-gradient on the
 * input followed by recorded ops — backprop does no work in it (the teacher head under torch.no_grad).
 */
export function withoutGradient(x: tf.Tensor2D, forward: (x: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: forward(args[0] as tf.Tensor2D),
    gradFunc: () => tf.zerosLike(args[0] as tf.Tensor),
  }));
  return op(x) as tf.Tensor2D;
}
