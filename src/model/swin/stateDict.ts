// The authors' VoCoHead.state_dict() layout: every key with its PyTorch shape and dtype, and the conversion between
// PyTorch layouts and the layouts this backbone computes with. Keys are exactly theirs ('backbone.swinViT.*',
// 'backbone.encoder{1,2,3,4,10}.*', 'student.layer{1,2,3}.0.*', 'teacher.*'); a model's weights are a
// Map<key, tf.Tensor> in OUR layout, converted once at load and back once at export:
//   Linear weight    torch [out, in]                 → ours [in, out]
//   Conv3d weight    torch [Cout, Cin, k, k, k]      → ours [k³·Cin, Cout], row ((kd·k + kh)·k + kw)·Cin + cin
//   patch embedding  torch [fs, 1, 2, 2, 2]          → ours [8, fs] (the conv above with k = 2, Cin = 1)
//   everything else (biases, LayerNorm, relative-position tables) unchanged.
// The int64 buffers '...attn.relative_position_index' are listed (the exporter writes them) but are not weights: they
// follow from the window size (windows.ts).
import { SWIN_DEPTHS, SWIN_HEADS, SWIN_MLP_RATIO, SWIN_WINDOW, stageDim, swinEmbedDim, type SwinConfig } from './config';

export type KeyKind = 'linear' | 'conv' | 'plain' | 'index';

export interface StateDictEntry {
  key: string;
  /** Shape in PyTorch's layout. */
  torchShape: number[];
  dtype: 'float32' | 'int64';
  kind: KeyKind;
  /** How a fresh model initialises it (torch's defaults for the module it belongs to). */
  init: 'linear' | 'conv' | 'ones' | 'zeros' | 'truncNormal02' | 'none';
  /** fan-in for 'linear'/'conv' inits (torch's default U(±1/√fan_in) for weight and bias). */
  fanIn?: number;
}

const TABLE_ROWS = (2 * SWIN_WINDOW - 1) ** 3;
const WINDOW_TOKENS = SWIN_WINDOW ** 3;

/** Every key of the authors' VoCoHead at this configuration, in state_dict order. */
export function swinStateDictSpec(cfg: SwinConfig): StateDictEntry[] {
  const out: StateDictEntry[] = [];
  const fs = cfg.featureSize;
  const lin = (key: string, o: number, i: number, bias = true) => {
    out.push({ key: `${key}.weight`, torchShape: [o, i], dtype: 'float32', kind: 'linear', init: 'linear', fanIn: i });
    if (bias) out.push({ key: `${key}.bias`, torchShape: [o], dtype: 'float32', kind: 'plain', init: 'linear', fanIn: i });
  };
  const ln = (key: string, c: number) => {
    out.push({ key: `${key}.weight`, torchShape: [c], dtype: 'float32', kind: 'plain', init: 'ones' });
    out.push({ key: `${key}.bias`, torchShape: [c], dtype: 'float32', kind: 'plain', init: 'zeros' });
  };
  const conv = (key: string, o: number, i: number, k: number) =>
    out.push({ key: `${key}.weight`, torchShape: [o, i, k, k, k], dtype: 'float32', kind: 'conv', init: 'conv', fanIn: i * k ** 3 });
  // UnetrBasicBlock(res_block=True) = UnetResBlock: conv1, conv2 (3×3×3, no bias), conv3 (1×1×1) when the width changes;
  // instance norms without affine carry no weights.
  const resBlock = (key: string, cin: number, cout: number) => {
    conv(`${key}.layer.conv1.conv`, cout, cin, 3);
    conv(`${key}.layer.conv2.conv`, cout, cout, 3);
    if (cin !== cout) conv(`${key}.layer.conv3.conv`, cout, cin, 1);
  };

  const sv = 'backbone.swinViT';
  out.push({ key: `${sv}.patch_embed.proj.weight`, torchShape: [fs, 1, 2, 2, 2], dtype: 'float32', kind: 'conv', init: 'conv', fanIn: 8 });
  out.push({ key: `${sv}.patch_embed.proj.bias`, torchShape: [fs], dtype: 'float32', kind: 'plain', init: 'conv', fanIn: 8 });
  for (let s = 0; s < 4; s++) {
    const dim = stageDim(cfg, s);
    const heads = SWIN_HEADS[s];
    for (let b = 0; b < SWIN_DEPTHS[s]; b++) {
      const p = `${sv}.layers${s + 1}.0.blocks.${b}`;
      ln(`${p}.norm1`, dim);
      out.push({ key: `${p}.attn.relative_position_bias_table`, torchShape: [TABLE_ROWS, heads], dtype: 'float32', kind: 'plain', init: 'truncNormal02' });
      out.push({ key: `${p}.attn.relative_position_index`, torchShape: [WINDOW_TOKENS, WINDOW_TOKENS], dtype: 'int64', kind: 'index', init: 'none' });
      lin(`${p}.attn.qkv`, 3 * dim, dim);
      lin(`${p}.attn.proj`, dim, dim);
      ln(`${p}.norm2`, dim);
      lin(`${p}.mlp.linear1`, SWIN_MLP_RATIO * dim, dim);
      lin(`${p}.mlp.linear2`, dim, SWIN_MLP_RATIO * dim);
    }
    const d = `${sv}.layers${s + 1}.0.downsample`;
    lin(`${d}.reduction`, 2 * dim, 8 * dim, false);
    ln(`${d}.norm`, 8 * dim);
  }
  for (let s = 0; s < 4; s++) resBlock(`${sv}.layers${s + 1}c.0`, stageDim(cfg, s), stageDim(cfg, s));
  resBlock('backbone.encoder1', 1, fs);
  resBlock('backbone.encoder2', fs, fs);
  resBlock('backbone.encoder3', 2 * fs, 2 * fs);
  resBlock('backbone.encoder4', 4 * fs, 4 * fs);
  resBlock('backbone.encoder10', 16 * fs, 16 * fs);
  for (const head of ['student', 'teacher']) {
    lin(`${head}.layer1.0`, cfg.headHidden, swinEmbedDim(cfg));
    lin(`${head}.layer2.0`, cfg.headHidden, cfg.headHidden);
    lin(`${head}.layer3.0`, cfg.headOut, cfg.headHidden);
  }
  return out;
}

