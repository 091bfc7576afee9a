// What the preprocessing pipeline needs to know, and the presets the studio offers.

export interface PreprocessSettings {
  /** Target voxel size in mm [sx, sy, sz] (MONAI Spacingd pixdim). */
  spacing: [number, number, number];
  /** HU window [lo, hi]: lo maps to 0, hi to 1, values outside are clipped (ScaleIntensityRanged with clip). */
  huWindow: [number, number];
  /** Pad (symmetrically, with 0) to at least this many voxels: the training region n·r × n·r × r. */
  minSize: [number, number, number];
  /** Foreground is every voxel of the windowed image above this value (MONAI's default select_fn is x > 0). */
  foregroundThreshold?: number;
}

export type PreprocessPresetName = 'studio' | 'abdomen' | 'chest';

export const PREPROCESS_PRESETS: Record<PreprocessPresetName, { label: string; settings: PreprocessSettings }> = {
  // Same field of view as the reference abdomen region (192·1.5 mm = 96·3 mm) at an eighth of the voxels.
  studio: {
    label: 'Studio · 3 mm isotropic, HU −175…250',
    settings: { spacing: [3, 3, 3], huWindow: [-175, 250], minSize: [96, 96, 32] },
  },
  // The VoCo reference abdomen pipeline.
  abdomen: {
    label: 'VoCo abdomen · 1.5 mm isotropic, HU −175…250',
    settings: { spacing: [1.5, 1.5, 1.5], huWindow: [-175, 250], minSize: [192, 192, 64] },
  },
  // The VoCo reference chest pipeline (thick slices, lung window).
  chest: {
    label: 'VoCo chest · 1.25×1.25×5 mm, HU −1000…500',
    settings: { spacing: [1.25, 1.25, 5], huWindow: [-1000, 500], minSize: [192, 192, 64] },
  },
};

export const DEFAULT_PREPROCESS: PreprocessSettings = PREPROCESS_PRESETS.studio.settings;
