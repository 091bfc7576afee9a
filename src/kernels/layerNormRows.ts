// Kernels 'VocoLayerNorm' and 'VocoLayerNormGrad': LayerNorm over the last axis of token rows [M, D] (and its
// gradient) in one pass per row, instead of the ~9 forward and ~12 backward elementwise tfjs kernels (each a pass
// over memory) plus the matmul-shaped row means that src/model/layers/layerNorm.ts writes with tf ops. The two
// kernels are the forward and backward halves of one op; the layer's customGrad calls them where they are
// registered ('cpu': the CPU twin; 'wasm': WebAssembly SIMD straight on tfjs's heap, the twin where SIMD is
// missing or D % 4 ≠ 0). WebGPU/WebGL keep the tf-op path (reductions as matmuls, see reductions.ts).
// Same arithmetic as the tf-op path (torch.nn.LayerNorm, biased variance, two-pass):
//   forward   x̂ = (x − mean) · rstd, rstd = 1/√(var + eps);  y = x̂·γ + β (affine) or y = x̂
//   backward  g = dy·γ (or dy);  dx = rstd · (g − mean(g) − x̂ · mean(g·x̂));  dγ = Σ_rows dy·x̂;  dβ = Σ_rows dy
// Outputs: forward [y, x̂, rstd [M, 1]] (affine) or [x̂, rstd]; backward [dx, dγ, dβ] (affine) or [dx].
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { assembleModule, localIndex, op, type ValType, type WasmFunction } from './wasmAsm';
import { simdSupport, wasmBackendMemory } from './wasmSimdBatchMatMul';

export const LAYER_NORM_KERNEL = 'VocoLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'VocoLayerNormGrad';

export interface LayerNormAttrs {
  eps: number;
  affine: boolean;
}

// ---- CPU twin ------------------------------------------------------------------------------------------------------

/** Forward over rows of x [m, d]: writes x̂, rstd and (affine) y = x̂·γ + β. Float64 sums, float32 stores. */
export function layerNormForwardRows(
  x: Float32Array, m: number, d: number, eps: number,
  xhat: Float32Array, rstd: Float32Array,
  affine?: { gamma: Float32Array; beta: Float32Array; y: Float32Array },
): void {
  for (let i = 0; i < m; i++) {
    const o = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[o + j];
    const mean = s / d;
    let s2 = 0;
    for (let j = 0; j < d; j++) {
      const c = x[o + j] - mean;
      s2 += c * c;
    }
    const r = 1 / Math.sqrt(s2 / d + eps);
    rstd[i] = r;
    for (let j = 0; j < d; j++) {
      const h = (xhat[o + j] = (x[o + j] - mean) * r);
      if (affine) affine.y[o + j] = h * affine.gamma[j] + affine.beta[j];
    }
  }
}

/** Backward over rows: writes dx and (affine) dγ, dβ (overwritten, not accumulated into). */
export function layerNormBackwardRows(
  dy: Float32Array, xhat: Float32Array, rstd: Float32Array, m: number, d: number,
  dx: Float32Array,
  affine?: { gamma: Float32Array; dgamma: Float32Array; dbeta: Float32Array },
): void {
  const dg = affine ? new Float64Array(d) : null;
  const db = affine ? new Float64Array(d) : null;
  for (let i = 0; i < m; i++) {
    const o = i * d;
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = affine ? dy[o + j] * affine.gamma[j] : dy[o + j];
      sg += g;
      sgx += g * xhat[o + j];
      if (dg && db) {
        dg[j] += dy[o + j] * xhat[o + j];
        db[j] += dy[o + j];
      }
    }
    const mg = sg / d;
    const mgx = sgx / d;
    for (let j = 0; j < d; j++) {
      const g = affine ? dy[o + j] * affine.gamma[j] : dy[o + j];
      dx[o + j] = rstd[i] * (g - mg - xhat[o + j] * mgx);
    }
  }
  if (affine && dg && db) {
    affine.dgamma.set(dg);
    affine.dbeta.set(db);
  }
}

// ---- wasm SIMD (4 values of a row per instruction; D a multiple of 4) ----------------------------------------------

