// Matmul FLOPs of a training step (2·m·n·k per matmul), for the benchmark's achieved GFLOP/s.
// Left out: elementwise work (norms, softmax, GELU, losses, optimiser), O(elements) rather than O(m·n·k), and
// the thin matmuls that stand in for reductions (layers/reductions.ts, the token pooling), < 1% of the total.
import { embedDim, isSwinPreset, swinConfigOf, validatePreset, type EncoderPreset } from './presets';
import { swinForwardFlops } from './swin/flops';

export interface ForwardFlops {
  /** Patch embedding of one crop: [T, p³]·[p³, dim]. */
  patchEmbed: number;
  /** All transformer blocks of one crop: qkv, q·kᵀ, attn·v, proj, two MLP matmuls. */
  blocks: number;
  /** One projection head on one crop's embedding. */
  head: number;
}

export function forwardFlops(preset: EncoderPreset, cropSize: number): ForwardFlops {
  validatePreset(preset, cropSize);
  const h = preset.headHidden;
  const head = 2 * embedDim(preset) * h + 2 * h * h + 2 * h * preset.headOut;
  if (isSwinPreset(preset)) {
    // The Swin backbone's convolutions, windows and merges all count as "blocks".
    const f = swinForwardFlops(swinConfigOf(preset), cropSize);
    return { patchEmbed: f.patchEmbed, blocks: f.backbone, head };
  }
  const { patch, dim, depth } = preset;
  const t = (cropSize / patch) ** 3;
  const hidden = Math.round(preset.mlpRatio * dim);
  const mm = (m: number, k: number, n: number) => 2 * m * k * n;
  const perBlock =
    mm(t, dim, 3 * dim) + // qkv
    mm(t, dim, t) + // scores, summed over heads: heads · 2·t·dh·t
    mm(t, t, dim) + // attn · v
    mm(t, dim, dim) + // proj
    mm(t, dim, hidden) +
    mm(t, hidden, dim);
  return {
    patchEmbed: mm(t, patch ** 3, dim),
    blocks: depth * perBlock,
    head,
  };
}

/**
 * Matmul FLOPs of one training step over `numCrops` crops: encoder and student head forward + backward
 * (backward = 2 matmuls per forward matmul: input and weight gradients), except the patch embedding whose
 * input (the tokens) needs no gradient (forward + weight gradient only), plus the teacher head forward.
 */
export function stepFlops(preset: EncoderPreset, cropSize: number, numCrops: number): number {
  const f = forwardFlops(preset, cropSize);
  return numCrops * (2 * f.patchEmbed + 3 * f.blocks + 3 * f.head + f.head);
}
