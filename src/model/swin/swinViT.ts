// MONAI 1.3.2 SwinTransformer with use_v2=True, as the authors' Swin builds it, on token rows [crops·D·H·W, C] in
// PyTorch's (D, H, W) order:
//   patch_embed (conv k=2 s=2 = space-to-depth + matmul) → pos_drop (p = 0) → hidden0 = proj_out(x0)
//   for stage i: layers{i}c (v2 residual conv block) → 2 Swin blocks (window 7, shift 0 then 3) → patch merging
//                → hidden{i+1} = proj_out(x{i+1})
// proj_out is F.layer_norm over channels without affine. Drop path and dropouts are 0 in the reference.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { layerNorm, layerNormNoAffine, type LayerNormParams } from '../layers/layerNorm';
import { linear, type LinearParams } from '../layers/linear';
import { SWIN_DEPTHS, SWIN_HEADS, type SwinConfig } from './config';
import { resBlock, type WeightMap } from './convBridge';
import { geluErf } from './gelu';
import { mergeOrder, spaceToDepth2 } from './patchOps';
import type { PlanCache } from './planCache';
import { relativeBias } from './relativeBias';
import { rowGather } from './rowGather';
import { windowAttention } from './windowAttention';
import type { Dims3 } from './windows';

const SV = 'backbone.swinViT';

export interface SwinHidden {
  /** hidden0..hidden4 as token rows [crops·S_i, C_i] (layer-normalised), with their grids. */
  hidden: tf.Tensor2D[];
  dims: Dims3[];
}

function get(w: WeightMap, key: string): tf.Tensor {
  const t = w.get(key);
  if (!t) throw new Error(`Swin backbone: weight '${key}' is missing`);
  return t;
}

const lin = (w: WeightMap, key: string): LinearParams => ({ weight: get(w, `${key}.weight`), bias: get(w, `${key}.bias`) }) as LinearParams;
const ln = (w: WeightMap, key: string): LayerNormParams => ({ weight: get(w, `${key}.weight`), bias: get(w, `${key}.bias`) }) as LayerNormParams;

/** One SwinTransformerBlock: x + attn(norm1 x) in shifted windows, then x + mlp(norm2 x). */
function swinBlock(x: tf.Tensor2D, crops: number, dims: Dims3, w: WeightMap, key: string, heads: number, shifted: boolean, plans: PlanCache): tf.Tensor2D {
  const plan = plans.plan(crops, dims, shifted);
  const h = layerNorm(x, ln(w, `${key}.norm1`));
  const windows = rowGather(h, plan.src, plan.inv);
  const bias = relativeBias(get(w, `${key}.attn.relative_position_bias_table`) as tf.Tensor2D, plans.bias(plan.tokens));
  const attended = windowAttention(windows, { qkv: lin(w, `${key}.attn.qkv`), proj: lin(w, `${key}.attn.proj`) }, {
    windows: plan.windows,
    tokens: plan.tokens,
    heads,
    bias,
    mask: plan.mask,
  });
  const y = tf.add(x, rowGather(attended, plan.inv, plan.src)) as tf.Tensor2D;
  const m = linear(geluErf(linear(layerNorm(y, ln(w, `${key}.norm2`)), lin(w, `${key}.mlp.linear1`))) as tf.Tensor2D, lin(w, `${key}.mlp.linear2`));
  return tf.add(y, m) as tf.Tensor2D;
}

/** Patch merging (2× down, C → 2C): neighbours concatenated in the configured order → LayerNorm(8C) → Linear, no bias. */
function patchMerging(x: tf.Tensor2D, crops: number, dims: Dims3, w: WeightMap, key: string, mode: SwinConfig['downsample']): tf.Tensor2D {
  const c = x.shape[1];
  const cat = mergeOrder(spaceToDepth2(x, crops, dims), c, mode);
  return tf.matMul(layerNorm(cat, ln(w, `${key}.norm`)), get(w, `${key}.reduction.weight`) as tf.Tensor2D);
}

/**
 * voxels [crops·r³, 1] (a crop's voxels in (D, H, W) order) → the five normalised hidden states. `inference`: each
 * stage runs in its own tf.tidy, so its intermediates (attention, MLP, conv maps) are freed when it ends instead of
 * at the caller's tidy — the peak of a forward pass without gradients drops several-fold (maps, benchmark).
 */
export function swinViT(voxels: tf.Tensor2D, crops: number, r: number, cfg: SwinConfig, w: WeightMap, plans: PlanCache, inference = false): SwinHidden {
  const scope = <T extends tf.TensorContainer>(f: () => T): T => (inference ? tf.tidy(f) : f());
  const g0 = r / 2;
  let dims: Dims3 = [g0, g0, g0];
  const pw = get(w, `${SV}.patch_embed.proj.weight`) as tf.Tensor2D;
  const pb = get(w, `${SV}.patch_embed.proj.bias`);
  let x = tf.add(tf.matMul(spaceToDepth2(voxels, crops, [r, r, r]), pw), tf.reshape(pb, [1, -1])) as tf.Tensor2D;
  const hidden = [layerNormNoAffine(x)];
  const grids: Dims3[] = [dims];
  for (let s = 0; s < 4; s++) {
    const [next, h] = scope(() => {
      let y = resBlock(x, crops, dims, w, `${SV}.layers${s + 1}c.0`);
      const key = `${SV}.layers${s + 1}.0`;
      for (let b = 0; b < SWIN_DEPTHS[s]; b++) y = scope(() => swinBlock(y, crops, dims, w, `${key}.blocks.${b}`, SWIN_HEADS[s], b % 2 === 1, plans));
      y = patchMerging(y, crops, dims, w, `${key}.downsample`, cfg.downsample);
      return [y, layerNormNoAffine(y)];
    });
    x = next;
    dims = dims.map((d) => d / 2) as Dims3;
    hidden.push(h);
    grids.push(dims);
  }
  return { hidden, dims: grids };
}