type FwdName = 'x' | 'gm' | 'bt' | 'y' | 'xh' | 'rs' | 'M' | 'D' | 'invD' | 'eps' | 'j' | 'rowBytes' | 's' | 'mv' | 'rv' | 't';
type BwdName = 'dy' | 'xh' | 'rs' | 'gm' | 'dx' | 'dg' | 'db' | 'M' | 'D' | 'invD' | 'j' | 'rowBytes' | 'sg' | 'sgx' | 'dyv' | 'xv' | 'gv' | 'rv' | 'mg' | 'mgx';

/** Horizontal sum of a v128 local (pushes one f32). */
const hsum = (get: number[]) => [get, op.f32x4ExtractLane(0), get, op.f32x4ExtractLane(1), op.f32Add(), get, op.f32x4ExtractLane(2), op.f32Add(), get, op.f32x4ExtractLane(3), op.f32Add()];

/** `body` for j = 0, 16, … < rowBytes (byte offset within the row; rowBytes ≥ 16). */
const overRow = (jLocal: number, rowBytesLocal: number, body: number[][]) => [
  op.i32Const(0), op.set(jLocal),
  op.loop(),
  ...body,
  op.get(jLocal), op.i32Const(16), op.i32Add(), op.tee(jLocal), op.get(rowBytesLocal), op.i32LtS(), op.brIf(0),
  op.end(),
];

