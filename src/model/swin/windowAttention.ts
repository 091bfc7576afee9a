// MONAI's WindowAttention on windows laid out as token rows [crops·windows·n, C]: qkv → heads → q·kᵀ·dh^-½
// + relative position bias (+ shift mask) → softmax → ·v → proj. Scores are [windows·heads, n, n] with n = 343: a
// 64³ crop's first stage holds 125 windows × 3 heads × 343² = 44 M scores, so the score/softmax part is one custom
// op that runs in chunks of windows and saves only q, k, v, recomputing each chunk's softmax in the backward pass
// (flash-attention's trade: memory O(q, k, v) instead of O(scores)). Ranks stay ≤ 3; the softmax is tf.softmax
// (max-shifted: masked entries sit 100 below the rest, too far for a mean-shifted softmax).
import * as tf from '@tensorflow/tfjs-core';
import { linear, type LinearParams } from '../layers/linear';

/** Scores per chunk (floats): bounds the transient memory of the attention to ~64 MB. */
const CHUNK_SCORES = 1 << 24;

export interface WindowAttentionParams {
  qkv: LinearParams;
  proj: LinearParams;
}

function splitHeads(x: tf.Tensor2D, b: number, n: number, heads: number): tf.Tensor3D {
  const dh = x.shape[1] / heads;
  return tf.reshape(tf.transpose(tf.reshape(x, [b, n, heads, dh]), [0, 2, 1, 3]), [b * heads, n, dh]);
}

function mergeHeads(x: tf.Tensor3D, b: number, heads: number): tf.Tensor2D {
  const [, n, dh] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [b, heads, n, dh]), [0, 2, 1, 3]), [b * n, heads * dh]);
}

/** Windows per chunk: the largest divisor of the windows per crop whose scores fit the budget (at least 1). */
function chunkWindows(windows: number, heads: number, n: number): number {
  let best = 1;
  for (let k = 1; k <= windows; k++) if (windows % k === 0 && k * heads * n * n <= CHUNK_SCORES) best = k;
  return best;
}

/**
 * softmax(q·kᵀ + bias + mask)·v for q, k, v [B·heads, n, dh] (B = crops·windows, window-major, heads inner),
 * bias [heads, n·n], mask [windows, n·n] or null. Gradients flow to q, k, v and bias.
 */
function scoresOp(windows: number, heads: number, mask: tf.Tensor2D | null) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, bias, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D, tf.GradSaveFunc];
    const [bh, n] = q.shape;
    const total = bh / heads; // windows over all crops
    const per = chunkWindows(windows, heads, n);
    const rows = per * heads;
    // bias + mask for one chunk of `per` windows starting at window w0 of a crop: [per·heads, n, n]
    // The backward pass must use the SAVED bias (tfjs keeps a clone): the forward's input may be gone by then (wasm).
    // Without a mask the bias is added as one [1, heads·n·n] row broadcast over the chunk's windows (tf.tile of it
    // cost more than the attention products on wasm).
    const withBias = (scores: tf.Tensor3D, w0: number, bias: tf.Tensor2D): tf.Tensor => {
      if (!mask) return tf.add(tf.reshape(scores, [per, heads * n * n]), tf.reshape(bias, [1, heads * n * n]));
      const b = tf.reshape(bias, [1, heads, n * n]);
      const m = tf.reshape(tf.slice(mask, [w0, 0], [per, n * n]), [per, 1, n * n]);
      return tf.add(scores, tf.reshape(tf.add(b, m), [rows, n, n]));
    };
    const probs = (qc: tf.Tensor3D, kc: tf.Tensor3D, w0: number, b: tf.Tensor2D): tf.Tensor3D => {
      const s = withBias(tf.matMul(qc, kc, false, true), w0, b);
      return tf.reshape(tf.softmax(tf.reshape(s, [rows * n, n])), [rows, n, n]);
    };
    const chunks: tf.Tensor3D[] = [];
    for (let w = 0; w < total; w += per) {
      chunks.push(
        tf.tidy(() => {
          const at = [w * heads, 0, 0];
          const size = [rows, n, q.shape[2]];
          return tf.matMul(probs(tf.slice(q, at, size), tf.slice(k, at, size), w % windows, bias), tf.slice(v, at, size));
        }),
      );
    }
    save([q, k, v, bias]);
    const value = chunks.length === 1 ? chunks[0] : tf.concat(chunks, 0);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ks, vs] = saved as tf.Tensor3D[];
        const bs = saved[3] as tf.Tensor2D;
        const dq: tf.Tensor3D[] = [];
        const dk: tf.Tensor3D[] = [];
        const dv: tf.Tensor3D[] = [];
        let dbias: tf.Tensor2D = tf.zeros([heads, n * n]);
        for (let w = 0; w < total; w += per) {
          const parts = tf.tidy(() => {
            const at = [w * heads, 0, 0];
            const size = [rows, n, qs.shape[2]];
            const qc = tf.slice(qs, at, size);
            const kc = tf.slice(ks, at, size);
            const vc = tf.slice(vs, at, size);
            const g = tf.slice(dy as tf.Tensor3D, at, size);
            const p = probs(qc, kc, w % windows, bs);
            const dp = tf.matMul(g, vc, false, true);
            const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), 2, true))) as tf.Tensor3D;
            const db = tf.sum(tf.reshape(ds, [per, heads, n * n]), 0) as tf.Tensor2D;
            return [tf.matMul(ds, kc), tf.matMul(ds, qc, true, false), tf.matMul(p, g, true, false), db] as tf.Tensor[];
          });
          dq.push(parts[0] as tf.Tensor3D);
          dk.push(parts[1] as tf.Tensor3D);
          dv.push(parts[2] as tf.Tensor3D);
          const next = tf.add(dbias, parts[3]) as tf.Tensor2D;
          dbias.dispose();
          parts[3].dispose();
          dbias = next;
        }
        const cat = (xs: tf.Tensor3D[]) => (xs.length === 1 ? xs[0] : tf.concat(xs, 0));
        return [cat(dq), cat(dk), cat(dv), dbias];
      },
    };
  });
}

/**
 * x [crops·windows·n, C] (window_partition's order) → [crops·windows·n, C]. bias [heads, n·n] (relativeBias),
 * mask [windows, n·n] for the shifted blocks.
 */
export function windowAttention(
  x: tf.Tensor2D,
  p: WindowAttentionParams,
  o: { windows: number; tokens: number; heads: number; bias: tf.Tensor2D; mask: tf.Tensor2D | null },
): tf.Tensor2D {
  const { tokens: n, heads, windows } = o;
  const c = x.shape[1];
  const b = x.shape[0] / n;
  const [q, k, v] = tf.split(linear(x, p.qkv), 3, 1) as tf.Tensor2D[];
  const scale = (c / heads) ** -0.5;
  const ctx = scoresOp(windows, heads, o.mask)(
    splitHeads(tf.mul(q, scale) as tf.Tensor2D, b, n, heads),
    splitHeads(k, b, n, heads),
    splitHeads(v, b, n, heads),
    o.bias,
  ) as tf.Tensor3D;
  return linear(mergeHeads(ctx, b, heads), p.proj);
}
