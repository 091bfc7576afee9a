// Kernels 'VocoGelu' and 'VocoGeluGrad': the MLP's GELU (tanh form, torch.nn.GELU(approximate='tanh')) forward and
// backward in one pass each, instead of 7 forward and 9 backward elementwise tfjs kernels over the [M, hidden]
// activations (the widest tensors of a step). The two kernels are the halves of one op; src/model/layers/mlp.ts
// calls them where registered ('cpu': the CPU twin; 'wasm': WebAssembly SIMD on tfjs's heap, the twin for the
// n % 4 tail and where SIMD is missing). WebGPU/WebGL keep the tf-op path.
// Same formula as the tf-op path, written as x·σ(u) because ½(1 + tanh z) = σ(2z):
//   u = 2c·(x + a·x³), c = √(2/π), a = 0.044715;   s = σ(u) = 1/(1 + e^−u);   y = x·s
//   dy/dx = s + x·s·(1 − s)·2c·(1 + 3a·x²)
// Outputs: forward [y, s] (s is kept for the backward); backward [dx].
// The SIMD exp is wasmAsm.ts's simdExp.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { assembleModule, localIndex, op, simdExp, type ValType, type WasmFunction } from './wasmAsm';
import { simdSupport, wasmBackendMemory } from './wasmSimdBatchMatMul';

export const GELU_KERNEL = 'VocoGelu';
export const GELU_GRAD_KERNEL = 'VocoGeluGrad';

export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

// ---- CPU twin ------------------------------------------------------------------------------------------------------

/** y = x·σ(u) and s = σ(u) for every value of x. */
export function geluForward(x: Float32Array, y: Float32Array, s: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const sig = 1 / (1 + Math.exp(-2 * GELU_C * (v + GELU_A * v * v * v)));
    s[i] = sig;
    y[i] = v * sig;
  }
}

/** dx = dy · (s + x·s·(1 − s)·2c·(1 + 3a·x²)), s from the forward. */
export function geluBackward(dy: Float32Array, x: Float32Array, s: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const sig = s[i];
    dx[i] = dy[i] * (sig + v * sig * (1 - sig) * 2 * GELU_C * (1 + 3 * GELU_A * v * v));
  }
}

// ---- wasm SIMD ---------------------------------------------------------------------------------------------------

type FwdName = 'x' | 'y' | 's' | 'end' | 'i' | 'xv' | 'z' | 'n' | 'r' | 'p';
type BwdName = 'dy' | 'x' | 's' | 'dx' | 'end' | 'i' | 'xv' | 'sv';

const splat = (v: number) => [op.f32Const(v), op.f32x4Splat()];

