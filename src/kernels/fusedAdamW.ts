// Kernel 'VocoAdamW': one AdamW (amsgrad) update of one variable in a single pass over its values, instead of
// ~15 elementwise tfjs kernels (each a pass over memory and, on WebGPU, a dispatch). Same arithmetic as
// src/voco/adamw.ts wrote with tf ops (torch.optim.AdamW):
//   g' = g·coef                      (global-norm clipping factor, a scalar tensor: 1 without clipping)
//   m' = β1·m + (1 − β1)·g'
//   v' = β2·v + (1 − β2)·g'²
//   x' = max(x, v')                  (amsgrad's running max of v; x = v when not amsgrad)
//   p' = decay·p − stepSize · m' / (√(amsgrad ? x' : v') / bc2Sqrt + eps)
// Outputs [p', m', v', x'] (new tensors: the caller assigns them to its variables).
// Backends: 'cpu' and 'wasm' run the CPU twin (wasm: straight on the heap, no copies); 'webgpu' runs AdamWProgram
// (WGSL, one program per output, each recomputing the few flops it needs from the same inputs: 4 dispatches per
// variable against ~15). Other backends: not registered (the caller falls back to tf ops).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { assembleModule, localIndex, op, type ValType, type WasmFunction } from './wasmAsm';
import { simdSupport, wasmBackendMemory } from './wasmSimdBatchMatMul';

export const ADAMW_KERNEL = 'VocoAdamW';

export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  bc2Sqrt: number;
  /** 1 − lr·weightDecay. */
  decay: number;
  amsgrad: boolean;
}

/**
 * CPU twin: updates p, m, v, x IN PLACE (arrays of the same length) from g, with clip factor `coef`.
 * Float32 stores after each quantity, like the tf-op version.
 */
export function adamwUpdateInPlace(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  x: Float32Array,
  coef: number,
  h: AdamWHyper,
): void {
  const { beta1, beta2, eps, stepSize, bc2Sqrt, decay, amsgrad } = h;
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * coef;
    const mi = (m[i] = beta1 * m[i] + a1 * gi);
    const vi = (v[i] = beta2 * v[i] + a2 * gi * gi);
    let second = vi;
    if (amsgrad) {
      const xi = x[i] > vi ? x[i] : vi;
      x[i] = xi;
      second = x[i];
    }
    const denom = Math.sqrt(second) / bc2Sqrt + eps;
    p[i] = decay * p[i] - stepSize * (mi / denom);
  }
}

interface Inputs {
  p: TensorInfo;
  g: TensorInfo;
  m: TensorInfo;
  v: TensorInfo;
  x: TensorInfo;
  coef: TensorInfo;
}
interface KernelArgs<B> {
  inputs: Inputs;
  backend: B;
  attrs: AdamWHyper;
}

function checkInputs({ p, g, m, v, x, coef }: Inputs): void {
  const size = tf.util.sizeFromShape(p.shape);
  for (const [name, t] of [['g', g], ['m', m], ['v', v], ['x', x]] as const) {
    if (tf.util.sizeFromShape(t.shape) !== size) throw new Error(`${ADAMW_KERNEL}: ${name} has shape [${t.shape}], the variable [${p.shape}]`);
  }
  for (const t of [p, g, m, v, x, coef]) if (t.dtype !== 'float32') throw new Error(`${ADAMW_KERNEL}: float32 only, got ${t.dtype}`);
  if (tf.util.sizeFromShape(coef.shape) !== 1) throw new Error(`${ADAMW_KERNEL}: coef must be a scalar, got [${coef.shape}]`);
}

// ---- cpu ------------------------------------------------------------------------------------------------------

function adamwCpu({ inputs, backend, attrs }: KernelArgs<MathBackendCPU>): TensorInfo[] {
  checkInputs(inputs);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  const p = read(inputs.p).slice();
  const m = read(inputs.m).slice();
  const v = read(inputs.v).slice();
  const x = read(inputs.x).slice();
  adamwUpdateInPlace(p, read(inputs.g), m, v, x, read(inputs.coef)[0], attrs);
  return [p, m, v, x].map((values) => backend.makeTensorInfo(inputs.p.shape, 'float32', values));
}

