// 2×2×2 space-to-depth on token rows, the shared core of the patch embedding (conv k=2 s=2 = this + a matmul) and
// of patch merging. Token rows [crops·D·H·W, C] in PyTorch's (D, H, W) order become [crops·(D/2)(H/2)(W/2), 8·C]
// with column ((i·2 + j)·2 + k)·C + c for the neighbour at offset (i, j, k) along (D, H, W). Two rank-4 transposes
// (tfjs-webgpu has silent bugs above rank 4).
import * as tf from '@tensorflow/tfjs-core';
import type { Dims3 } from './windows';

export function spaceToDepth2(x: tf.Tensor2D, crops: number, dims: Dims3): tf.Tensor2D {
  const [D, H, W] = dims;
  const C = x.shape[1];
  if (D % 2 || H % 2 || W % 2) throw new Error(`spaceToDepth2: grid ${dims.join('×')} is not even along every axis`);
  if (x.shape[0] !== crops * D * H * W) throw new Error(`spaceToDepth2: ${x.shape[0]} rows for ${crops} crops of ${dims.join('×')}`);
  const [A, B, Cc] = [D / 2, H / 2, W / 2];
  const t1 = tf.transpose(tf.reshape(x, [crops * A, 2, B, 2 * W * C]), [0, 2, 1, 3]); // [nA, B, i, (j w c)]
  const t2 = tf.transpose(tf.reshape(t1, [crops * A * B, 4, Cc, 2 * C]), [0, 2, 1, 3]); // [nAB, Cc, (i j), (k c)]
  return tf.reshape(t2, [crops * A * B * Cc, 8 * C]);
}

/**
 * Neighbour offset (i·4 + j·2 + k) of each of the 8 concatenated slots. MONAI ≤ 1.4's PatchMerging concatenates
 * x[0::2,0::2,0::2], x[1::2,0::2,0::2], x[0::2,1::2,0::2], x[0::2,0::2,1::2], x[1::2,0::2,1::2], x[0::2,1::2,0::2],
 * x[0::2,0::2,1::2], x[1::2,1::2,1::2]: offsets (0,1,1,1,0,1,1,0) are never taken and two are repeated.
 * PatchMergingV2 takes the 8 offsets in itertools.product order.
 */
export const MERGE_SLOTS = {
  merging: [0, 4, 2, 1, 5, 2, 1, 7],
  mergingv2: [0, 1, 2, 3, 4, 5, 6, 7],
} as const;

/** [rows, 8·C] in offset order → [rows, 8·C] in the concatenation order of `mode`. */
export function mergeOrder(x: tf.Tensor2D, c: number, mode: keyof typeof MERGE_SLOTS): tf.Tensor2D {
  const slots = MERGE_SLOTS[mode];
  if (slots.every((o, i) => o === i)) return x;
  const rows = x.shape[0];
  return tf.concat(slots.map((o) => tf.slice(x, [0, o * c], [rows, c])), 1);
}