/** geluFwd(x, y, s, bytes): byte offsets, `bytes` a multiple of 16. */
function forwardFunction(): WasmFunction {
  const params = ['x', 'y', 's', 'end'] as const;
  const extra: (readonly [FwdName, ValType])[] = [['i', 'i32'], ['xv', 'v128'], ['z', 'v128'], ['n', 'v128'], ['r', 'v128'], ['p', 'v128']];
  const L = localIndex<FwdName>(params, extra);
  const g = (n: FwdName) => op.get(L[n]);
  const set = (n: FwdName) => op.set(L[n]);
  const at = (ptr: FwdName) => [g(ptr), g('i'), op.i32Add()];
  const body: number[][] = [
    op.i32Const(0), set('i'),
    op.block(),
    g('end'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    ...at('x'), op.v128Load(), set('xv'),
    // z = −u = xv · (−2c − 2c·a·xv²)
    g('xv'), g('xv'), g('xv'), op.f32x4Mul(), ...splat(-2 * GELU_C * GELU_A), op.f32x4Mul(), ...splat(-2 * GELU_C), op.f32x4Add(), op.f32x4Mul(), set('z'),
    // s = 1 / (1 + e^z), kept in z
    ...splat(1), ...splat(1), ...simdExp(L), op.f32x4Add(), op.f32x4Div(), set('z'),
    ...at('s'), g('z'), op.v128Store(),
    ...at('y'), g('xv'), g('z'), op.f32x4Mul(), op.v128Store(),
    g('i'), op.i32Const(16), op.i32Add(), op.tee(L.i), g('end'), op.i32LtS(), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return { name: 'geluFwd', params: params.map(() => 'i32'), locals: extra.map(([, t]) => t), body };
}

/** geluBwd(dy, x, s, dx, bytes). */
function backwardFunction(): WasmFunction {
  const params = ['dy', 'x', 's', 'dx', 'end'] as const;
  const extra: (readonly [BwdName, ValType])[] = [['i', 'i32'], ['xv', 'v128'], ['sv', 'v128']];
  const L = localIndex<BwdName>(params, extra);
  const g = (n: BwdName) => op.get(L[n]);
  const set = (n: BwdName) => op.set(L[n]);
  const at = (ptr: BwdName) => [g(ptr), g('i'), op.i32Add()];
  const body: number[][] = [
    op.i32Const(0), set('i'),
    op.block(),
    g('end'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    ...at('x'), op.v128Load(), set('xv'),
    ...at('s'), op.v128Load(), set('sv'),
    ...at('dx'),
    ...at('dy'), op.v128Load(),
    // s + x·s·(1 − s)·(2c + 6c·a·x²)
    g('sv'),
    g('xv'), g('sv'), op.f32x4Mul(), ...splat(1), g('sv'), op.f32x4Sub(), op.f32x4Mul(),
    g('xv'), g('xv'), op.f32x4Mul(), ...splat(6 * GELU_C * GELU_A), op.f32x4Mul(), ...splat(2 * GELU_C), op.f32x4Add(),
    op.f32x4Mul(), op.f32x4Add(),
    op.f32x4Mul(), op.v128Store(),
    g('i'), op.i32Const(16), op.i32Add(), op.tee(L.i), g('end'), op.i32LtS(), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return { name: 'geluBwd', params: params.map(() => 'i32'), locals: extra.map(([, t]) => t), body };
}

type Fn = (...args: number[]) => void;
export interface GeluSimd {
  geluFwd: Fn;
  geluBwd: Fn;
}

export function geluModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule({ module: 'env', field: 'memory', minPages: 0, maxPages: shared ? 65536 : undefined, shared }, [forwardFunction(), backwardFunction()]);
}

const modules = new WeakMap<WebAssembly.Memory, GeluSimd>();

/** The SIMD functions for this memory, or null where the engine has no WebAssembly SIMD. */
export function geluSimdFor(memory: WebAssembly.Memory): GeluSimd | null {
  const hit = modules.get(memory);
  if (hit) return hit;
  if (!simdSupport().simd) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const ex = new WebAssembly.Instance(new WebAssembly.Module(geluModuleBytes(shared)), { env: { memory } }).exports as unknown as GeluSimd;
  modules.set(memory, ex);
  return ex;
}

// ---- kernels ---------------------------------------------------------------------------------------------------------

function checkFloat(who: string, ...ts: TensorInfo[]): number {
  const size = tf.util.sizeFromShape(ts[0].shape);
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new Error(`${who}: float32 only, got ${t.dtype}`);
    if (tf.util.sizeFromShape(t.shape) !== size) throw new Error(`${who}: shapes [${ts[0].shape}] and [${t.shape}] differ in size`);
  }
  return size;
}

function forwardCpu({ inputs, backend }: { inputs: { x: TensorInfo }; backend: MathBackendCPU }): TensorInfo[] {
  const size = checkFloat(GELU_KERNEL, inputs.x);
  const y = new Float32Array(size);
  const s = new Float32Array(size);
  geluForward(backend.data.get(inputs.x.dataId).values as Float32Array, y, s);
  return [y, s].map((v) => backend.makeTensorInfo(inputs.x.shape, 'float32', v));
}

function backwardCpu({ inputs, backend }: { inputs: { dy: TensorInfo; x: TensorInfo; s: TensorInfo }; backend: MathBackendCPU }): TensorInfo {
  const size = checkFloat(GELU_GRAD_KERNEL, inputs.x, inputs.dy, inputs.s);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  const dx = new Float32Array(size);
  geluBackward(read(inputs.dy), read(inputs.x), read(inputs.s), dx);
  return backend.makeTensorInfo(inputs.x.shape, 'float32', dx);
}

/** SIMD runs (wasm) since the page started: tests check that the SIMD path, not the twin, ran. */
export const geluSimdRuns = { forward: 0, backward: 0 };

function forwardWasm({ inputs, backend }: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo[] {
  const size = checkFloat(GELU_KERNEL, inputs.x);
  const outs = [backend.makeOutput(inputs.x.shape, 'float32'), backend.makeOutput(inputs.x.shape, 'float32')];
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const memory = wasmBackendMemory(backend);
  const simd = memory ? geluSimdFor(memory) : null;
  const done = simd ? size & ~3 : 0;
  if (simd && done > 0) {
    simd.geluFwd(view(inputs.x).byteOffset, view(outs[0]).byteOffset, view(outs[1]).byteOffset, 4 * done);
    geluSimdRuns.forward++;
  }
  if (done < size) geluForward(view(inputs.x).subarray(done), view(outs[0]).subarray(done), view(outs[1]).subarray(done));
  return outs;
}

function backwardWasm({ inputs, backend }: { inputs: { dy: TensorInfo; x: TensorInfo; s: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const size = checkFloat(GELU_GRAD_KERNEL, inputs.x, inputs.dy, inputs.s);
  const out = backend.makeOutput(inputs.x.shape, 'float32');
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const memory = wasmBackendMemory(backend);
  const simd = memory ? geluSimdFor(memory) : null;
  const done = simd ? size & ~3 : 0;
  if (simd && done > 0) {
    simd.geluBwd(view(inputs.dy).byteOffset, view(inputs.x).byteOffset, view(inputs.s).byteOffset, view(out).byteOffset, 4 * done);
    geluSimdRuns.backward++;
  }
  if (done < size) geluBackward(view(inputs.dy).subarray(done), view(inputs.x).subarray(done), view(inputs.s).subarray(done), view(out).subarray(done));
  return out;
}

// ---- registration and the ops ------------------------------------------------------------------------------------

const configs: KernelConfig[] = [
  { kernelName: GELU_KERNEL, backendName: 'cpu', kernelFunc: forwardCpu as unknown as KernelFunc },
  { kernelName: GELU_GRAD_KERNEL, backendName: 'cpu', kernelFunc: backwardCpu as unknown as KernelFunc },
  { kernelName: GELU_KERNEL, backendName: 'wasm', kernelFunc: forwardWasm as unknown as KernelFunc },
  { kernelName: GELU_GRAD_KERNEL, backendName: 'wasm', kernelFunc: backwardWasm as unknown as KernelFunc },
];

export function registerGeluKernels(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}
registerGeluKernels();

let enabled = true;
/** Benchmarks and parity tests: GELU by tf ops (false) instead of the fused kernels (true, default). */
export function useFusedGelu(enable: boolean): void {
  enabled = enable;
}

/** Whether the active backend has both kernels (and they are switched on). */
export function fusedGeluAvailable(): boolean {
  const b = tf.getBackend();
  return enabled && !!tf.getKernel(GELU_KERNEL, b) && !!tf.getKernel(GELU_GRAD_KERNEL, b);
}

/** [y, s]: GELU(x) and σ(u), the factor the backward needs. */
export function geluForwardKernel(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(GELU_KERNEL, { x }, {}) as unknown as [tf.Tensor, tf.Tensor];
}

/** dL/dx from dL/dy, x and s = σ(u). */
export function geluBackwardKernel(dy: tf.Tensor, x: tf.Tensor, s: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(GELU_GRAD_KERNEL, { dy, x, s }, {}) as tf.Tensor;
}
