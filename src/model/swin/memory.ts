// A rough memory estimate of one VoCo step with the Swin backbone (plain numbers, for the run setup). Per crop, the
// backward pass keeps about 10 activation maps per UNETR/v2 residual block (two convs, two instance norms, LeakyReLUs,
// residual) at its grid and width, and about 30·C values per token per Swin block (norms, window gather, q/k/v,
// context, projection, residual, MLP 4C before and after GELU) on the window-padded grid. Attention scores are not
// kept (windowAttention.ts recomputes them) but a chunk of up to 16 M scores exists transiently.
import { SWIN_DEPTHS, stageDim, type SwinConfig } from './config';
import { clampWindow } from './windows';

const F32 = 4;
const PER_CONV_BLOCK = 10;
const PER_SWIN_BLOCK = 30;
const SCORE_CHUNK_BYTES = (1 << 24) * F32 * 3; // scores, softmax, their gradient

export function swinActivationBytes(cfg: SwinConfig, r: number, crops: number): { bytes: number; largest: { bytes: number; what: string } } {
  const fs = cfg.featureSize;
  let values = PER_CONV_BLOCK * r ** 3 * fs + r ** 3; // encoder1 + the input
  let g = r / 2;
  const at = (grid: number, c: number) => grid ** 3 * c;
  values += 2 * at(g, fs) + PER_CONV_BLOCK * at(g, fs); // patch embedding, encoder2
  for (let s = 0; s < 4; s++) {
    const c = stageDim(cfg, s);
    const w = clampWindow([g, g, g], false).window[0];
    const padded = (Math.ceil(g / w) * w) ** 3;
    values += PER_CONV_BLOCK * at(g, c) + SWIN_DEPTHS[s] * PER_SWIN_BLOCK * padded * c + 3 * at(g / 2, 2 * c);
    g /= 2;
  }
  values += PER_CONV_BLOCK * (at(r / 4, 2 * fs) + at(r / 8, 4 * fs) + at(r / 32, 16 * fs)); // encoders 3, 4, 10
  const convMap = crops * r ** 3 * fs * F32;
  const largest =
    convMap > SCORE_CHUNK_BYTES / 3
      ? { bytes: convMap, what: `full-resolution feature map of encoder1 (${crops} crops × ${r}³ voxels × ${fs} channels)` }
      : { bytes: SCORE_CHUNK_BYTES / 3, what: 'a chunk of window-attention scores (16 M values)' };
  return { bytes: crops * values * F32 + SCORE_CHUNK_BYTES, largest };
}
