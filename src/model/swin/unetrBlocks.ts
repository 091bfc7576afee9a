// MONAI's UnetrBasicBlock with res_block=True (= UnetResBlock), as the authors' VoCo backbone uses it for the five
// encoder blocks (encoder1..4, encoder10) and the SwinViT v2 residual conv blocks (swinViT.layersNc.0):
//
//   out = lrelu(norm(conv3x3(x)));  out = norm(conv3x3(out))
//   res = x, or norm(conv1x1(x)) when Cin ≠ Cout (MONAI's conv3 / norm3)
//   y   = lrelu(out + res)
//
// conv: stride 1, "same" zero padding, no bias (MONAI's get_conv_layer defaults to bias=False);
// norm: MONAI norm_name "instance" = torch InstanceNorm3d defaults: affine=False, track_running_stats=False,
//       eps 1e-5, biased variance over the voxels of each sample and channel, in train and eval alike
//       (the fixture state_dict has no norm keys, which is what affine=False gives);
// lrelu: LeakyReLU, negative slope 0.01 (UnetResBlock's default act_name).
//
// Activations are [N, D·H·W, C] (channels last, voxel (d·H + h)·W + w). Weights live in a Map keyed exactly as
// the authors' state_dict (`backbone.encoder1.layer.conv1.conv.weight`, ...): convertUnetrBlockWeights turns the
// PyTorch [Cout, Cin, k, k, k] tensors into our [k³·Cin, Cout] layout once; unetrResBlock reads that form.
import * as tf from '@tensorflow/tfjs-core';
import { conv3d, type Dims3 } from '../../kernels/conv3d';

export const INSTANCE_NORM_EPS = 1e-5;
export const LEAKY_RELU_SLOPE = 0.01;

/** The divisor of v closest to √v from below (1 for a prime). */
function splitFactor(v: number): number {
  for (let b = Math.floor(Math.sqrt(v)); b > 1; b--) if (v % b === 0) return b;
  return 1;
}

/**
 * Mean over the voxel axis as matmuls (no reduction kernel): [N, V, C] → [N, 1, C]. Two levels, over V/B voxels and
 * then over the B partial means (B ≈ √V): a single running float32 sum over 64³ voxels (the cpu backend's blocked
 * matmul, XNNPACK's lanes) drifts by ~1e-5 relative, which the normalisation passes on to every output.
 */
function voxelMean(x: tf.Tensor3D): tf.Tensor3D {
  const [n, v, c] = x.shape;
  const b = splitFactor(v);
  if (b === 1) return tf.reshape(tf.matMul(x, tf.fill([v, 1], 1 / v), true, false), [n, 1, c]);
  const partial = tf.matMul(tf.reshape(x, [n * b, v / b, c]), tf.fill([v / b, 1], b / v), true, false); // [N·B, C, 1]
  return tf.reshape(tf.matMul(tf.reshape(partial, [n, b, c]), tf.fill([b, 1], 1 / b), true, false), [n, 1, c]);
}

/**
 * x minus its per-sample, per-channel mean over the voxels, in two passes: the float32 mean of a large volume is off
 * by ~1e-6 of its value, which the normalisation then divides by the (often much smaller) standard deviation; the
 * second pass takes the mean of the already centred values, whose error is relative to their small size.
 * (Measured on the fixture's encoder1 at 64³: 2.6e-4 relative error in the block output with one pass.)
 */
function centreOverVoxels(x: tf.Tensor3D): tf.Tensor3D {
  const once = tf.sub(x, voxelMean(x)) as tf.Tensor3D;
  return tf.sub(once, voxelMean(once)) as tf.Tensor3D;
}

/**
 * Global average pooling [N, V, C] → [N, C] (what the authors' embedding concatenates), two-pass like the
 * instance norm's mean, with the gradient written out (dL/dx = dL/dy / V on every voxel, no reduction kernel).
 */
export const poolVoxels = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x] = args as [tf.Tensor3D, tf.GradSaveFunc];
  const [n, v, c] = x.shape;
  const first = voxelMean(x);
  const value = tf.reshape(tf.add(first, voxelMean(tf.sub(x, first) as tf.Tensor3D)), [n, c]) as tf.Tensor2D;
  return {
    value,
    gradFunc: (dy: tf.Tensor) => tf.mul(tf.fill([1, v, 1], 1 / v), tf.reshape(dy, [n, 1, c])),
  };
}) as unknown as (x: tf.Tensor3D) => tf.Tensor2D;

/**
 * InstanceNorm3d(affine=False) on [N, V, C]: per sample and channel, (x - mean) / sqrt(var + eps) over the V voxels.
 * Backward written out, dx = s·(dy - mean(dy) - y·mean(dy·y)) with s = 1/sqrt(var + eps), so that both passes reduce
 * with matmuls (tfjs's reductions synchronise with barriers, slow on software WebGPU: see layers/reductions.ts).
 */
