// The ONE place where the backbone reaches the convolution blocks (UnetrBasicBlock with res_block=True =
// MONAI's UnetResBlock, instance norm without affine, LeakyReLU 0.01). The convolutions are our own kernels
// (src/kernels/conv3d.ts); the block itself is written here until src/model/swin/unetrBlocks.ts is merged, then this
// file only forwards to it.
import * as tf from '@tensorflow/tfjs-core';
import { conv3d } from '../../kernels/conv3d';
import { voxelMean } from './voxelMean';
import type { Dims3 } from './windows';

export type WeightMap = Map<string, tf.Tensor>;

const INSTANCE_NORM_EPS = 1e-5;
const LEAKY_SLOPE = 0.01;

function weight(w: WeightMap, key: string): tf.Tensor2D {
  const t = w.get(key);
  if (!t) throw new Error(`Swin backbone: weight '${key}' is missing`);
  return t as tf.Tensor2D;
}

/** Same-padded 3-D convolution, stride 1, no bias: x [n·S, Cin], w [k³·Cin, Cout] → [n·S, Cout]. */
function conv(x: tf.Tensor2D, crops: number, dims: Dims3, w: tf.Tensor2D, k: 1 | 3, inputGradient: boolean): tf.Tensor2D {
  const cin = x.shape[1];
  const cout = w.shape[1];
  if (k === 1) return tf.matMul(x, w);
  const y = conv3d(tf.reshape(x, [crops, x.shape[0] / crops, cin]), w, dims, k, { inputGradient });
  return tf.reshape(y, [x.shape[0], cout]);
}

/** InstanceNorm3d(affine=False): per crop and channel over the voxels, biased variance, eps 1e-5. */
export function instanceNorm(x: tf.Tensor2D, crops: number): tf.Tensor2D {
  const c = x.shape[1];
  const v = tf.reshape(x, [crops, x.shape[0] / crops, c]) as tf.Tensor3D;
  const centred = tf.sub(v, voxelMean(v)) as tf.Tensor3D;
  const variance = voxelMean(tf.square(centred) as tf.Tensor3D);
  return tf.reshape(tf.mul(centred, tf.rsqrt(tf.add(variance, INSTANCE_NORM_EPS))), x.shape) as tf.Tensor2D;
}

/**
 * UnetrBasicBlock(res_block=True) with weights under `prefix` (e.g. 'backbone.encoder1'). `inputIsData`: x is the
 * crop itself (encoder1), so its convolutions skip dL/dx.
 */
export function resBlock(x: tf.Tensor2D, crops: number, dims: Dims3, w: WeightMap, prefix: string, inputIsData = false): tf.Tensor2D {
  const w1 = weight(w, `${prefix}.layer.conv1.conv.weight`);
  const w2 = weight(w, `${prefix}.layer.conv2.conv.weight`);
  let out = tf.leakyRelu(instanceNorm(conv(x, crops, dims, w1, 3, !inputIsData), crops), LEAKY_SLOPE);
  out = instanceNorm(conv(out, crops, dims, w2, 3, true), crops);
  const w3 = w.get(`${prefix}.layer.conv3.conv.weight`) as tf.Tensor2D | undefined;
  const residual = w3 ? instanceNorm(conv(x, crops, dims, w3, 1, !inputIsData), crops) : x;
  return tf.leakyRelu(tf.add(out, residual), LEAKY_SLOPE) as tf.Tensor2D;
}
