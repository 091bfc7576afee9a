// Encoder presets: a 3-D ViT over patch tokens, scaled from the paper's SwinUNETR B/L/H down to what a
// browser can train, and the authors' own backbone (family 'swin', src/model/swin/) at their feature sizes. Every matrix in a step is ≥ 64 wide in every dimension for the non-test presets
// (dim ≥ 128, head width 64, T = (r/p)³ = 64 tokens at r=32, p=8), so the step is matmul-bound.
// Plain data (no tensors): the store and the UI import it.
import { SWIN_MLP_RATIO, swinEmbedDim, validateSwinConfig, type SwinConfig } from './swin/config';
import { swinParamCount } from './swin/stateDict';

export interface EncoderPreset {
  name: string;
  label: string;
  /**
   * 'vit' (default): the studio's ViT-3D below. 'swin': the authors' VoCo backbone (MONAI SwinViT v2 + five UNETR
   * encoder blocks, src/model/swin/) at `featureSize`; its input is voxel crops, not patch tokens, and the fields
   * below describe it only loosely: patch 32 is its crop granularity (r must be a multiple of 32, and per-token
   * features are 32³-voxel blocks), dim = feature size, depth = its 8 Swin blocks.
   */
  family?: 'vit' | 'swin';
  /** swin only: MONAI's feature_size (48 = VoCo-B, 96 = L, 192 = H). */
  featureSize?: number;
  /** Patch edge in voxels: tokens are p×p×p cubes, so the patch embedding is a [p³ → dim] matmul. */
  patch: number;
  /** Token width. */
  dim: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads; dim must be divisible by heads. */
  heads: number;
  /** MLP hidden width = mlpRatio · dim. */
  mlpRatio: number;
  /**
   * Where the multi-scale embedding taps the token stream, as "blocks done": 0 = the patch embedding
   * (plus position), k = the output of block k (1..depth). Each tap is layer-normalised (no affine, like
   * SwinViT's normalised stage outputs) and global-average-pooled over tokens; the taps are concatenated,
   * like the reference's 5 pooled SwinUNETR stages. Strictly increasing.
   */
  stageEnds: number[];
  /** Projection head hidden width (reference: 1024) and output width (reference: 1024). */
  headHidden: number;
  headOut: number;
}

export const PRESETS: Record<string, EncoderPreset> = {
  tiny: {
    name: 'tiny',
    label: 'tiny — tests only (ViT-3D 32×2, patch 4)',
    patch: 4,
    dim: 32,
    depth: 2,
    heads: 2,
    mlpRatio: 2,
    stageEnds: [0, 1, 2],
    headHidden: 64,
    headOut: 64,
  },
  S: {
    name: 'S',
    label: 'S — small (ViT-3D 128×4, patch 8)',
    patch: 8,
    dim: 128,
    depth: 4,
    heads: 2,
    mlpRatio: 4,
    stageEnds: [0, 1, 2, 3, 4],
    headHidden: 1024,
    headOut: 1024,
  },
  B: {
    name: 'B',
    label: 'B — base (ViT-3D 128×6, patch 8)',
    patch: 8,
    dim: 128,
    depth: 6,
    heads: 2,
    mlpRatio: 4,
    stageEnds: [0, 1, 2, 4, 6],
    headHidden: 1024,
    headOut: 1024,
  },
  L: {
    name: 'L',
    label: 'L — large (ViT-3D 192×8, patch 8)',
    patch: 8,
    dim: 192,
    depth: 8,
    heads: 3,
    mlpRatio: 4,
    stageEnds: [0, 2, 4, 6, 8],
    headHidden: 1024,
    headOut: 1024,
  },
  H: {
    name: 'H',
    label: 'H — huge (ViT-3D 384×12, patch 8)',
    patch: 8,
    dim: 384,
    depth: 12,
    heads: 6,
    mlpRatio: 4,
    stageEnds: [0, 3, 6, 9, 12],
    headHidden: 1024,
    headOut: 1024,
  },
};

/** The authors' backbone as a preset (see EncoderPreset.family). */
function swinPreset(name: string, label: string, featureSize: number, head: number): EncoderPreset {
  return {
    name,
    label,
    family: 'swin',
    featureSize,
    patch: 32,
    dim: featureSize,
    depth: 8,
    heads: 3,
    mlpRatio: SWIN_MLP_RATIO,
    stageEnds: [0, 2, 4, 6, 8],
    headHidden: head,
    headOut: head,
  };
}

PRESETS['swin-tiny'] = swinPreset('swin-tiny', 'swin-tiny — tests (VoCo Swin, feature size 12, r ≥ 64)', 12, 128);
PRESETS['VoCo-B'] = swinPreset('VoCo-B', "VoCo-B — the authors' backbone (SwinViT v2 fs 48, 53 M; a real GPU, r ≥ 64)", 48, 1024);
PRESETS['VoCo-L'] = swinPreset('VoCo-L', "VoCo-L — the authors' backbone (fs 96, 212 M; a large GPU)", 96, 1024);
PRESETS['VoCo-H'] = swinPreset('VoCo-H', "VoCo-H — the authors' backbone (fs 192, 847 M; beyond a browser)", 192, 1024);

