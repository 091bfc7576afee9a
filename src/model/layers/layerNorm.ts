// LayerNorm over the last axis of token rows [M, D], with a hand-written gradient: autodiff through
// mean/sub/square/rsqrt would record a dozen small kernels per norm, and reductions (the gradients of the
// broadcasts); here every sum is a matmul (see reductions.ts) and the backward needs a handful of kernels.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamFactory } from '../init';
import { colSum, rowMean } from './reductions';
import { fusedLayerNormAvailable, layerNormBackwardKernel, layerNormForwardKernel } from '../../kernels/layerNormRows';

export const LAYER_NORM_EPS = 1e-5; // torch.nn.LayerNorm's default

export interface LayerNormParams {
  weight: tf.Variable; // γ [D]
  bias: tf.Variable; // β [D]
}

export function createLayerNorm(f: ParamFactory, name: string, dim: number): LayerNormParams {
  return { weight: f.make(`${name}.weight`, [dim], { kind: 'ones' }), bias: f.make(`${name}.bias`, [dim], { kind: 'zeros' }) };
}

/** x̂ = (x − mean) / √(var + eps) per row, biased variance (as torch). Returns x̂ and 1/√(var + eps) [M, 1]. */
function standardise(x: tf.Tensor2D, eps: number): { xhat: tf.Tensor2D; rstd: tf.Tensor2D } {
  const centred = tf.sub(x, rowMean(x));
  const variance = rowMean(tf.square(centred) as tf.Tensor2D);
  const rstd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor2D;
  return { xhat: tf.mul(centred, rstd), rstd };
}

/** dL/dx for x̂ = standardise(x), given g = dL/dx̂: rstd · (g − mean(g) − x̂ · mean(g · x̂)). */
function standardiseGrad(g: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor2D): tf.Tensor2D {
  const meanG = rowMean(g);
  const meanGX = rowMean(tf.mul(g, xhat));
  return tf.mul(rstd, tf.sub(tf.sub(g, meanG), tf.mul(xhat, meanGX)));
}

const layerNormAffine = (eps: number) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const { xhat, rstd } = standardise(x as tf.Tensor2D, eps);
    save([xhat, rstd, gamma]);
    return {
      // γ, β as rows [1, C] for the same broadcast-shader reason as in linear.ts.
      value: tf.add(tf.mul(xhat, tf.reshape(gamma, [1, -1])), tf.reshape(beta, [1, -1])),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, g] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dx = standardiseGrad(tf.mul(dy, tf.reshape(g, [1, -1])), xh, rs);
        return [dx, colSum(tf.mul(dy, xh) as tf.Tensor2D), colSum(dy as tf.Tensor2D)];
      },
    };
  });

const layerNormPlain = (eps: number) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const { xhat, rstd } = standardise(x as tf.Tensor2D, eps);
    save([xhat, rstd]);
    return {
      value: xhat as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => standardiseGrad(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D),
    };
  });

// The same two ops on the fused kernels (src/kernels/layerNormRows.ts: one pass per row forward and backward),
// where the backend has them (cpu, wasm).
const fusedAffine = (eps: number) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor2D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, xhat, rstd] = layerNormForwardKernel(x, eps, gamma, beta);
    save([xhat, rstd, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, g] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        return layerNormBackwardKernel(dy as tf.Tensor2D, xh, rs, g);
      },
    };
  });

const fusedPlain = (eps: number) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [xhat, rstd] = layerNormForwardKernel(x, eps);
    save([xhat, rstd]);
    return {
      value: xhat,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => layerNormBackwardKernel(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D)[0],
    };
  });

const affineOp = layerNormAffine(LAYER_NORM_EPS);
const plainOp = layerNormPlain(LAYER_NORM_EPS);
const fusedAffineOp = fusedAffine(LAYER_NORM_EPS);
const fusedPlainOp = fusedPlain(LAYER_NORM_EPS);

/** LayerNorm with learned γ, β (torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor2D, p: LayerNormParams): tf.Tensor2D {
  return (fusedLayerNormAvailable() ? fusedAffineOp : affineOp)(x, p.weight, p.bias) as tf.Tensor2D;
}

/** LayerNorm without parameters (F.layer_norm(x, [D]) as SwinViT normalises its stage outputs). */
export function layerNormNoAffine(x: tf.Tensor2D): tf.Tensor2D {
  return (fusedLayerNormAvailable() ? fusedPlainOp : plainOp)(x) as tf.Tensor2D;
}