/** lnFwd(x, γ, β, y, x̂, rstd, M, D, 1/D, eps): pointers are byte offsets; γ, β, y unused when not affine. */
function forwardFunction(affine: boolean): WasmFunction {
  const params = ['x', 'gm', 'bt', 'y', 'xh', 'rs', 'M', 'D', 'invD', 'eps'] as const;
  const extra: (readonly [FwdName, ValType])[] = [['j', 'i32'], ['rowBytes', 'i32'], ['s', 'v128'], ['mv', 'v128'], ['rv', 'v128'], ['t', 'v128']];
  const L = localIndex<FwdName>(params, extra);
  const g = (n: FwdName) => op.get(L[n]);
  const s = (n: FwdName) => op.set(L[n]);
  const at = (ptr: FwdName) => [g(ptr), g('j'), op.i32Add()];
  const bump = (ptr: FwdName, by: number[]) => [g(ptr), by, op.i32Add(), s(ptr)];
  const body: number[][] = [
    g('D'), op.i32Const(2), op.i32Shl(), s('rowBytes'),
    op.block(),
    g('M'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    // mean
    op.f32Const(0), op.f32x4Splat(), s('s'),
    ...overRow(L.j, L.rowBytes, [g('s'), ...at('x'), op.v128Load(), op.f32x4Add(), s('s')]),
    ...hsum(g('s')), g('invD'), op.f32Mul(), op.f32x4Splat(), s('mv'),
    // variance of the centred row → rstd
    op.f32Const(0), op.f32x4Splat(), s('s'),
    ...overRow(L.j, L.rowBytes, [...at('x'), op.v128Load(), g('mv'), op.f32x4Sub(), s('t'), g('s'), g('t'), g('t'), op.f32x4Mul(), op.f32x4Add(), s('s')]),
    g('rs'),
    op.f32Const(1), ...hsum(g('s')), g('invD'), op.f32Mul(), g('eps'), op.f32Add(), op.f32Sqrt(), op.f32Div(),
    op.f32x4Splat(), op.tee(L.rv), op.f32x4ExtractLane(0), op.f32Store(),
    // x̂ (and y)
    ...overRow(L.j, L.rowBytes, [
      ...at('x'), op.v128Load(), g('mv'), op.f32x4Sub(), g('rv'), op.f32x4Mul(), s('t'),
      ...at('xh'), g('t'), op.v128Store(),
      ...(affine ? [...at('y'), g('t'), ...at('gm'), op.v128Load(), op.f32x4Mul(), ...at('bt'), op.v128Load(), op.f32x4Add(), op.v128Store()] : []),
    ]),
    ...bump('x', g('rowBytes')), ...bump('xh', g('rowBytes')), ...(affine ? bump('y', g('rowBytes')) : []), ...bump('rs', op.i32Const(4)),
    g('M'), op.i32Const(1), op.i32Sub(), op.tee(L.M), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return {
    name: affine ? 'lnFwdAffine' : 'lnFwd',
    params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32'],
    locals: extra.map(([, t]) => t),
    body,
  };
}

/** lnBwd(dy, x̂, rstd, γ, dx, dγ, dβ, M, D, 1/D): dγ, dβ must hold zeros (accumulated into); unused when not affine. */
function backwardFunction(affine: boolean): WasmFunction {
  const params = ['dy', 'xh', 'rs', 'gm', 'dx', 'dg', 'db', 'M', 'D', 'invD'] as const;
  const extra: (readonly [BwdName, ValType])[] = [
    ['j', 'i32'], ['rowBytes', 'i32'],
    ['sg', 'v128'], ['sgx', 'v128'], ['dyv', 'v128'], ['xv', 'v128'], ['gv', 'v128'], ['rv', 'v128'], ['mg', 'v128'], ['mgx', 'v128'],
  ];
  const L = localIndex<BwdName>(params, extra);
  const g = (n: BwdName) => op.get(L[n]);
  const s = (n: BwdName) => op.set(L[n]);
  const at = (ptr: BwdName) => [g(ptr), g('j'), op.i32Add()];
  const bump = (ptr: BwdName, by: number[]) => [g(ptr), by, op.i32Add(), s(ptr)];
  // dyv, xv and gv = dy·γ (or dy) at j.
  const loadRow = [
    ...at('dy'), op.v128Load(), s('dyv'),
    ...at('xh'), op.v128Load(), s('xv'),
    ...(affine ? [g('dyv'), ...at('gm'), op.v128Load(), op.f32x4Mul(), s('gv')] : [g('dyv'), s('gv')]),
  ];
  const body: number[][] = [
    g('D'), op.i32Const(2), op.i32Shl(), s('rowBytes'),
    op.block(),
    g('M'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    op.f32Const(0), op.f32x4Splat(), s('sg'),
    op.f32Const(0), op.f32x4Splat(), s('sgx'),
    ...overRow(L.j, L.rowBytes, [
      ...loadRow,
      g('sg'), g('gv'), op.f32x4Add(), s('sg'),
      g('sgx'), g('gv'), g('xv'), op.f32x4Mul(), op.f32x4Add(), s('sgx'),
      ...(affine
        ? [
            ...at('dg'), ...at('dg'), op.v128Load(), g('dyv'), g('xv'), op.f32x4Mul(), op.f32x4Add(), op.v128Store(),
            ...at('db'), ...at('db'), op.v128Load(), g('dyv'), op.f32x4Add(), op.v128Store(),
          ]
        : []),
    ]),
    ...hsum(g('sg')), g('invD'), op.f32Mul(), op.f32x4Splat(), s('mg'),
    ...hsum(g('sgx')), g('invD'), op.f32Mul(), op.f32x4Splat(), s('mgx'),
    g('rs'), op.f32Load(), op.f32x4Splat(), s('rv'),
    ...overRow(L.j, L.rowBytes, [
      ...loadRow,
      ...at('dx'),
      g('rv'), g('gv'), g('mg'), op.f32x4Sub(), g('xv'), g('mgx'), op.f32x4Mul(), op.f32x4Sub(), op.f32x4Mul(),
      op.v128Store(),
    ]),
    ...bump('dy', g('rowBytes')), ...bump('xh', g('rowBytes')), ...bump('dx', g('rowBytes')), ...bump('rs', op.i32Const(4)),
    g('M'), op.i32Const(1), op.i32Sub(), op.tee(L.M), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return {
    name: affine ? 'lnBwdAffine' : 'lnBwd',
    params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
    locals: extra.map(([, t]) => t),
    body,
  };
}

type Fn = (...args: number[]) => void;
export interface LayerNormSimd {
  lnFwd: Fn;
  lnFwdAffine: Fn;
  lnBwd: Fn;
  lnBwdAffine: Fn;
}

export function layerNormModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule({ module: 'env', field: 'memory', minPages: 0, maxPages: shared ? 65536 : undefined, shared }, [
    forwardFunction(false), forwardFunction(true), backwardFunction(false), backwardFunction(true),
  ]);
}

const modules = new WeakMap<WebAssembly.Memory, LayerNormSimd>();

/** The SIMD functions for this memory, or null where the engine has no WebAssembly SIMD. */
export function layerNormSimdFor(memory: WebAssembly.Memory): LayerNormSimd | null {
  const hit = modules.get(memory);
  if (hit) return hit;
  if (!simdSupport().simd) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const ex = new WebAssembly.Instance(new WebAssembly.Module(layerNormModuleBytes(shared)), { env: { memory } }).exports as unknown as LayerNormSimd;
  modules.set(memory, ex);
  return ex;
}

// ---- kernels ---------------------------------------------------------------------------------------------------------

interface FwdInputs { x: TensorInfo; gamma?: TensorInfo; beta?: TensorInfo }
interface BwdInputs { dy: TensorInfo; xhat: TensorInfo; rstd: TensorInfo; gamma?: TensorInfo }

function rowsOf(x: TensorInfo, who: string): [number, number] {
  if (x.shape.length !== 2 || x.dtype !== 'float32') throw new Error(`${who}: expects float32 rows [M, D], got ${x.dtype} [${x.shape}]`);
  return [x.shape[0], x.shape[1]];
}

/** Runs on float32 views: shared by the cpu kernel and the wasm kernel's non-SIMD path. */
function forwardOnViews(view: (t: TensorInfo) => Float32Array, inputs: FwdInputs, outs: TensorInfo[], attrs: LayerNormAttrs, m: number, d: number): void {
  const [y, xh, rs] = attrs.affine ? outs : [null, outs[0], outs[1]];
  layerNormForwardRows(view(inputs.x), m, d, attrs.eps, view(xh!), view(rs!), attrs.affine ? { gamma: view(inputs.gamma!), beta: view(inputs.beta!), y: view(y!) } : undefined);
}

function backwardOnViews(view: (t: TensorInfo) => Float32Array, inputs: BwdInputs, outs: TensorInfo[], attrs: LayerNormAttrs, m: number, d: number): void {
  layerNormBackwardRows(view(inputs.dy), view(inputs.xhat), view(inputs.rstd), m, d, view(outs[0]),
    attrs.affine ? { gamma: view(inputs.gamma!), dgamma: view(outs[1]), dbeta: view(outs[2]) } : undefined);
}

function forwardCpu({ inputs, backend, attrs }: { inputs: FwdInputs; backend: MathBackendCPU; attrs: LayerNormAttrs }): TensorInfo[] {
  const [m, d] = rowsOf(inputs.x, LAYER_NORM_KERNEL);
  const values = [...(attrs.affine ? [new Float32Array(m * d)] : []), new Float32Array(m * d), new Float32Array(m)];
  const outs = values.map((v, i) => backend.makeTensorInfo(i === values.length - 1 ? [m, 1] : [m, d], 'float32', v));
  forwardOnViews((t) => backend.data.get(t.dataId).values as Float32Array, inputs, outs, attrs, m, d);
  return outs;
}

function backwardCpu({ inputs, backend, attrs }: { inputs: BwdInputs; backend: MathBackendCPU; attrs: LayerNormAttrs }): TensorInfo[] {
  const [m, d] = rowsOf(inputs.dy, LAYER_NORM_GRAD_KERNEL);
  const shapes = attrs.affine ? [[m, d], [d], [d]] : [[m, d]];
  const outs = shapes.map((s) => backend.makeTensorInfo(s, 'float32', new Float32Array(tf.util.sizeFromShape(s))));
  backwardOnViews((t) => backend.data.get(t.dataId).values as Float32Array, inputs, outs, attrs, m, d);
  return outs;
}

/** SIMD runs (wasm) since the page started: tests check that the SIMD path, not the twin, ran. */
export const layerNormSimdRuns = { forward: 0, backward: 0 };

function forwardWasm({ inputs, backend, attrs }: { inputs: FwdInputs; backend: BackendWasm; attrs: LayerNormAttrs }): TensorInfo[] {
  const [m, d] = rowsOf(inputs.x, LAYER_NORM_KERNEL);
  const outs = [...(attrs.affine ? [backend.makeOutput([m, d], 'float32')] : []), backend.makeOutput([m, d], 'float32'), backend.makeOutput([m, 1], 'float32')];
  const memory = wasmBackendMemory(backend);
  const simd = memory && d % 4 === 0 && d > 0 ? layerNormSimdFor(memory) : null;
  // Offsets are read after every allocation (a malloc may grow the heap; offsets stay valid, views do not).
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  if (!simd || m === 0) {
    forwardOnViews(view, inputs, outs, attrs, m, d);
    return outs;
  }
  const at = (t: TensorInfo | undefined) => (t ? view(t).byteOffset : 0);
  const [y, xh, rs] = attrs.affine ? outs : [undefined, outs[0], outs[1]];
  (attrs.affine ? simd.lnFwdAffine : simd.lnFwd)(at(inputs.x), at(inputs.gamma), at(inputs.beta), at(y), at(xh), at(rs), m, d, 1 / d, attrs.eps);
  layerNormSimdRuns.forward++;
  return outs;
}

function backwardWasm({ inputs, backend, attrs }: { inputs: BwdInputs; backend: BackendWasm; attrs: LayerNormAttrs }): TensorInfo[] {
  const [m, d] = rowsOf(inputs.dy, LAYER_NORM_GRAD_KERNEL);
  const outs = [backend.makeOutput([m, d], 'float32'), ...(attrs.affine ? [backend.makeOutput([d], 'float32'), backend.makeOutput([d], 'float32')] : [])];
  const memory = wasmBackendMemory(backend);
  const simd = memory && d % 4 === 0 && d > 0 ? layerNormSimdFor(memory) : null;
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  if (!simd || m === 0) {
    backwardOnViews(view, inputs, outs, attrs, m, d);
    return outs;
  }
  if (attrs.affine) {
    view(outs[1]).fill(0);
    view(outs[2]).fill(0);
  }
  const at = (t: TensorInfo | undefined) => (t ? view(t).byteOffset : 0);
  (attrs.affine ? simd.lnBwdAffine : simd.lnBwd)(at(inputs.dy), at(inputs.xhat), at(inputs.rstd), at(inputs.gamma), at(outs[0]), at(outs[1]), at(outs[2]), m, d, 1 / d);
  layerNormSimdRuns.backward++;
  return outs;
}

// ---- registration and the ops ------------------------------------------------------------------------------------

const configs: KernelConfig[] = [
  { kernelName: LAYER_NORM_KERNEL, backendName: 'cpu', kernelFunc: forwardCpu as unknown as KernelFunc },
  { kernelName: LAYER_NORM_GRAD_KERNEL, backendName: 'cpu', kernelFunc: backwardCpu as unknown as KernelFunc },
  { kernelName: LAYER_NORM_KERNEL, backendName: 'wasm', kernelFunc: forwardWasm as unknown as KernelFunc },
  { kernelName: LAYER_NORM_GRAD_KERNEL, backendName: 'wasm', kernelFunc: backwardWasm as unknown as KernelFunc },
];

export function registerLayerNormKernels(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}
registerLayerNormKernels();

let enabled = true;
/** Benchmarks and parity tests: LayerNorm by tf ops (false) instead of the fused kernels (true, default). */
export function useFusedLayerNorm(enable: boolean): void {
  enabled = enable;
}

/** Whether the active backend has both kernels (and they are switched on). */
export function fusedLayerNormAvailable(): boolean {
  const b = tf.getBackend();
  return enabled && !!tf.getKernel(LAYER_NORM_KERNEL, b) && !!tf.getKernel(LAYER_NORM_GRAD_KERNEL, b);
}

/** Forward: [y, x̂, rstd] with γ, β; [x̂, rstd] without. */
export function layerNormForwardKernel(x: tf.Tensor2D, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor[] {
  const affine = !!gamma;
  const inputs: tf.NamedTensorMap = affine ? { x, gamma: gamma!, beta: beta! } : { x };
  return tf.engine().runKernel(LAYER_NORM_KERNEL, inputs, { eps, affine } as unknown as NamedAttrMap) as tf.Tensor[];
}

/** Backward: [dx, dγ, dβ] with γ; [dx] without. */
export function layerNormBackwardKernel(dy: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor2D, gamma?: tf.Tensor): tf.Tensor[] {
  const affine = !!gamma;
  const inputs: tf.NamedTensorMap = affine ? { dy, xhat, rstd, gamma: gamma! } : { dy, xhat, rstd };
  return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, inputs, { eps: 0, affine } as unknown as NamedAttrMap) as tf.Tensor[];
}
