// 3-D convolution for the reference (SwinUNETR) encoder: stride 1, zero padding (k-1)/2, no bias, k = 1 or 3,
// differentiable in x and w, on every backend through our own kernels (never tfjs's rank-5 conv3d).
//
// Layouts (the interface the model and checkpoint code share):
//   x [N, D·H·W, Cin], voxel index (d·H + h)·W + w (PyTorch's NCDHW spatial order, D first), channels last;
//   w [k³·Cin, Cout], row ((kd·k + kh)·k + kw)·Cin + ci;  pytorchConvWeightToOurs converts [Cout, Cin, k, k, k].
//   y [N, D·H·W, Cout].
//
// Forward: conv3dImplicitGemm.ts. Backward:
//   dx = conv(dy, w'), w'[t·Cout + co, ci] = w[(k³-1-t)·Cin + ci, co]: with stride 1 and "same" zero padding
//        the data gradient is the convolution of dy with the flipped, transposed kernel (same kernel, no col2im);
//   dw = Σ_s partial_s, the split-K weight gradient of conv3dFilterGrad.ts, summed with a ones-row matmul
//        (reductions are barrier-heavy on software WebGPU, see src/model/layers/reductions.ts).
// On wasm both are GEMMs on blocks of im2col rows (im2col3d.ts) through the backend's matmul (XNNPACK: SIMD and
// threads), ~10× faster than the single-threaded JS twin that the cpu backend keeps.
import * as tf from '@tensorflow/tfjs-core';
import { conv3dKernel, conv3dShapes } from './conv3dImplicitGemm';
import { conv3dFilterGradKernel } from './conv3dFilterGrad';
import { im2col3d } from './im2col3d';

export type Dims3 = [number, number, number];

export interface Conv3dOptions {
  /** false when x is data (nothing upstream is trained): the backward pass then skips dx (returns zeros). */
  inputGradient?: boolean;
}

/** Weight rows flipped in tap order and transposed per tap: [k³·Cin, Cout] → [k³·Cout, Cin]. */
export function flipConvWeight(w: tf.Tensor2D, k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const taps = k * k * k;
    const [rows, cout] = w.shape;
    const cin = rows / taps;
    let w3 = tf.reshape(w, [taps, cin, cout]);
    if (taps > 1) w3 = tf.reverse(w3, 0);
    return tf.reshape(tf.transpose(w3, [0, 2, 1]), [taps * cout, cin]);
  });
}

/** How many split-K chunks the weight gradient uses on the active backend. */
export function filterGradChunks(rows: number, K: number, cout: number): number {
  const backend = tf.getBackend();
  if (backend === 'cpu' || backend === 'wasm') return 1;
  // GPUs: ≥ 256 voxel rows per chunk, partials ≤ 16 M floats, within one dispatch dimension.
  const byRows = Math.ceil(rows / 256);
  const byMemory = Math.max(1, Math.floor(2 ** 24 / (K * cout)));
  return Math.max(1, Math.min(byRows, byMemory, 65535, rows));
}

/** im2col floats per block on wasm (32 MB): the blocks' matmuls stay large, the transient copy bounded. */
let im2colBlockFloats = 1 << 23;

/** Tests: a small block size makes even tiny convolutions run in several blocks. Returns the previous size. */
export function setIm2colBlockFloats(floats: number): number {
  const before = im2colBlockFloats;
  im2colBlockFloats = floats;
  return before;
}

function im2colRows(k: number, cin: number): number {
  return Math.max(1, Math.floor(im2colBlockFloats / (k * k * k * cin)));
}

/** Forward on wasm: y rows = im2col(x) rows · w, block by block (each block's copy freed before the next). */
function conv3dWasmGemm(x: tf.Tensor3D, w: tf.Tensor2D, dims: Dims3, k: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, v, cin] = x.shape;
    const cout = w.shape[1];
    const m = n * v;
    if (k === 1) return tf.reshape(tf.matMul(tf.reshape(x, [m, cin]), w), [n, v, cout]);
    const step = im2colRows(k, cin);
    const parts: tf.Tensor2D[] = [];
    for (let s = 0; s < m; s += step) {
      const col = im2col3d(x, dims, k, s, Math.min(step, m - s));
      parts.push(tf.matMul(col, w));
      col.dispose();
    }
    return tf.reshape(parts.length === 1 ? parts[0] : tf.concat(parts, 0), [n, v, cout]);
  });
}

/** Weight gradient on wasm: Σ over blocks of im2col(x)ᵀ · dy. */
function conv3dFilterGradWasm(x: tf.Tensor3D, dy: tf.Tensor3D, dims: Dims3, k: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, v, cin] = x.shape;
    const cout = dy.shape[2];
    const m = n * v;
    const g = tf.reshape(dy, [m, cout]);
    if (k === 1) return tf.matMul(tf.reshape(x, [m, cin]), g, true, false);
    const step = im2colRows(k, cin);
    let dw: tf.Tensor2D | null = null;
    for (let s = 0; s < m; s += step) {
      const rows = Math.min(step, m - s);
      const col = im2col3d(x, dims, k, s, rows);
      const gs = rows === m ? g : tf.slice(g, [s, 0], [rows, cout]);
      const part = tf.matMul(col, gs, true, false) as tf.Tensor2D;
      tf.dispose(gs === g ? [col] : [col, gs]);
      if (!dw) dw = part;
      else {
        const next = tf.add(dw, part) as tf.Tensor2D;
        tf.dispose([dw, part]);
        dw = next;
      }
    }
    return dw!;
  });
}

