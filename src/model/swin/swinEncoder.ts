// The authors' `Swin` (voco_head.py): SwinViT hidden states plus five UNETR encoder blocks, each globally
// average-pooled, concatenated into the embedding [crops, 24·fs]:
//   enc0 = encoder1(x) (full resolution), enc1 = encoder2(hidden0), enc2 = encoder3(hidden1), enc3 = encoder4(hidden2),
//   dec4 = encoder10(hidden4)   (hidden3 feeds no encoder block).
// Input: voxel crops [crops, r, r, r] in PyTorch's (D, H, W) order (the first axis is the volume's x, as MONAI loads
// NIfTI). Weights: a Map keyed as the authors' state_dict, in our layouts (stateDict.ts).
import * as tf from '@tensorflow/tfjs-core';
import { validateSwinConfig, type SwinConfig } from './config';
import { resBlock, type WeightMap } from './convBridge';
import { PlanCache } from './planCache';
import { rowGather } from './rowGather';
import { voxelMean } from './voxelMean';
import { swinViT } from './swinViT';
import type { Dims3 } from './windows';

export interface SwinOutputs {
  hidden: tf.Tensor2D[];
  hiddenDims: Dims3[];
  /** enc0..enc4 as token rows [crops·S, C], their grids, their means [crops, C], and the embedding. */
  enc: tf.Tensor2D[];
  encDims: Dims3[];
  pooled: tf.Tensor2D[];
  embedding: tf.Tensor2D;
}

/**
 * Means over blocks of b³ voxels: [crops·D³, C] on a D³ grid → [crops·g³, C], g = D/b, rows in (x, y, z) order
 * (z fastest). Three sums over one axis each, at rank ≤ 3.
 */
function blockMean(x: tf.Tensor2D, crops: number, d: number, g: number): tf.Tensor2D {
  const b = d / g;
  const c = x.shape[1];
  if (b === 1) return x;
  let t = tf.sum(tf.reshape(x, [crops * g, b, d * d * c]), 1); // over x within a block
  t = tf.sum(tf.reshape(t, [crops * g * g, b, d * c]), 1); // over y
  t = tf.sum(tf.reshape(t, [crops * g * g * g, b, c]), 1); // over z
  return tf.div(t, b * b * b) as tf.Tensor2D;
}

/** Mean over each crop's voxels: [crops·S, C] → [crops, C]. */
function pool(x: tf.Tensor2D, crops: number): tf.Tensor2D {
  return tf.reshape(voxelMean(tf.reshape(x, [crops, x.shape[0] / crops, x.shape[1]])), [crops, x.shape[1]]);
}