export function isSwinPreset(preset: Pick<EncoderPreset, 'family'>): boolean {
  return preset.family === 'swin';
}

/** The SwinConfig of a 'swin' preset (MONAI ≤ 1.4 patch merging, as the released weights). */
export function swinConfigOf(preset: EncoderPreset): SwinConfig {
  if (!isSwinPreset(preset) || !preset.featureSize) throw new Error(`Preset '${preset.name}' is not a Swin preset`);
  return { featureSize: preset.featureSize, headHidden: preset.headHidden, headOut: preset.headOut, downsample: 'merging' };
}

/**
 * The studio's default. One step at B=2, sw=2, n=3, r=32 (22 crops): 11.7 GFLOP of matmuls, every matrix
 * ≥ 64 in every dimension; forward + backward measured ≈ 0.8 s of CPU time on tfjs-wasm with the fast
 * matmul paths (src/kernels/wasmBatchMatMul.ts), so about a step per second with sampling, losses and AdamW.
 */
export const DEFAULT_PRESET = 'B';

/** Width of the multi-scale embedding (input of the projection heads). */
export function embedDim(preset: EncoderPreset): number {
  if (isSwinPreset(preset)) return swinEmbedDim(swinConfigOf(preset));
  return preset.stageEnds.length * preset.dim;
}

/** Tokens per crop side, g = r / p. */
export function gridSize(preset: EncoderPreset, cropSize: number): number {
  return cropSize / preset.patch;
}

/** Throws a message naming the preset and the problem when a preset (or a preset/crop-size pair) is unusable. */
export function validatePreset(preset: EncoderPreset, cropSize?: number): void {
  const fail = (why: string) => {
    throw new Error(`Encoder preset '${preset.name}': ${why}`);
  };
  if (isSwinPreset(preset)) {
    try {
      validateSwinConfig(swinConfigOf(preset), cropSize);
    } catch (e) {
      fail((e as Error).message);
    }
    return;
  }
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) fail(`${what} must be a positive integer, got ${v}`);
  };
  posInt(preset.patch, 'patch');
  posInt(preset.dim, 'dim');
  posInt(preset.depth, 'depth');
  posInt(preset.heads, 'heads');
  posInt(preset.headHidden, 'headHidden');
  posInt(preset.headOut, 'headOut');
  if (preset.dim % preset.heads !== 0) fail(`dim ${preset.dim} is not divisible by heads ${preset.heads}`);
  if (!(preset.mlpRatio > 0) || !Number.isInteger(preset.mlpRatio * preset.dim)) {
    fail(`mlpRatio ${preset.mlpRatio} × dim ${preset.dim} must be a positive integer`);
  }
  const s = preset.stageEnds;
  if (!Array.isArray(s) || s.length === 0) fail('stageEnds must list at least one tap');
  s.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > preset.depth) fail(`stageEnds[${i}] = ${v} is outside 0..depth (${preset.depth})`);
    if (i > 0 && v <= s[i - 1]) fail(`stageEnds must be strictly increasing, got ${JSON.stringify(s)}`);
  });
  if (s[s.length - 1] !== preset.depth) fail(`the last stage must be the last block (${preset.depth}), got ${s[s.length - 1]}`);
  if (cropSize !== undefined) {
    if (!Number.isInteger(cropSize) || cropSize < 1) fail(`crop size must be a positive integer, got ${cropSize}`);
    if (cropSize % preset.patch !== 0) fail(`crop size ${cropSize} is not a multiple of the patch size ${preset.patch}`);
  }
}

/**
 * Parameter counts. encoder: patch embedding + blocks (the sin-cos positions and the stage norms have no
 * parameters, so the count does not depend on the crop size, which is only validated). head: one projection
 * head. total: what is trained (encoder + student head); the teacher is another `head` of EMA weights.
 */
export function paramCount(preset: EncoderPreset, cropSize: number): { encoder: number; head: number; total: number } {
  validatePreset(preset, cropSize);
  if (isSwinPreset(preset)) return swinParamCount(swinConfigOf(preset));
  const { patch, dim, depth, headHidden: h, headOut: out } = preset;
  const hidden = Math.round(preset.mlpRatio * dim);
  const linear = (i: number, o: number) => i * o + o;
  const block = 2 * dim /* norm1 */ + linear(dim, 3 * dim) + linear(dim, dim) + 2 * dim /* norm2 */ + linear(dim, hidden) + linear(hidden, dim);
  const encoder = linear(patch ** 3, dim) + depth * block;
  const head = linear(embedDim(preset), h) + linear(h, h) + linear(h, out);
  return { encoder, head, total: encoder + head };
}
