// Dense layer on token rows: y = x·W + b, with W stored [in, out] (tfjs's matMul layout; torch.nn.Linear
// stores the transpose). The gradient is written out so that all three parts are matmuls:
// dx = dy·Wᵀ, dW = xᵀ·dy, db = dyᵀ·1 (autodiff of the broadcast bias add would reduce with tf.sum, a
// barrier-heavy kernel on software WebGPU; see reductions.ts). tf.fused.matMul is not used either: its
// gradient has the same reduction.
import * as tf from '@tensorflow/tfjs-core';
import type { Init, ParamFactory } from '../init';
import { colSum } from './reductions';

export interface LinearParams {
  weight: tf.Variable; // [in, out]
  bias: tf.Variable; // [out]
}

export function createLinear(
  f: ParamFactory,
  name: string,
  inDim: number,
  outDim: number,
  init: { weight: Init; bias: Init },
): LinearParams {
  return { weight: f.make(`${name}.weight`, [inDim, outDim], init.weight), bias: f.make(`${name}.bias`, [outDim], init.bias) };
}

let fusedBiasEnabled = true;
/** Benchmarks: the forward's bias add as a separate kernel (false) instead of inside tfjs's fused matmul (true). */
export function useFusedBiasMatMul(enable: boolean): void {
  fusedBiasEnabled = enable;
}

/**
 * x·W + b. On cpu and wasm as tfjs's _FusedMatMul, whose wasm kernel hands the bias to XNNPACK's fully-connected
 * operator (measured: one pass over the output less, ~1 ms per [1408, 512] output); its own gradient, which
 * reduces with tf.sum, is never used (this op's gradient is written below). Other backends: matMul + row add.
 */
function affine(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const backend = tf.getBackend();
  if (fusedBiasEnabled && (backend === 'wasm' || backend === 'cpu')) return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
  return tf.add(tf.matMul(x, w), tf.reshape(b, [1, -1]));
}

const linearOp = (inputGradient: boolean) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([x, w]);
    return {
      // b as [1, out]: tfjs-webgpu sends a 1-D operand shorter than 128 to a shared-memory broadcast shader
      // that software adapters run ~25× slower (measured on SwiftShader); the row form is the same sum.
      value: affine(x, w, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        // A customGrad returns every input's gradient; where nothing needs dL/dx (the patch embedding of
        // the crop tokens) a zero-fill stands in for the [M, in]·[in, out]ᵀ product.
        const dx = inputGradient ? tf.matMul(g, ws, false, true) : tf.zerosLike(xs);
        return [dx, tf.matMul(xs, g, true, false), colSum(g)];
      },
    };
  });
const withInputGradient = linearOp(true);
const withoutInputGradient = linearOp(false);

/** y = x·W + b. `inputGradient: false` when nothing upstream of x is trained (x is data). */
export function linear(x: tf.Tensor2D, p: LinearParams, opts: { inputGradient?: boolean } = {}): tf.Tensor2D {
  const op = opts.inputGradient === false ? withoutInputGradient : withInputGradient;
  return op(x, p.weight, p.bias) as tf.Tensor2D;
}

/** torch.nn.Linear's default init: weight and bias ~ U(-1/√in, 1/√in). */
export function torchLinearInit(inDim: number): { weight: Init; bias: Init } {
  const bound = 1 / Math.sqrt(inDim);
  return { weight: { kind: 'uniform', bound }, bias: { kind: 'uniform', bound } };
}

/** timm's ViT init for linear layers: weight ~ truncated N(0, 0.02²), bias 0. */
export const VIT_LINEAR_INIT: { weight: Init; bias: Init } = { weight: { kind: 'truncNormal', std: 0.02 }, bias: { kind: 'zeros' } };