/** True inside tf.grad / variableGrads (a tape records): intermediates must then live until the backward pass. */
function recordingGradients(): boolean {
  return ((tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth ?? 0) > 0;
}

export class SwinEncoder {
  private readonly plans = new PlanCache();
  private readonly orders = new Map<string, { idx: tf.Tensor1D; inv: tf.Tensor1D }>();

  constructor(
    readonly cfg: SwinConfig,
    readonly weights: WeightMap,
  ) {
    validateSwinConfig(cfg);
  }

  /** Everything the fixture checks (tests, debugging); forward() keeps only the embedding. */
  forwardAll(crops: tf.Tensor4D): SwinOutputs {
    const [n, r] = crops.shape;
    validateSwinConfig(this.cfg, r);
    if (crops.shape[2] !== r || crops.shape[3] !== r) throw new Error(`SwinEncoder: crops must be cubes [n, r, r, r], got [${crops.shape}]`);
    const voxels = tf.reshape(crops, [n * r * r * r, 1]) as tf.Tensor2D;
    const { hidden, dims } = swinViT(voxels, n, r, this.cfg, this.weights, this.plans);
    const inputs: [tf.Tensor2D, Dims3, string][] = [
      [voxels, [r, r, r], 'backbone.encoder1'],
      [hidden[0], dims[0], 'backbone.encoder2'],
      [hidden[1], dims[1], 'backbone.encoder3'],
      [hidden[2], dims[2], 'backbone.encoder4'],
      [hidden[4], dims[4], 'backbone.encoder10'],
    ];
    const enc = inputs.map(([x, d, key], i) => resBlock(x, n, d, this.weights, key, i === 0));
    const pooled = enc.map((e) => pool(e, n));
    return { hidden, hiddenDims: dims, enc, encDims: inputs.map((i) => i[1]), pooled, embedding: tf.concat(pooled, 1) as tf.Tensor2D };
  }

  /**
   * Per-block features [n, T, 24·fs], T = (r/block)³: each encoder output averaged over the block's voxels (so the
   * mean over T is forward()'s embedding), tokens in the crop sampler's order t = (tz·g + ty)·g + tx.
   */
  forwardTokens(crops: tf.Tensor4D, block: number): tf.Tensor3D {
    const [n, r] = crops.shape;
    const g = r / block;
    if (!Number.isInteger(g) || r / 32 < g || (r / 32) % g !== 0) throw new Error(`SwinEncoder.forwardTokens: block ${block} must divide the crop ${r} and be at least 32`);
    const o = this.forwardAll(crops);
    const blocks = o.enc.map((e, i) => blockMean(e, n, o.encDims[i][0], g));
    const xyz = tf.concat(blocks, 1) as tf.Tensor2D; // [n·g³, 24·fs], z fastest
    const { idx, inv } = this.tokenOrder(n, g);
    return tf.reshape(rowGather(xyz, idx, inv), [n, g * g * g, xyz.shape[1]]);
  }

  private tokenOrder(n: number, g: number): { idx: tf.Tensor1D; inv: tf.Tensor1D } {
    const key = `${n}:${g}`;
    let o = this.orders.get(key);
    if (!o) {
      const idx = new Int32Array(n * g ** 3);
      const inv = new Int32Array(n * g ** 3);
      for (let c = 0; c < n; c++) for (let z = 0; z < g; z++) for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) {
        const t = c * g ** 3 + (z * g + y) * g + x; // crop-sampler order
        const src = c * g ** 3 + (x * g + y) * g + z; // ours
        idx[t] = src;
        inv[src] = t;
      }
      o = { idx: tf.keep(tf.tensor1d(idx, 'int32')), inv: tf.keep(tf.tensor1d(inv, 'int32')) };
      this.orders.set(key, o);
    }
    return o;
  }

  /**
   * crops [n, r, r, r] → embedding [n, 24·fs]. Without a gradient tape (maps, benchmark) every stage and encoder block
   * frees its intermediates as soon as it ends (only the means survive); with one, forwardAll as it is.
   */
  forward(crops: tf.Tensor4D): tf.Tensor2D {
    if (recordingGradients()) return this.forwardAll(crops).embedding;
    const [n, r] = crops.shape;
    validateSwinConfig(this.cfg, r);
    if (crops.shape[2] !== r || crops.shape[3] !== r) throw new Error(`SwinEncoder: crops must be cubes [n, r, r, r], got [${crops.shape}]`);
    return tf.tidy(() => {
      const voxels = tf.reshape(crops, [n * r * r * r, 1]) as tf.Tensor2D;
      const pooled: tf.Tensor2D[] = [tf.tidy(() => pool(resBlock(voxels, n, [r, r, r], this.weights, 'backbone.encoder1', true), n))];
      const { hidden, dims } = swinViT(voxels, n, r, this.cfg, this.weights, this.plans, true);
      for (const [i, key] of [[0, 'backbone.encoder2'], [1, 'backbone.encoder3'], [2, 'backbone.encoder4'], [4, 'backbone.encoder10']] as const) {
        pooled.push(tf.tidy(() => pool(resBlock(hidden[i], n, dims[i], this.weights, key, false), n)));
      }
      return tf.concat(pooled, 1) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.plans.dispose();
    for (const o of this.orders.values()) tf.dispose([o.idx, o.inv]);
    this.orders.clear();
  }
}
