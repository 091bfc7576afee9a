// The authors' VoCo backbone configuration (Self-supervised/models/voco_head.py: MONAI SwinViT with use_v2=True,
// patch 2, window 7, depths 2-2-2-2, heads 3-6-12-24, MLP ratio 4, plus five UNETR encoder blocks) and its
// projection heads. Everything that depends on the feature size follows from it here.

export interface SwinConfig {
  /** MONAI's feature_size = embed_dim: 48 for VoCo-B, 96 for L, 192 for H. */
  featureSize: number;
  /** Projection head hidden and output width (1024 in the released models). */
  headHidden: number;
  headOut: number;
  /**
   * Neighbour order of the 2×2×2 patch merging: 'merging' is MONAI ≤ 1.4's `PatchMerging` (what the released VoCo
   * weights were trained with: it repeats two neighbours and drops two), 'mergingv2' is `PatchMergingV2`.
   */
  downsample: 'merging' | 'mergingv2';
}

export const SWIN_PATCH = 2;
export const SWIN_WINDOW = 7;
export const SWIN_DEPTHS = [2, 2, 2, 2] as const;
export const SWIN_HEADS = [3, 6, 12, 24] as const;
export const SWIN_MLP_RATIO = 4;
/** Smallest crop edge: the deepest stage is r/32 voxels wide and instance norm needs more than one voxel. */
export const SWIN_MIN_CROP = 64;

/** Channels of stage i's Swin blocks (i = 0..3): fs·2^i; the merged output of stage i has twice that. */
export function stageDim(cfg: SwinConfig, i: number): number {
  return cfg.featureSize * 2 ** i;
}

/** Width of the pooled embedding: fs (enc0) + fs (enc1) + 2fs (enc2) + 4fs (enc3) + 16fs (dec4) = 24·fs. */
export function swinEmbedDim(cfg: SwinConfig): number {
  return 24 * cfg.featureSize;
}

/** Throws a message naming the problem when a configuration (or a configuration and crop edge) is unusable. */
export function validateSwinConfig(cfg: SwinConfig, cropSize?: number): void {
  const fail = (why: string): never => {
    throw new Error(`Swin backbone (feature size ${cfg.featureSize}): ${why}`);
  };
  if (!Number.isInteger(cfg.featureSize) || cfg.featureSize < 1) fail('feature size must be a positive integer');
  // Every stage's channels must split evenly into its heads (MONAI requires feature_size % 12 == 0).
  if (cfg.featureSize % 12 !== 0) fail('feature size must be a multiple of 12 (heads 3-6-12-24 at widths fs·2^i)');
  if (!Number.isInteger(cfg.headHidden) || cfg.headHidden < 1) fail('head hidden width must be a positive integer');
  if (!Number.isInteger(cfg.headOut) || cfg.headOut < 1) fail('head output width must be a positive integer');
  if (cfg.downsample !== 'merging' && cfg.downsample !== 'mergingv2') fail(`unknown downsample '${cfg.downsample}'`);
  if (cropSize !== undefined) {
    if (!Number.isInteger(cropSize) || cropSize % 32 !== 0) fail(`crop size ${cropSize} must be a multiple of 32 (patch 2, four 2× merges)`);
    if (cropSize < SWIN_MIN_CROP) {
      fail(`crop size ${cropSize} is below ${SWIN_MIN_CROP}: the deepest stage would be ${cropSize / 32}³ and instance norm needs more than one voxel`);
    }
  }
}