// ---- wasm: a WebAssembly SIMD loop on the heap (4 values per step); the CPU twin where SIMD is missing ---------

const SIMD_PARAMS = ['pIn', 'gIn', 'mIn', 'vIn', 'xIn', 'pOut', 'mOut', 'vOut', 'xOut', 'n4'] as const;
const SIMD_FLOATS = ['coef', 'beta1', 'beta2', 'eps', 'stepSize', 'bc2Sqrt', 'decay'] as const;
type SimdName = (typeof SIMD_PARAMS)[number] | (typeof SIMD_FLOATS)[number] | 'i' | 'g' | 'm' | 'v' | 's' | 'cv' | 'b1' | 'a1' | 'b2' | 'a2' | 'ev' | 'sv' | 'bcv' | 'dv';

/** adamw(pointers…, n4 = number of 4-value groups, scalars…): the update for 4·n4 values, outputs separate from inputs. */
function adamwFunction(amsgrad: boolean): WasmFunction {
  const vecs = ['g', 'm', 'v', 's', 'cv', 'b1', 'a1', 'b2', 'a2', 'ev', 'sv', 'bcv', 'dv'] as const;
  const extra: (readonly [SimdName, ValType])[] = [['i', 'i32'], ...vecs.map((n) => [n, 'v128'] as const)];
  const L = localIndex<SimdName>([...SIMD_PARAMS, ...SIMD_FLOATS], extra);
  const g = (n: SimdName) => op.get(L[n]);
  const set = (n: SimdName) => op.set(L[n]);
  const splat = (from: number[][], to: SimdName) => [...from, op.f32x4Splat(), set(to)];
  const at = (ptr: SimdName) => [g(ptr), g('i'), op.i32Add()];
  const body: number[][] = [
    ...splat([g('coef')], 'cv'),
    ...splat([g('beta1')], 'b1'),
    ...splat([op.f32Const(1), g('beta1'), op.f32Sub()], 'a1'),
    ...splat([g('beta2')], 'b2'),
    ...splat([op.f32Const(1), g('beta2'), op.f32Sub()], 'a2'),
    ...splat([g('eps')], 'ev'),
    ...splat([g('stepSize')], 'sv'),
    ...splat([g('bc2Sqrt')], 'bcv'),
    ...splat([g('decay')], 'dv'),
    // i = byte offset of the current group; n4 becomes the end offset.
    g('n4'), op.i32Const(4), op.i32Shl(), set('n4'),
    op.i32Const(0), set('i'),
    op.block(),
    g('n4'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    ...at('gIn'), op.v128Load(), g('cv'), op.f32x4Mul(), set('g'),
    // m' = β1·m + (1 − β1)·g
    ...at('mIn'), op.v128Load(), g('b1'), op.f32x4Mul(), g('a1'), g('g'), op.f32x4Mul(), op.f32x4Add(), set('m'),
    ...at('mOut'), g('m'), op.v128Store(),
    // v' = β2·v + (1 − β2)·g·g
    ...at('vIn'), op.v128Load(), g('b2'), op.f32x4Mul(), g('a2'), g('g'), op.f32x4Mul(), g('g'), op.f32x4Mul(), op.f32x4Add(), set('v'),
    ...at('vOut'), g('v'), op.v128Store(),
    // second moment used: max(x, v') with amsgrad (stored as x'), else v'
    ...(amsgrad ? [...at('xIn'), op.v128Load(), g('v'), op.f32x4Max(), set('s')] : [g('v'), set('s')]),
    ...at('xOut'), g('s'), op.v128Store(),
    // p' = decay·p − stepSize·(m' / (√s / bc2Sqrt + eps))
    ...at('pOut'),
    ...at('pIn'), op.v128Load(), g('dv'), op.f32x4Mul(),
    g('sv'), g('m'), g('s'), op.f32x4Sqrt(), g('bcv'), op.f32x4Div(), g('ev'), op.f32x4Add(), op.f32x4Div(), op.f32x4Mul(),
    op.f32x4Sub(), op.v128Store(),
    g('i'), op.i32Const(16), op.i32Add(), op.tee(L.i), g('n4'), op.i32LtS(), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return {
    name: amsgrad ? 'adamwAmsgrad' : 'adamw',
    params: [...SIMD_PARAMS.map(() => 'i32' as const), ...SIMD_FLOATS.map(() => 'f32' as const)],
    locals: extra.map(([, t]) => t),
    body,
  };
}

type SimdAdamW = (...args: number[]) => void;
const simdModules = new WeakMap<WebAssembly.Memory, { plain: SimdAdamW; amsgrad: SimdAdamW }>();

/** The SIMD update functions for this memory, or null where the engine has no WebAssembly SIMD. */
export function simdAdamWFor(memory: WebAssembly.Memory): { plain: SimdAdamW; amsgrad: SimdAdamW } | null {
  const hit = simdModules.get(memory);
  if (hit) return hit;
  if (!simdSupport().simd) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const bytes = assembleModule({ module: 'env', field: 'memory', minPages: 0, maxPages: shared ? 65536 : undefined, shared }, [adamwFunction(false), adamwFunction(true)]);
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const fns = { plain: ex.adamw as SimdAdamW, amsgrad: ex.adamwAmsgrad as SimdAdamW };
  simdModules.set(memory, fns);
  return fns;
}

function adamwWasm({ inputs, backend, attrs }: KernelArgs<BackendWasm>): TensorInfo[] {
  checkInputs(inputs);
  const outs = [0, 1, 2, 3].map(() => backend.makeOutput(inputs.p.shape, 'float32'));
  // Views after every makeOutput (a malloc may grow the heap and detach older views).
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const coef = view(inputs.coef)[0];
  const size = tf.util.sizeFromShape(inputs.p.shape);
  const memory = wasmBackendMemory(backend);
  const simd = memory ? simdAdamWFor(memory) : null;
  const ins = [inputs.p, inputs.g, inputs.m, inputs.v, inputs.x].map(view);
  const [p, m, v, x] = outs.map(view);
  let done = 0;
  if (simd) {
    const groups = size >> 2;
    const offset = (a: Float32Array) => a.byteOffset;
    (attrs.amsgrad ? simd.amsgrad : simd.plain)(
      ...ins.map(offset), ...[p, m, v, x].map(offset), groups,
      coef, attrs.beta1, attrs.beta2, attrs.eps, attrs.stepSize, attrs.bc2Sqrt, attrs.decay,
    );
    done = groups * 4;
  }
  if (done < size) {
    // The tail (or everything, without SIMD): the CPU twin in place on the outputs.
    const tail = (a: Float32Array) => a.subarray(done);
    p.set(tail(ins[0]), done);
    m.set(tail(ins[2]), done);
    v.set(tail(ins[3]), done);
    x.set(tail(ins[4]), done);
    adamwUpdateInPlace(tail(p), tail(ins[1]), tail(m), tail(v), tail(x), coef, attrs);
  }
  return outs;
}

// ---- webgpu ----------------------------------------------------------------------------------------------------

const OUTPUT_NAMES = ['p', 'm', 'v', 'x'] as const;

/** Elementwise program writing one of the four outputs (0 p', 1 m', 2 v', 3 x'). */
export class AdamWProgram implements WebGPUProgram {
  variableNames: string[];
  uniforms = 'beta1 : f32, beta2 : f32, eps : f32, stepSize : f32, bc2Sqrt : f32, decay : f32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(
    size: number,
    private readonly which: 0 | 1 | 2 | 3,
    private readonly amsgrad: boolean,
  ) {
    // Without amsgrad X is not bound at all: an unused binding would not match the pipeline's layout.
    this.variableNames = amsgrad ? ['P', 'G', 'M', 'V', 'Coef', 'X'] : ['P', 'G', 'M', 'V', 'Coef'];
    this.outputShape = [size];
    this.dispatchLayout = { x: [0] };
    const groups = Math.ceil(size / 64);
    // Large variables: spread over y as well (maxComputeWorkgroupsPerDimension is 65535 by default).
    this.dispatch = groups > 65535 ? [65535, Math.ceil(groups / 65535), 1] : [groups, 1, 1];
    this.shaderKey = `vocoAdamW_${which}_${amsgrad}`;
  }

  getUserCode(): string {
    const result = ['pNew', 'mNew', 'vNew', 'xNew'][this.which];
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let g = G[index] * Coef[0];
        let mNew = uniforms.beta1 * M[index] + (1.0 - uniforms.beta1) * g;
        let vNew = uniforms.beta2 * V[index] + (1.0 - uniforms.beta2) * g * g;
        let xNew = ${this.amsgrad ? 'max(X[index], vNew)' : 'vNew'};
        let denom = sqrt(${this.amsgrad ? 'xNew' : 'vNew'}) / uniforms.bc2Sqrt + uniforms.eps;
        let pNew = uniforms.decay * P[index] - uniforms.stepSize * (mNew / denom);
        setOutputAtIndex(index, ${result});
      }
    `;
  }
}

function adamwWebgpu({ inputs, backend, attrs }: KernelArgs<WebGPUBackend>): TensorInfo[] {
  checkInputs(inputs);
  const size = tf.util.sizeFromShape(inputs.p.shape);
  const flat = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, dtype: t.dtype, shape: [tf.util.sizeFromShape(t.shape)] });
  const ins = [inputs.p, inputs.g, inputs.m, inputs.v, inputs.coef, ...(attrs.amsgrad ? [inputs.x] : [])].map(flat);
  const uniforms = [attrs.beta1, attrs.beta2, attrs.eps, attrs.stepSize, attrs.bc2Sqrt, attrs.decay].map((v) => ({ type: 'float32', data: [v] }));
  return OUTPUT_NAMES.map((_, which) => {
    const out = backend.runWebGPUProgram(new AdamWProgram(size, which as 0 | 1 | 2 | 3, attrs.amsgrad), ins, 'float32', uniforms);
    return { dataId: out.dataId, dtype: out.dtype, shape: inputs.p.shape };
  });
}

// ---- registration and the op --------------------------------------------------------------------------------------

const configs: KernelConfig[] = [
  { kernelName: ADAMW_KERNEL, backendName: 'cpu', kernelFunc: adamwCpu as unknown as KernelFunc },
  { kernelName: ADAMW_KERNEL, backendName: 'wasm', kernelFunc: adamwWasm as unknown as KernelFunc },
  { kernelName: ADAMW_KERNEL, backendName: 'webgpu', kernelFunc: adamwWebgpu as unknown as KernelFunc },
];

export function registerFusedAdamW(): void {
  for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}
registerFusedAdamW();

let fusedEnabled = true;
/** Benchmarks: AdamW by tf ops (false) instead of the fused kernel (true, default). */
export function useFusedAdamW(enable: boolean): void {
  fusedEnabled = enable;
}

/** Whether the active backend has the fused kernel (and it is switched on). */
export function fusedAdamWAvailable(): boolean {
  return fusedEnabled && !!tf.getKernel(ADAMW_KERNEL, tf.getBackend());
}

/** Fused updates run since the page started, per backend (tests check the kernel really ran). */
export const fusedAdamWRuns: Record<string, number> = {};

/** [p', m', v', x'] for one variable; `x` is amsgrad's running max (pass v when not amsgrad). */
export function fusedAdamW(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, x: tf.Tensor, coef: tf.Scalar, h: AdamWHyper): tf.Tensor[] {
  const backend = tf.getBackend();
  fusedAdamWRuns[backend] = (fusedAdamWRuns[backend] ?? 0) + 1;
  return tf.engine().runKernel(ADAMW_KERNEL, { p, g, m, v, x, coef }, h as unknown as NamedAttrMap) as tf.Tensor[];
}
