// Kernels 'VocoSoftmax' and 'VocoSoftmaxGrad': attention's softmax over the last axis of scores [R, C] with the
// 1/√dh scale folded in, y = softmax(scale·x), and its gradient dx = scale · y ⊙ (dy − Σ dy ⊙ y), one pass per row
// each; the halves of one op. They replace, on 'cpu' (the CPU twin) and 'wasm' (WebAssembly SIMD on tfjs's heap; the
// twin where SIMD is missing or C % 4 ≠ 0), the scale multiply on q and the 6 forward + 4 backward kernels of
// src/model/layers/attention.ts's softmaxRows. WebGPU/WebGL keep that tf-op path.
// The shift is the row MAX (exact softmax; the tf-op path shifts by the row mean and caps at 80 to stay free of
// reductions, which equals this unless a score exceeds its row mean by more than 80/scale).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { assembleModule, localIndex, op, simdExp, type ValType, type WasmFunction } from './wasmAsm';
import { simdSupport, wasmBackendMemory } from './wasmSimdBatchMatMul';

export const SOFTMAX_KERNEL = 'VocoSoftmax';
export const SOFTMAX_GRAD_KERNEL = 'VocoSoftmaxGrad';

// ---- CPU twin ------------------------------------------------------------------------------------------------------

/** y = softmax(scale·x) per row of x [rows, cols]; scale > 0. */
export function softmaxForwardRows(x: Float32Array, rows: number, cols: number, scale: number, y: Float32Array): void {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let mx = -Infinity;
    for (let j = 0; j < cols; j++) mx = Math.max(mx, x[o + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += y[o + j] = Math.exp(scale * x[o + j] - scale * mx);
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) y[o + j] *= inv;
  }
}

/** dx = scale · y ⊙ (dy − Σ_row dy ⊙ y). */
export function softmaxBackwardRows(dy: Float32Array, y: Float32Array, rows: number, cols: number, scale: number, dx: Float32Array): void {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = scale * y[o + j] * (dy[o + j] - dot);
  }
}

// ---- wasm SIMD (C a multiple of 4) ----------------------------------------------------------------------------------

type FwdName = 'x' | 'y' | 'R' | 'C' | 'scale' | 'j' | 'rowBytes' | 'acc' | 'sc' | 'sh' | 'z' | 'n' | 'r' | 'p';
type BwdName = 'dy' | 'y' | 'dx' | 'R' | 'C' | 'scale' | 'j' | 'rowBytes' | 'acc' | 'sc' | 'yv' | 'dyv';

const overRow = (j: number, rowBytes: number, body: number[][]) => [
  op.i32Const(0), op.set(j),
  op.loop(),
  ...body,
  op.get(j), op.i32Const(16), op.i32Add(), op.tee(j), op.get(rowBytes), op.i32LtS(), op.brIf(0),
  op.end(),
];
const lanes = (get: number[], combine: number[]) => [get, op.f32x4ExtractLane(0), get, op.f32x4ExtractLane(1), combine, get, op.f32x4ExtractLane(2), combine, get, op.f32x4ExtractLane(3), combine];