export const instanceNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
  const centred = centreOverVoxels(x);
  const scale = tf.rsqrt(tf.add(voxelMean(tf.square(centred)), INSTANCE_NORM_EPS));
  const y = tf.mul(centred, scale) as tf.Tensor3D;
  save([y, scale]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ys, s] = saved as [tf.Tensor3D, tf.Tensor3D];
      const g = dy as tf.Tensor3D;
      // mean(y) = 0, so centring the whole bracket equals subtracting mean(dy); done in two passes it keeps dx's
      // voxel sum at ~0 in float32 too, which matters: the next weight gradient is Σ x·dx with x far from zero-mean.
      return tf.mul(s, centreOverVoxels(tf.sub(g, tf.mul(ys, voxelMean(tf.mul(g, ys) as tf.Tensor3D))) as tf.Tensor3D));
    },
  };
}) as unknown as (x: tf.Tensor3D) => tf.Tensor3D;

/** The state_dict keys of the block under `prefix` (conv3 only when Cin ≠ Cout) with their PyTorch shapes. */
export function unetrBlockKeys(prefix: string, cin: number, cout: number): { key: string; shape: number[] }[] {
  const keys = [
    { key: `${prefix}.layer.conv1.conv.weight`, shape: [cout, cin, 3, 3, 3] },
    { key: `${prefix}.layer.conv2.conv.weight`, shape: [cout, cout, 3, 3, 3] },
  ];
  if (cin !== cout) keys.push({ key: `${prefix}.layer.conv3.conv.weight`, shape: [cout, cin, 1, 1, 1] });
  return keys;
}

/** Every UNETR block prefix in a state_dict: the part before `.layer.conv1.conv.weight`. */
export function findUnetrBlockPrefixes(keys: Iterable<string>): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const m = /^(.*)\.layer\.conv1\.conv\.weight$/.exec(key);
    if (m) out.push(m[1]);
  }
  return out;
}

const CONV_NAMES = ['conv1', 'conv2', 'conv3'] as const;

/** PyTorch [Cout, Cin, k, k, k] → ours [k³·Cin, Cout], on the device (rank ≤ 3 ops). */
export function torchConvTensorToOurs(w: tf.Tensor, key = 'conv weight'): tf.Tensor2D {
  const [cout, cin, kd, kh, kw] = w.shape;
  if (w.rank !== 5 || kd !== kh || kh !== kw) throw new Error(`${key}: expected a PyTorch Conv3d weight [Cout, Cin, k, k, k], got [${w.shape}]`);
  const taps = kd * kh * kw;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(w, [cout, cin, taps]), [2, 1, 0]), [taps * cin, cout]));
}

/** Ours [k³·Cin, Cout] → PyTorch [Cout, Cin, k, k, k] (for export). */
export function oursConvTensorToTorch(w: tf.Tensor2D, k: number, key = 'conv weight'): tf.Tensor {
  const taps = k * k * k;
  const [rows, cout] = w.shape;
  if (rows % taps !== 0) throw new Error(`${key}: [${w.shape}] is not a [k³·Cin, Cout] weight for k=${k}`);
  const cin = rows / taps;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(w, [taps, cin, cout]), [2, 1, 0]), [cout, cin, k, k, k]));
}

/**
 * A copy of `weights` in which the conv weights of the UNETR blocks under `prefixes` (default: every block found)
 * are converted from PyTorch [Cout, Cin, k, k, k] to ours [k³·Cin, Cout] under the same key; every other entry is
 * the same tensor object. The caller owns the new tensors (and still owns the old ones).
 */
export function convertUnetrBlockWeights(
  weights: Map<string, tf.Tensor>, prefixes: string[] = findUnetrBlockPrefixes(weights.keys()),
): Map<string, tf.Tensor> {
  const out = new Map(weights);
  for (const prefix of prefixes) {
    for (const name of CONV_NAMES) {
      const key = `${prefix}.layer.${name}.conv.weight`;
      const w = weights.get(key);
      if (!w) {
        if (name === 'conv3') continue;
        throw new Error(`UNETR block '${prefix}': weight '${key}' is missing`);
      }
      out.set(key, torchConvTensorToOurs(w, key));
    }
  }
  return out;
}

/** The inverse of convertUnetrBlockWeights (ours → PyTorch shapes under the same keys), for export. */
export function unetrBlockWeightsToTorch(
  weights: Map<string, tf.Tensor>, prefixes: string[] = findUnetrBlockPrefixes(weights.keys()),
): Map<string, tf.Tensor> {
  const out = new Map(weights);
  for (const prefix of prefixes) {
    for (const name of CONV_NAMES) {
      const key = `${prefix}.layer.${name}.conv.weight`;
      const w = weights.get(key);
      if (w) out.set(key, oursConvTensorToTorch(w as tf.Tensor2D, name === 'conv3' ? 1 : 3, key));
    }
  }
  return out;
}

