// Kernel 'VocoIm2col3d': a block of rows of the im2col matrix of a 3-D convolution (stride 1, zero padding
// (k-1)/2), so that on wasm the convolution becomes the backend's own multi-threaded SIMD matmul (XNNPACK) instead of
// a single-threaded JS loop (conv3d.ts, wasm path).
//
//   col[m - start, t·Cin + ci] = x[m + o_t, ci]   for flat voxel rows m in [start, start + rows) of N·V,
//                                                  0 where m + o_t falls outside m's volume
//
// Layouts as conv3dImplicitGemm.ts: x [N, V, Cin], voxel p = (d·H + h)·W + w, tap t = (kd·k + kh)·k + kw,
// o_t = (kd, kh, kw) - (k-1)/2. col [rows, k³·Cin] times w [k³·Cin, Cout] is rows [start, start + rows) of the
// convolution; colᵀ times the same rows of dy is their share of the weight gradient.
//
// Backends: 'wasm' writes straight into the heap; 'cpu' into a new array (the same loop: this copy is its own twin,
// tested against the literal convolution through conv3d.ts in test/conv3d.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export const IM2COL3D_KERNEL = 'VocoIm2col3d';

export interface Im2col3dAttrs {
  dims: [number, number, number];
  k: number;
  /** First flat voxel row (of N·V) and how many. */
  start: number;
  rows: number;
}

/** Fills col (flat [rows, k³·Cin]) from x (flat [N, V, Cin]). */
export function im2col3dCPU(x: Float32Array, dims: readonly number[], cin: number, k: number, start: number, rows: number, col: Float32Array): Float32Array {
  const [D, H, W] = dims;
  const V = D * H * W;
  const r = (k - 1) >> 1;
  const K = k * k * k * cin;
  for (let i = 0; i < rows; i++) {
    const m = start + i;
    const base = m - (m % V);
    const p = m - base;
    const d = Math.floor(p / (H * W));
    const h = Math.floor(p / W) % H;
    const w = p % W;
    let o = i * K;
    for (let kd = 0; kd < k; kd++) {
      const dd = d + kd - r;
      const dOk = dd >= 0 && dd < D;
      for (let kh = 0; kh < k; kh++) {
        const hh = h + kh - r;
        const dhOk = dOk && hh >= 0 && hh < H;
        for (let kw = 0; kw < k; kw++) {
          const ww = w + kw - r;
          if (dhOk && ww >= 0 && ww < W) {
            const src = (base + (dd * H + hh) * W + ww) * cin;
            if (cin === 1) col[o] = x[src];
            else col.set(x.subarray(src, src + cin), o);
          } else col.fill(0, o, o + cin);
          o += cin;
        }
      }
    }
  }
  return col;
}

function check(x: TensorInfo, attrs: Im2col3dAttrs): [number, number] {
  const { dims, k, start, rows } = attrs;
  if (x.dtype !== 'float32' || x.shape.length !== 3) throw new Error(`${IM2COL3D_KERNEL}: x must be float32 [N, V, Cin], got ${x.dtype} [${x.shape}]`);
  const [n, v, cin] = x.shape;
  if (v !== dims[0] * dims[1] * dims[2]) throw new Error(`${IM2COL3D_KERNEL}: ${v} voxels per volume, dims [${dims}] give ${dims[0] * dims[1] * dims[2]}`);
  if (!Number.isInteger(k) || k < 1 || k % 2 !== 1) throw new Error(`${IM2COL3D_KERNEL}: kernel size k=${k} must be a positive odd integer`);
  if (!Number.isInteger(start) || !Number.isInteger(rows) || start < 0 || rows < 1 || start + rows > n * v) {
    throw new Error(`${IM2COL3D_KERNEL}: rows [${start}, ${start + rows}) are not within the ${n * v} voxel rows`);
  }
  return [cin, k * k * k * cin];
}

interface Args<B> {
  inputs: { x: TensorInfo };
  backend: B;
  attrs: Im2col3dAttrs;
}

function im2colCpu({ inputs, backend, attrs }: Args<MathBackendCPU>): TensorInfo {
  const [cin, K] = check(inputs.x, attrs);
  const x = backend.data.get(inputs.x.dataId).values as Float32Array;
  const col = im2col3dCPU(x, attrs.dims, cin, attrs.k, attrs.start, attrs.rows, new Float32Array(attrs.rows * K));
  return backend.makeTensorInfo([attrs.rows, K], 'float32', col);
}

function im2colWasm({ inputs, backend, attrs }: Args<BackendWasm>): TensorInfo {
  const [cin, K] = check(inputs.x, attrs);
  const out = backend.makeOutput([attrs.rows, K], 'float32');
  // Views after makeOutput: its malloc may grow the heap and detach older views.
  const x = backend.typedArrayFromHeap(inputs.x) as Float32Array;
  im2col3dCPU(x, attrs.dims, cin, attrs.k, attrs.start, attrs.rows, backend.typedArrayFromHeap(out) as Float32Array);
  return out;
}

const configs: KernelConfig[] = [
  { kernelName: IM2COL3D_KERNEL, backendName: 'cpu', kernelFunc: im2colCpu as unknown as KernelFunc },
  { kernelName: IM2COL3D_KERNEL, backendName: 'wasm', kernelFunc: im2colWasm as unknown as KernelFunc },
];

export function registerIm2col3d(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}

/** Rows [start, start + rows) of im2col(x): [rows, k³·Cin] (cpu and wasm only). */
export function im2col3d(x: tf.Tensor3D, dims: [number, number, number], k: number, start: number, rows: number): tf.Tensor2D {
  registerIm2col3d();
  const attrs: Im2col3dAttrs = { dims: [...dims], k, start, rows };
  return tf.engine().runKernel(IM2COL3D_KERNEL, { x }, attrs as unknown as NamedAttrMap) as tf.Tensor2D;
}

registerIm2col3d();