/** Our layout's shape for an entry (see the table at the top). */
export function internalShape(e: StateDictEntry): number[] {
  const s = e.torchShape;
  if (e.kind === 'linear') return [s[1], s[0]];
  if (e.kind === 'conv') return [s[2] * s[3] * s[4] * s[1], s[0]];
  return [...s];
}

/** PyTorch-layout values → our layout (a copy). */
export function torchToInternal(e: StateDictEntry, data: Float32Array): Float32Array {
  check(e, data);
  const s = e.torchShape;
  if (e.kind === 'linear') return transpose2d(data, s[0], s[1]);
  if (e.kind === 'conv') {
    const [co, ci, kd, kh, kw] = s;
    const k3 = kd * kh * kw;
    const out = new Float32Array(data.length);
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let t = 0; t < k3; t++) out[(t * ci + i) * co + o] = data[(o * ci + i) * k3 + t];
    return out;
  }
  return data.slice();
}

/** Our layout → PyTorch layout (a copy); the inverse of torchToInternal. */
export function internalToTorch(e: StateDictEntry, data: Float32Array): Float32Array {
  check(e, data);
  const s = e.torchShape;
  if (e.kind === 'linear') return transpose2d(data, s[1], s[0]);
  if (e.kind === 'conv') {
    const [co, ci, kd, kh, kw] = s;
    const k3 = kd * kh * kw;
    const out = new Float32Array(data.length);
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let t = 0; t < k3; t++) out[(o * ci + i) * k3 + t] = data[(t * ci + i) * co + o];
    return out;
  }
  return data.slice();
}

/**
 * Parameter counts (float weights only), as paramCount in presets.ts: backbone, one head, and what is trained
 * (backbone + student head); the stored state_dict holds another head (the teacher) on top.
 */
export function swinParamCount(cfg: SwinConfig): { encoder: number; head: number; total: number } {
  let encoder = 0;
  let head = 0;
  for (const e of swinStateDictSpec(cfg)) {
    if (e.dtype !== 'float32') continue;
    const n = e.torchShape.reduce((a, b) => a * b, 1);
    if (e.key.startsWith('backbone.')) encoder += n;
    else if (e.key.startsWith('student.')) head += n;
  }
  return { encoder, head, total: encoder + head };
}

function check(e: StateDictEntry, data: Float32Array): void {
  const n = e.torchShape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`'${e.key}': ${data.length} values for shape [${e.torchShape}]`);
}

function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}