/** smFwd(x, y, R, C, scale). */
function forwardFunction(): WasmFunction {
  const params = ['x', 'y', 'R', 'C', 'scale'] as const;
  const extra: (readonly [FwdName, ValType])[] = [['j', 'i32'], ['rowBytes', 'i32'], ...(['acc', 'sc', 'sh', 'z', 'n', 'r', 'p'] as const).map((n) => [n, 'v128'] as const)];
  const L = localIndex<FwdName>(params, extra);
  const g = (n: FwdName) => op.get(L[n]);
  const s = (n: FwdName) => op.set(L[n]);
  const at = (ptr: FwdName) => [g(ptr), g('j'), op.i32Add()];
  const body: number[][] = [
    g('C'), op.i32Const(2), op.i32Shl(), s('rowBytes'),
    g('scale'), op.f32x4Splat(), s('sc'),
    op.block(),
    g('R'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    // row max → shift = scale·max
    g('x'), op.v128Load(), s('acc'),
    ...overRow(L.j, L.rowBytes, [g('acc'), ...at('x'), op.v128Load(), op.f32x4Max(), s('acc')]),
    ...lanes(g('acc'), op.f32Max()), g('scale'), op.f32Mul(), op.f32x4Splat(), s('sh'),
    // e = exp(scale·x − shift) into y, summed
    op.f32Const(0), op.f32x4Splat(), s('acc'),
    ...overRow(L.j, L.rowBytes, [
      ...at('x'), op.v128Load(), g('sc'), op.f32x4Mul(), g('sh'), op.f32x4Sub(), s('z'),
      ...simdExp(L), s('z'),
      ...at('y'), g('z'), op.v128Store(),
      g('acc'), g('z'), op.f32x4Add(), s('acc'),
    ]),
    op.f32Const(1), ...lanes(g('acc'), op.f32Add()), op.f32Div(), op.f32x4Splat(), s('acc'),
    ...overRow(L.j, L.rowBytes, [...at('y'), ...at('y'), op.v128Load(), g('acc'), op.f32x4Mul(), op.v128Store()]),
    g('x'), g('rowBytes'), op.i32Add(), s('x'),
    g('y'), g('rowBytes'), op.i32Add(), s('y'),
    g('R'), op.i32Const(1), op.i32Sub(), op.tee(L.R), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return { name: 'smFwd', params: ['i32', 'i32', 'i32', 'i32', 'f32'], locals: extra.map(([, t]) => t), body };
}

/** smBwd(dy, y, dx, R, C, scale). */
function backwardFunction(): WasmFunction {
  const params = ['dy', 'y', 'dx', 'R', 'C', 'scale'] as const;
  const extra: (readonly [BwdName, ValType])[] = [['j', 'i32'], ['rowBytes', 'i32'], ...(['acc', 'sc', 'yv', 'dyv'] as const).map((n) => [n, 'v128'] as const)];
  const L = localIndex<BwdName>(params, extra);
  const g = (n: BwdName) => op.get(L[n]);
  const s = (n: BwdName) => op.set(L[n]);
  const at = (ptr: BwdName) => [g(ptr), g('j'), op.i32Add()];
  const body: number[][] = [
    g('C'), op.i32Const(2), op.i32Shl(), s('rowBytes'),
    g('scale'), op.f32x4Splat(), s('sc'),
    op.block(),
    g('R'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    op.f32Const(0), op.f32x4Splat(), s('acc'),
    ...overRow(L.j, L.rowBytes, [g('acc'), ...at('dy'), op.v128Load(), ...at('y'), op.v128Load(), op.f32x4Mul(), op.f32x4Add(), s('acc')]),
    ...lanes(g('acc'), op.f32Add()), op.f32x4Splat(), s('acc'),
    ...overRow(L.j, L.rowBytes, [
      ...at('dx'),
      g('sc'), ...at('y'), op.v128Load(), op.f32x4Mul(), ...at('dy'), op.v128Load(), g('acc'), op.f32x4Sub(), op.f32x4Mul(),
      op.v128Store(),
    ]),
    g('dy'), g('rowBytes'), op.i32Add(), s('dy'),
    g('y'), g('rowBytes'), op.i32Add(), s('y'),
    g('dx'), g('rowBytes'), op.i32Add(), s('dx'),
    g('R'), op.i32Const(1), op.i32Sub(), op.tee(L.R), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return { name: 'smBwd', params: ['i32', 'i32', 'i32', 'i32', 'i32', 'f32'], locals: extra.map(([, t]) => t), body };
}

type Fn = (...args: number[]) => void;
export interface SoftmaxSimd {
  smFwd: Fn;
  smBwd: Fn;
}

export function softmaxModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule({ module: 'env', field: 'memory', minPages: 0, maxPages: shared ? 65536 : undefined, shared }, [forwardFunction(), backwardFunction()]);
}

const modules = new WeakMap<WebAssembly.Memory, SoftmaxSimd>();

/** The SIMD functions for this memory, or null where the engine has no WebAssembly SIMD. */
export function softmaxSimdFor(memory: WebAssembly.Memory): SoftmaxSimd | null {
  const hit = modules.get(memory);
  if (hit) return hit;
  if (!simdSupport().simd) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const ex = new WebAssembly.Instance(new WebAssembly.Module(softmaxModuleBytes(shared)), { env: { memory } }).exports as unknown as SoftmaxSimd;
  modules.set(memory, ex);
  return ex;
}

// ---- kernels ---------------------------------------------------------------------------------------------------------

interface Attrs {
  scale: number;
}

/** [rows, cols] of a float32 tensor whose last axis is the softmax axis. */
function rowsCols(who: string, t: TensorInfo, scale: number): [number, number] {
  if (t.dtype !== 'float32' || t.shape.length < 1) throw new Error(`${who}: float32 with at least one axis, got ${t.dtype} [${t.shape}]`);
  if (!(scale > 0)) throw new Error(`${who}: scale must be > 0, got ${scale}`);
  const cols = t.shape[t.shape.length - 1];
  return [cols ? tf.util.sizeFromShape(t.shape) / cols : 0, cols];
}

function forwardCpu({ inputs, backend, attrs }: { inputs: { x: TensorInfo }; backend: MathBackendCPU; attrs: Attrs }): TensorInfo {
  const [rows, cols] = rowsCols(SOFTMAX_KERNEL, inputs.x, attrs.scale);
  const y = new Float32Array(rows * cols);
  softmaxForwardRows(backend.data.get(inputs.x.dataId).values as Float32Array, rows, cols, attrs.scale, y);
  return backend.makeTensorInfo(inputs.x.shape, 'float32', y);
}

function backwardCpu({ inputs, backend, attrs }: { inputs: { dy: TensorInfo; y: TensorInfo }; backend: MathBackendCPU; attrs: Attrs }): TensorInfo {
  const [rows, cols] = rowsCols(SOFTMAX_GRAD_KERNEL, inputs.y, attrs.scale);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  const dx = new Float32Array(rows * cols);
  softmaxBackwardRows(read(inputs.dy), read(inputs.y), rows, cols, attrs.scale, dx);
  return backend.makeTensorInfo(inputs.y.shape, 'float32', dx);
}

/** SIMD runs (wasm) since the page started: tests check that the SIMD path, not the twin, ran. */
export const softmaxSimdRuns = { forward: 0, backward: 0 };

function forwardWasm({ inputs, backend, attrs }: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const [rows, cols] = rowsCols(SOFTMAX_KERNEL, inputs.x, attrs.scale);
  const out = backend.makeOutput(inputs.x.shape, 'float32');
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const memory = wasmBackendMemory(backend);
  const simd = memory && cols % 4 === 0 && rows > 0 && cols > 0 ? softmaxSimdFor(memory) : null;
  if (simd) {
    simd.smFwd(view(inputs.x).byteOffset, view(out).byteOffset, rows, cols, attrs.scale);
    softmaxSimdRuns.forward++;
  } else softmaxForwardRows(view(inputs.x), rows, cols, attrs.scale, view(out));
  return out;
}

function backwardWasm({ inputs, backend, attrs }: { inputs: { dy: TensorInfo; y: TensorInfo }; backend: BackendWasm; attrs: Attrs }): TensorInfo {
  const [rows, cols] = rowsCols(SOFTMAX_GRAD_KERNEL, inputs.y, attrs.scale);
  const out = backend.makeOutput(inputs.y.shape, 'float32');
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const memory = wasmBackendMemory(backend);
  const simd = memory && cols % 4 === 0 && rows > 0 && cols > 0 ? softmaxSimdFor(memory) : null;
  if (simd) {
    simd.smBwd(view(inputs.dy).byteOffset, view(inputs.y).byteOffset, view(out).byteOffset, rows, cols, attrs.scale);
    softmaxSimdRuns.backward++;
  } else softmaxBackwardRows(view(inputs.dy), view(inputs.y), rows, cols, attrs.scale, view(out));
  return out;
}

// ---- registration and the ops ------------------------------------------------------------------------------------

const configs: KernelConfig[] = [
  { kernelName: SOFTMAX_KERNEL, backendName: 'cpu', kernelFunc: forwardCpu as unknown as KernelFunc },
  { kernelName: SOFTMAX_GRAD_KERNEL, backendName: 'cpu', kernelFunc: backwardCpu as unknown as KernelFunc },
  { kernelName: SOFTMAX_KERNEL, backendName: 'wasm', kernelFunc: forwardWasm as unknown as KernelFunc },
  { kernelName: SOFTMAX_GRAD_KERNEL, backendName: 'wasm', kernelFunc: backwardWasm as unknown as KernelFunc },
];

export function registerSoftmaxKernels(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}
registerSoftmaxKernels();

let enabled = true;
/** Benchmarks and parity tests: attention's softmax by tf ops (false) instead of the fused kernels (true, default). */
export function useFusedSoftmax(enable: boolean): void {
  enabled = enable;
}

/** Whether the active backend has both kernels (and they are switched on). */
export function fusedSoftmaxAvailable(): boolean {
  const b = tf.getBackend();
  return enabled && !!tf.getKernel(SOFTMAX_KERNEL, b) && !!tf.getKernel(SOFTMAX_GRAD_KERNEL, b);
}

export function softmaxForwardKernel(x: tf.Tensor, scale: number): tf.Tensor {
  return tf.engine().runKernel(SOFTMAX_KERNEL, { x }, { scale } as unknown as NamedAttrMap) as tf.Tensor;
}

export function softmaxBackwardKernel(dy: tf.Tensor, y: tf.Tensor, scale: number): tf.Tensor {
  return tf.engine().runKernel(SOFTMAX_GRAD_KERNEL, { dy, y }, { scale } as unknown as NamedAttrMap) as tf.Tensor;
}
