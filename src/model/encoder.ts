// The 3-D ViT encoder: patch tokens [N, T, p³] (written by the crop sampler kernel) → multi-scale
// embedding [N, stages·dim]. Everything is a 2-D matmul on token rows [N·T, ·] or a batched matmul in
// attention; no convolution, nothing above rank 4.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; training through this module needs them all.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { ParamFactory } from './init';
import { createAttention, attention, type AttentionParams } from './layers/attention';
import { createLayerNorm, layerNorm, layerNormNoAffine, type LayerNormParams } from './layers/layerNorm';
import { createLinear, linear, type LinearParams } from './layers/linear';
import { createMlp, mlp, type MlpParams } from './layers/mlp';
import { sinCos3d } from './layers/posEmbed';
import { validatePreset, type EncoderPreset } from './presets';

interface BlockParams {
  norm1: LayerNormParams;
  attn: AttentionParams;
  norm2: LayerNormParams;
  mlp: MlpParams;
}

export class Encoder {
  private readonly patchEmbed: LinearParams; // [p³, dim]
  private readonly blocks: BlockParams[] = [];
  /** Position tables by grid size g, kept out of tidy scopes; disposed with the encoder. */
  private readonly positions = new Map<number, tf.Tensor2D>();
  /** Pooling matrices by (crops, tokens); like the position tables, kept and disposed with the encoder. */
  private readonly pools = new Map<string, tf.Tensor2D>();

  constructor(
    readonly preset: EncoderPreset,
    f: ParamFactory,
  ) {
    validatePreset(preset);
    const { patch, dim } = preset;
    const voxels = patch ** 3;
    // MAE initialises the patch projection like a linear layer: xavier-uniform over (in = p³, out = dim).
    const xavier = Math.sqrt(6 / (voxels + dim));
    this.patchEmbed = createLinear(f, 'patch_embed', voxels, dim, { weight: { kind: 'uniform', bound: xavier }, bias: { kind: 'zeros' } });
    const hidden = Math.round(preset.mlpRatio * dim);
    for (let i = 0; i < preset.depth; i++) {
      this.blocks.push({
        norm1: createLayerNorm(f, `blocks.${i}.norm1`, dim),
        attn: createAttention(f, `blocks.${i}.attn`, dim),
        norm2: createLayerNorm(f, `blocks.${i}.norm2`, dim),
        mlp: createMlp(f, `blocks.${i}.mlp`, dim, hidden),
      });
    }
  }

  private positionTable(g: number): tf.Tensor2D {
    let table = this.positions.get(g);
    if (!table) {
      table = tf.keep(tf.tensor2d(sinCos3d(g, this.preset.dim), [g * g * g, this.preset.dim]));
      this.positions.set(g, table);
    }
    return table;
  }

  /** P [n, n·t] with P[i, i·t + j] = 1/t: P·X averages the t token rows of each crop (no reduction kernel). */
  private poolingMatrix(n: number, t: number): tf.Tensor2D {
    const key = `${n}x${t}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const values = new Float32Array(n * n * t);
      for (let i = 0; i < n; i++) values.fill(1 / t, i * n * t + i * t, i * n * t + (i + 1) * t);
      pool = tf.keep(tf.tensor2d(values, [n, n * t]));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** tokens [N, T, p³] with T = g³ → embedding [N, stageEnds.length · dim]: each tap pooled over tokens, concatenated. */
  forward(tokens: tf.Tensor3D): tf.Tensor2D {
    const { n, t, taps } = this.trunk(tokens, 'forward');
    // Global average pooling over each crop's tokens as one matmul: [N, N·T] block-averaging matrix · [N·T, D].
    const pool = this.poolingMatrix(n, t);
    const pooled = taps.map((x) => tf.matMul(pool, x) as tf.Tensor2D);
    return pooled.length === 1 ? pooled[0] : tf.concat(pooled, 1);
  }

  /**
   * Per-token multi-scale features [N, T, stageEnds.length · dim]: the same layer-normalised taps that forward()
   * pools, before the pooling (so their mean over T equals forward()). For dense downstream heads (benchmark
   * segmentation); test/eval-tasks.test.ts pins mean-over-T = forward().
   */
  forwardTokens(tokens: tf.Tensor3D): tf.Tensor3D {
    const { n, t, taps } = this.trunk(tokens, 'forwardTokens');
    const rows = taps.length === 1 ? taps[0] : tf.concat(taps, 1);
    return tf.reshape(rows, [n, t, taps.length * this.preset.dim]);
  }

  /** Patch embedding + position, the blocks, and the layer-normalised taps ([N·T, dim] each) at stageEnds. */
  private trunk(tokens: tf.Tensor3D, caller: string): { n: number; t: number; taps: tf.Tensor2D[] } {
    const { patch, dim, heads, stageEnds } = this.preset;
    if (tokens.rank !== 3) throw new Error(`Encoder.${caller}: tokens must be [N, T, p³], got shape [${tokens.shape}]`);
    const [n, t, voxels] = tokens.shape;
    if (voxels !== patch ** 3) {
      throw new Error(`Encoder.${caller}: preset '${this.preset.name}' has patch ${patch} (p³ = ${patch ** 3}) but tokens have ${voxels} voxels each`);
    }
    const g = Math.round(Math.cbrt(t));
    if (g ** 3 !== t) throw new Error(`Encoder.${caller}: ${t} tokens per crop is not a cube g³`);

    const taps: tf.Tensor2D[] = [];
    // The tokens are data: no dL/dtokens.
    const embedded = linear(tf.reshape(tokens, [n * t, voxels]), this.patchEmbed, { inputGradient: false });
    let x = tf.reshape(tf.add(tf.reshape(embedded, [n, t, dim]), this.positionTable(g)), [n * t, dim]) as tf.Tensor2D;
    if (stageEnds[0] === 0) taps.push(layerNormNoAffine(x));
    this.blocks.forEach((b, i) => {
      x = tf.add(x, attention(layerNorm(x, b.norm1), b.attn, n, t, heads));
      x = tf.add(x, mlp(layerNorm(x, b.norm2), b.mlp));
      if (stageEnds.includes(i + 1)) taps.push(layerNormNoAffine(x));
    });
    return { n, t, taps };
  }

  dispose(): void {
    for (const table of this.positions.values()) table.dispose();
    this.positions.clear();
    for (const pool of this.pools.values()) pool.dispose();
    this.pools.clear();
  }
}