/** y = conv(x, w) without gradient: the backend's kernel, or blocks of im2col GEMMs on wasm. */
function convForward(x: tf.Tensor3D, w: tf.Tensor2D, dims: Dims3, k: number): tf.Tensor3D {
  return tf.getBackend() === 'wasm' ? conv3dWasmGemm(x, w, dims, k) : conv3dKernel(x, w, dims, k);
}

/** Weight gradient [k³·Cin, Cout] of Σ conv(x, w)·dy. */
export function conv3dFilterGrad(x: tf.Tensor3D, dy: tf.Tensor3D, dims: Dims3, k: number): tf.Tensor2D {
  if (tf.getBackend() === 'wasm') return conv3dFilterGradWasm(x, dy, dims, k);
  return tf.tidy(() => {
    const [n, v, cin] = x.shape;
    const cout = dy.shape[2];
    const K = k * k * k * cin;
    const chunks = filterGradChunks(n * v, K, cout);
    const partials = conv3dFilterGradKernel(x, dy, dims, k, chunks);
    if (chunks === 1) return tf.reshape(partials, [K, cout]);
    return tf.reshape(tf.matMul(tf.ones([1, chunks]), tf.reshape(partials, [chunks, K * cout])), [K, cout]);
  });
}

const ops = new Map<string, (x: tf.Tensor3D, w: tf.Tensor2D) => tf.Tensor3D>();

function convOp(dims: Dims3, k: number, inputGradient: boolean): (x: tf.Tensor3D, w: tf.Tensor2D) => tf.Tensor3D {
  const key = `${dims.join('x')}_${k}_${inputGradient}`;
  let op = ops.get(key);
  if (!op) {
    op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, w, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.GradSaveFunc];
      save([x, w]);
      return {
        value: convForward(x, w, dims, k),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor3D, tf.Tensor2D];
          const g = dy as tf.Tensor3D;
          const dx = inputGradient ? tf.tidy(() => convForward(g, flipConvWeight(ws, k), dims, k)) : tf.zerosLike(xs);
          return [dx, conv3dFilterGrad(xs, g, dims, k)];
        },
      };
    }) as unknown as (x: tf.Tensor3D, w: tf.Tensor2D) => tf.Tensor3D;
    ops.set(key, op);
  }
  return op;
}

/**
 * y = conv3d(x, w): x [N, D·H·W, Cin], w [k³·Cin, Cout] → [N, D·H·W, Cout]; stride 1, zero padding (k-1)/2,
 * no bias. Differentiable with respect to x and w on cpu, wasm, webgl and webgpu.
 */
export function conv3d(x: tf.Tensor3D, w: tf.Tensor2D, dims: Dims3, k: 1 | 3, opts: Conv3dOptions = {}): tf.Tensor3D {
  conv3dShapes(x.shape, w.shape, dims, k, 'conv3d');
  return convOp([dims[0], dims[1], dims[2]], k, opts.inputGradient !== false)(x, w);
}

/**
 * A PyTorch Conv3d weight [Cout, Cin, k, k, k] (flat, row-major) in our layout [k³·Cin, Cout]:
 * ours[((kd·k + kh)·k + kw)·Cin + ci][co] = torch[co][ci][kd][kh][kw].
 */
export function pytorchConvWeightToOurs(weight: Float32Array, cout: number, cin: number, k: number): Float32Array {
  const taps = k * k * k;
  if (weight.length !== cout * cin * taps) {
    throw new Error(`pytorchConvWeightToOurs: ${weight.length} values do not make a [${cout}, ${cin}, ${k}, ${k}, ${k}] weight`);
  }
  const out = new Float32Array(weight.length);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++)
      for (let t = 0; t < taps; t++) out[(t * cin + ci) * cout + co] = weight[(co * cin + ci) * taps + t];
  return out;
}

/** The inverse of pytorchConvWeightToOurs: ours [k³·Cin, Cout] → PyTorch [Cout, Cin, k, k, k] (flat). */
export function oursConvWeightToPytorch(weight: Float32Array, cout: number, cin: number, k: number): Float32Array {
  const taps = k * k * k;
  if (weight.length !== cout * cin * taps) {
    throw new Error(`oursConvWeightToPytorch: ${weight.length} values do not make a [${taps * cin}, ${cout}] weight`);
  }
  const out = new Float32Array(weight.length);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++)
      for (let t = 0; t < taps; t++) out[(co * cin + ci) * taps + t] = weight[(t * cin + ci) * cout + co];
  return out;
}
