// The encoder as the downstream tasks use it: one model (any weights) over device-resident volumes, with GAP
// embeddings (cached per crop, so tasks that look at the same crops embed them once per weights set), the VoCo
// projection heads, and per-token features for segmentation. Lives in the worker (tensors); tests use it on cpu.
import * as tf from '@tensorflow/tfjs-core';
import type { VolumeLayout } from '../kernels/packVolumes';
import type { VocoModel } from '../model';
import type { CropSpec } from '../voco/cropPlan';

/** Crops per encoder batch: about 1 M voxels of tokens (256 crops at r = 16, 32 at r = 32), at least 4. */
export function encoderBatch(r: number): number {
  return Math.min(256, Math.max(4, Math.floor(2 ** 20 / r ** 3)));
}

/** The reference encoder holds hundreds of MB per 64³ crop in a forward pass: two crops per batch on any backend. */
const SWIN_EMBED_BATCH = 2;

const cropKey = (c: CropSpec) => `${c.volume}|${c.origin.join(',')}|${c.flip.map(Number).join('')}|${c.rot90}|${c.shift}`;

export class TaskEncoder {
  readonly embedDim: number;
  readonly patch: number;
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    readonly model: VocoModel,
    private readonly packed: tf.Tensor1D,
    readonly layout: VolumeLayout[],
    readonly cropSize: number,
  ) {
    this.embedDim = model.embedDim;
    this.patch = model.preset.patch;
  }

  /** The encoder's input for crops: patch tokens [N, T, p³] or voxel crops (no gradient: the volumes are data). */
  tokens(crops: CropSpec[]): tf.Tensor {
    return this.model.sampleInput(this.packed, this.layout, crops);
  }

  /** GAP multi-scale embeddings (count × embedDim, row-major), batched, cached per crop. */
  async embed(crops: CropSpec[]): Promise<Float32Array> {
    const dim = this.embedDim;
    const out = new Float32Array(crops.length * dim);
    const missing: number[] = [];
    crops.forEach((c, i) => {
      const hit = this.cache.get(cropKey(c));
      if (hit) out.set(hit, i * dim);
      else missing.push(i);
    });
    const batch = this.model.family === 'swin' ? SWIN_EMBED_BATCH : encoderBatch(this.cropSize);
    for (let s = 0; s < missing.length; s += batch) {
      const idx = missing.slice(s, s + batch);
      const emb = tf.tidy(() => this.model.embed(this.tokens(idx.map((i) => crops[i]))));
      try {
        const data = (await emb.data()) as Float32Array;
        idx.forEach((i, k) => {
          const row = data.slice(k * dim, (k + 1) * dim);
          out.set(row, i * dim);
          this.cache.set(cropKey(crops[i]), row);
        });
      } finally {
        emb.dispose();
      }
    }
    return out;
  }

  /** Per-token features [N, T, embedDim] (tensor; the caller disposes it). Differentiable w.r.t. the encoder. */
  tokenFeatures(crops: CropSpec[]): tf.Tensor3D {
    return tf.tidy(() => this.model.embedTokens(this.tokens(crops)));
  }

  /** The encoder's variables (fine-tuning). */
  encoderVariables(): tf.Variable[] {
    return this.model.encoderVariables();
  }

  /** Forgets cached embeddings (after the weights changed). */
  clearCache(): void {
    this.cache.clear();
  }
}
