// The authors' checkpoint layout as the checkpoint code sees it: every key, dtype and shape (PyTorch's) of their
// VoCoHead.state_dict() (TPAMI code, Self-supervised/models/voco_head.py), in the order PyTorch lists them, for any
// feature size. The layout itself is stated once, by the model (src/model/swin/stateDict.ts); this file gives the
// checkpoint reader and writer that list without our internal layouts, and the names they report with.
import { SWIN_WINDOW, validateSwinConfig } from '../swin/config';
import { swinStateDictSpec } from '../swin/stateDict';
import { relativePositionIndex as windowRelativePositionIndex } from '../swin/windows';
import type { TorchDType } from './dtypes';

export interface LayoutEntry {
  key: string;
  dtype: TorchDType;
  shape: number[];
}

export const WINDOW = SWIN_WINDOW;
/** The authors' projection heads are 1024 wide. */
export const AUTHORS_HEAD_WIDTH = 1024;

/** Released sizes: feature size → the authors' model name. */
export const REFERENCE_SIZES: Record<number, string> = { 48: 'VoCo-B', 96: 'VoCo-L', 192: 'VoCo-H' };

export function referenceModelName(featureSize: number): string {
  return REFERENCE_SIZES[featureSize] ?? `custom (feature size ${featureSize})`;
}

/** Why a feature size cannot be built (MONAI needs it divisible by 12), or null. */
export function featureSizeProblem(fs: number): string | null {
  if (!Number.isInteger(fs) || fs <= 0) return `feature size ${fs} is not a positive integer`;
  if (fs % 12 !== 0) return `feature size ${fs} is not divisible by 12 (SwinUNETR requires it)`;
  return null;
}

/** Width of the pooled embedding that the heads take: 24 × feature size (the five stages concatenated). */
export const embeddingWidth = (fs: number) => 24 * fs;

export const isIndexBuffer = (key: string) => key.endsWith('.attn.relative_position_index');

/** Every key of VoCoHead.state_dict() at feature size `fs` with `headWidth`-wide heads, in PyTorch's order. */
export function vocoHeadLayout(fs: number, headWidth = AUTHORS_HEAD_WIDTH): LayoutEntry[] {
  const bad = featureSizeProblem(fs);
  if (bad) throw new Error(`vocoHeadLayout: ${bad}`);
  const cfg = { featureSize: fs, headHidden: headWidth, headOut: headWidth, downsample: 'merging' as const };
  validateSwinConfig(cfg);
  return swinStateDictSpec(cfg).map((e) => ({ key: e.key, dtype: e.dtype, shape: [...e.torchShape] }));
}

/** Parameter count of the layout (float tensors; the int64 index buffers are not parameters). */
export function layoutParamCount(layout: LayoutEntry[]): { encoder: number; head: number; total: number } {
  let encoder = 0;
  let head = 0;
  for (const e of layout) {
    if (e.dtype !== 'float32') continue;
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.key.startsWith('backbone.')) encoder += n;
    else if (e.key.startsWith('student.')) head += n;
  }
  return { encoder, head, total: encoder + head };
}

/** MONAI WindowAttention's relative_position_index buffer for the 7³ window, row-major [343, 343]. */
export function relativePositionIndex(): Int32Array {
  return windowRelativePositionIndex(SWIN_WINDOW ** 3);
}
