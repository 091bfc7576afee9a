// The authors' checkpoint layout: every key, dtype and shape of their VoCoHead.state_dict() (TPAMI code,
// Self-supervised/models/voco_head.py: backbone = MONAI SwinViT v2 + UNETR encoder blocks 1, 2, 3, 4, 10;
// student/teacher = projection_head), in the order PyTorch lists them, for any feature size.
// Fixed by the architecture: patch 2, window 7 (so 13³ = 2197 relative positions, 7³ = 343 tokens per
// window), depths 2-2-2-2, heads 3-6-12-24, MLP ratio 4, one input channel, v2 residual conv blocks,
// instance norm without affine (no parameters), heads of three Linear layers.
// Until the Swin model of src/model/swin lands this is the studio's own statement of that layout; the tests
// check it against test/fixtures/voco-swin (voco-b-keys.json at feature size 48, swin-fs12.json at 12).
import type { TorchDType } from './dtypes';

export interface LayoutEntry {
  key: string;
  dtype: TorchDType;
  shape: number[];
}

export const WINDOW = 7;
export const PATCH = 2;
export const DEPTHS = [2, 2, 2, 2];
export const NUM_HEADS = [3, 6, 12, 24];
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
  const out: LayoutEntry[] = [];
  const f = (key: string, ...shape: number[]) => out.push({ key, dtype: 'float32', shape });
  const sv = 'backbone.swinViT';
  f(`${sv}.patch_embed.proj.weight`, fs, 1, PATCH, PATCH, PATCH);
  f(`${sv}.patch_embed.proj.bias`, fs);
  const rel = (2 * WINDOW - 1) ** 3;
  const tokens = WINDOW ** 3;
  for (let s = 0; s < 4; s++) {
    const c = fs * 2 ** s;
    const layer = `${sv}.layers${s + 1}.0`;
    for (let b = 0; b < DEPTHS[s]; b++) {
      const p = `${layer}.blocks.${b}`;
      f(`${p}.norm1.weight`, c);
      f(`${p}.norm1.bias`, c);
      f(`${p}.attn.relative_position_bias_table`, rel, NUM_HEADS[s]);
      out.push({ key: `${p}.attn.relative_position_index`, dtype: 'int64', shape: [tokens, tokens] });
      f(`${p}.attn.qkv.weight`, 3 * c, c);
      f(`${p}.attn.qkv.bias`, 3 * c);
      f(`${p}.attn.proj.weight`, c, c);
      f(`${p}.attn.proj.bias`, c);
      f(`${p}.norm2.weight`, c);
      f(`${p}.norm2.bias`, c);
      f(`${p}.mlp.linear1.weight`, 4 * c, c);
      f(`${p}.mlp.linear1.bias`, 4 * c);
      f(`${p}.mlp.linear2.weight`, c, 4 * c);
      f(`${p}.mlp.linear2.bias`, c);
    }
    // Patch merging (MONAI ≤ 1.4 neighbour order): LayerNorm(8c) then Linear(8c → 2c), no bias.
    f(`${layer}.downsample.reduction.weight`, 2 * c, 8 * c);
    f(`${layer}.downsample.norm.weight`, 8 * c);
    f(`${layer}.downsample.norm.bias`, 8 * c);
  }
  for (let s = 0; s < 4; s++) {
    const c = fs * 2 ** s;
    f(`${sv}.layers${s + 1}c.0.layer.conv1.conv.weight`, c, c, 3, 3, 3);
    f(`${sv}.layers${s + 1}c.0.layer.conv2.conv.weight`, c, c, 3, 3, 3);
  }
  f('backbone.encoder1.layer.conv1.conv.weight', fs, 1, 3, 3, 3);
  f('backbone.encoder1.layer.conv2.conv.weight', fs, fs, 3, 3, 3);
  f('backbone.encoder1.layer.conv3.conv.weight', fs, 1, 1, 1, 1);
  for (const [name, c] of [
    ['encoder2', fs],
    ['encoder3', 2 * fs],
    ['encoder4', 4 * fs],
    ['encoder10', 16 * fs],
  ] as const) {
    f(`backbone.${name}.layer.conv1.conv.weight`, c, c, 3, 3, 3);
    f(`backbone.${name}.layer.conv2.conv.weight`, c, c, 3, 3, 3);
  }
  for (const head of ['student', 'teacher']) {
    f(`${head}.layer1.0.weight`, headWidth, embeddingWidth(fs));
    f(`${head}.layer1.0.bias`, headWidth);
    f(`${head}.layer2.0.weight`, headWidth, headWidth);
    f(`${head}.layer2.0.bias`, headWidth);
    f(`${head}.layer3.0.weight`, headWidth, headWidth);
    f(`${head}.layer3.0.bias`, headWidth);
  }
  return out;
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

/**
 * MONAI WindowAttention's relative_position_index for a cubic window: for tokens i, j (flattened d-h-w
 * order), the index of their offset in the (2w−1)³ bias table. Row-major [w³, w³].
 */
export function relativePositionIndex(w = WINDOW): Int32Array {
  const n = w ** 3;
  const out = new Int32Array(n * n);
  const coord = (t: number) => [Math.floor(t / (w * w)), Math.floor(t / w) % w, t % w];
  const m = 2 * w - 1;
  for (let i = 0; i < n; i++) {
    const a = coord(i);
    for (let j = 0; j < n; j++) {
      const b = coord(j);
      out[i * n + j] = (a[0] - b[0] + w - 1) * m * m + (a[1] - b[1] + w - 1) * m + (a[2] - b[2] + w - 1);
    }
  }
  return out;
}