function blockWeight(weights: Map<string, tf.Tensor>, key: string, rows: number, cout: number | null): tf.Tensor2D {
  const w = weights.get(key);
  if (!w) throw new Error(`UNETR block: weight '${key}' is missing`);
  if (w.rank !== 2 || w.shape[0] !== rows || (cout !== null && w.shape[1] !== cout)) {
    throw new Error(`UNETR block: weight '${key}' is [${w.shape}], expected our layout [${rows}, ${cout ?? 'Cout'}] ` +
      `(convert PyTorch weights once with convertUnetrBlockWeights)`);
  }
  return w as tf.Tensor2D;
}

export interface UnetrBlockOptions {
  /** false when x is data (encoder1 on the input crops): no gradient is computed for x. */
  inputGradient?: boolean;
}

/**
 * UnetrBasicBlock(res_block=True) under `prefix` (e.g. 'backbone.encoder1'): x [N, D·H·W, Cin] → [N, D·H·W, Cout],
 * weights already in our layout (convertUnetrBlockWeights). conv3 (1×1×1) + norm on the residual iff present,
 * which MONAI makes exactly when Cin ≠ Cout.
 */
export function unetrResBlock(
  x: tf.Tensor3D, dims: Dims3, weights: Map<string, tf.Tensor>, prefix: string, opts: UnetrBlockOptions = {},
): tf.Tensor3D {
  const cin = x.shape[2];
  const w1 = blockWeight(weights, `${prefix}.layer.conv1.conv.weight`, 27 * cin, null);
  const cout = w1.shape[1];
  const w2 = blockWeight(weights, `${prefix}.layer.conv2.conv.weight`, 27 * cout, cout);
  const conv3Key = `${prefix}.layer.conv3.conv.weight`;
  const w3 = weights.has(conv3Key) ? blockWeight(weights, conv3Key, cin, cout) : null;
  if (!w3 && cin !== cout) throw new Error(`UNETR block '${prefix}': ${cin} → ${cout} channels needs '${conv3Key}'`);
  const inputGradient = opts.inputGradient !== false;
  return tf.tidy(() => {
    let out = tf.leakyRelu(instanceNorm(conv3d(x, w1, dims, 3, { inputGradient })), LEAKY_RELU_SLOPE) as tf.Tensor3D;
    out = instanceNorm(conv3d(out, w2, dims, 3));
    const residual = w3 ? instanceNorm(conv3d(x, w3, dims, 1, { inputGradient })) : x;
    return tf.leakyRelu(tf.add(out, residual), LEAKY_RELU_SLOPE) as tf.Tensor3D;
  });
}

/** The authors' five encoder blocks: which SwinViT output each reads (voco_head.py's Swin.forward). */
export function vocoEncoderBlocks(featureSize: number, inChannels = 1): { prefix: string; cin: number; cout: number; source: string }[] {
  const fs = featureSize;
  return [
    { prefix: 'backbone.encoder1', cin: inChannels, cout: fs, source: 'input' },
    { prefix: 'backbone.encoder2', cin: fs, cout: fs, source: 'hidden0' },
    { prefix: 'backbone.encoder3', cin: 2 * fs, cout: 2 * fs, source: 'hidden1' },
    { prefix: 'backbone.encoder4', cin: 4 * fs, cout: 4 * fs, source: 'hidden2' },
    { prefix: 'backbone.encoder10', cin: 16 * fs, cout: 16 * fs, source: 'hidden4' },
  ];
}

/** [N, C, D, H, W] (flat, PyTorch order) → [N, D·H·W, C] (flat, ours). */
export function ncdhwToTokens(data: Float32Array, n: number, c: number, voxels: number): Float32Array {
  if (data.length !== n * c * voxels) throw new Error(`ncdhwToTokens: ${data.length} values are not [${n}, ${c}, ${voxels} voxels]`);
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) {
    const src = (b * c + ch) * voxels;
    for (let p = 0; p < voxels; p++) out[(b * voxels + p) * c + ch] = data[src + p];
  }
  return out;
}

/** [N, D·H·W, C] (flat, ours) → [N, C, D, H, W] (flat, PyTorch order). */
export function tokensToNcdhw(data: Float32Array, n: number, c: number, voxels: number): Float32Array {
  if (data.length !== n * c * voxels) throw new Error(`tokensToNcdhw: ${data.length} values are not [${n}, ${voxels} voxels, ${c}]`);
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let p = 0; p < voxels; p++) {
    const src = (b * voxels + p) * c;
    for (let ch = 0; ch < c; ch++) out[(b * c + ch) * voxels + p] = data[src + ch];
  }
  return out;
}
