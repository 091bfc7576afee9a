// Where the backbone (token rows [crops·S, C]) reaches the UNETR residual blocks (unetrBlocks.ts, on [crops, S, C]):
// MONAI's UnetrBasicBlock with res_block=True, for the five encoder blocks and SwinViT v2's stage blocks.
import * as tf from '@tensorflow/tfjs-core';
import { unetrResBlock } from './unetrBlocks';
import type { Dims3 } from './windows';

export type WeightMap = Map<string, tf.Tensor>;

/**
 * UnetrBasicBlock(res_block=True) with weights under `prefix` (e.g. 'backbone.encoder1'), in our layout
 * ([k³·Cin, Cout]). `inputIsData`: x is the crop itself (encoder1), so its convolutions skip dL/dx.
 */
export function resBlock(x: tf.Tensor2D, crops: number, dims: Dims3, w: WeightMap, prefix: string, inputIsData = false): tf.Tensor2D {
  const [rows, cin] = x.shape;
  const y = unetrResBlock(tf.reshape(x, [crops, rows / crops, cin]), dims, w, prefix, { inputGradient: !inputIsData });
  return tf.reshape(y, [rows, y.shape[2]]);
}
