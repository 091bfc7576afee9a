// wasm SplitV along the last axis as a row-block copy: [M, P·D] → P tensors [M, D] (attention's q | k | v split of
// the fused qkv projection). tfjs-backend-wasm's SplitV runs one generic strided slice per output, measured (Node,
// fastest of 20) 1.2 ms for [1408, 384] → 3 × [1408, 128], where the same bytes move in a fraction of that; here each
// row's block is copied with WebAssembly SIMD straight on the heap. Parts whose width is not a multiple of 4, other
// axes and dtypes stay with tfjs's kernel; the gradient stays tfjs's (concatenation). CPU twin: splitColumns.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { assembleModule, localIndex, op, type ValType, type WasmFunction } from './wasmAsm';
import { simdSupport, wasmBackendMemory } from './wasmSimdBatchMatMul';

/** CPU twin: part p of x [m, parts·d] into out[p] [m, d]. */
export function splitColumns(x: Float32Array, m: number, parts: number, d: number, out: Float32Array[]): void {
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < parts; p++) out[p].set(x.subarray(i * parts * d + p * d, i * parts * d + (p + 1) * d), i * d);
  }
}

type Name = 'src' | 'dst' | 'M' | 'srcRow' | 'dstRow' | 'j';

/** copyBlock(src, dst, M, srcRowBytes, dstRowBytes): dst row i ← the first dstRowBytes of src row i (16 | dstRowBytes). */
function copyFunction(): WasmFunction {
  const params = ['src', 'dst', 'M', 'srcRow', 'dstRow'] as const;
  const extra: (readonly [Name, ValType])[] = [['j', 'i32']];
  const L = localIndex<Name>(params, extra);
  const g = (n: Name) => op.get(L[n]);
  const s = (n: Name) => op.set(L[n]);
  const body: number[][] = [
    op.block(),
    g('M'), op.i32Eqz(), op.brIf(0),
    op.loop(),
    op.i32Const(0), s('j'),
    op.loop(),
    g('dst'), g('j'), op.i32Add(), g('src'), g('j'), op.i32Add(), op.v128Load(), op.v128Store(),
    g('j'), op.i32Const(16), op.i32Add(), op.tee(L.j), g('dstRow'), op.i32LtS(), op.brIf(0),
    op.end(),
    g('src'), g('srcRow'), op.i32Add(), s('src'),
    g('dst'), g('dstRow'), op.i32Add(), s('dst'),
    g('M'), op.i32Const(1), op.i32Sub(), op.tee(L.M), op.brIf(0),
    op.end(),
    op.end(),
  ];
  return { name: 'copyBlock', params: params.map(() => 'i32'), locals: extra.map(([, t]) => t), body };
}

const modules = new WeakMap<WebAssembly.Memory, (...args: number[]) => void>();

export function splitColumnsModuleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  return assembleModule({ module: 'env', field: 'memory', minPages: 0, maxPages: shared ? 65536 : undefined, shared }, [copyFunction()]);
}

/** The SIMD block copy for this memory, or null where the engine has no WebAssembly SIMD. */
export function copyBlockFor(memory: WebAssembly.Memory): ((...args: number[]) => void) | null {
  const hit = modules.get(memory);
  if (hit) return hit;
  if (!simdSupport().simd) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const fn = new WebAssembly.Instance(new WebAssembly.Module(splitColumnsModuleBytes(shared)), { env: { memory } }).exports.copyBlock as (...args: number[]) => void;
  modules.set(memory, fn);
  return fn;
}

/** SIMD runs (wasm) since the page started: tests check that the SIMD path ran. */
export const splitColumnsSimdRuns = { count: 0 };

/** The parts of tfjs-backend-wasm's BackendWasm (4.22) used here. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/**
 * Split of x along its LAST axis into `sizes` on tfjs's wasm heap; null where this kernel does not apply (not
 * float32, no SIMD or memory handle, a size not a multiple of 4).
 */
export function splitLastAxisOnWasm(backend: unknown, x: TensorInfo, sizes: number[]): TensorInfo[] | null {
  if (x.dtype !== 'float32' || x.shape.length < 1 || sizes.some((z) => z % 4 !== 0 || z <= 0)) return null;
  const memory = wasmBackendMemory(backend);
  const copy = memory ? copyBlockFor(memory) : null;
  if (!copy) return null;
  const be = backend as WasmBackendLike;
  const n = x.shape[x.shape.length - 1];
  const rows = n ? tf.util.sizeFromShape(x.shape) / n : 0;
  const outs = sizes.map((z) => be.makeOutput([...x.shape.slice(0, -1), z], 'float32'));
  // Offsets after every allocation (a malloc may grow the heap; offsets stay valid, views do not).
  const src = be.typedArrayFromHeap(x).byteOffset;
  let col = 0;
  outs.forEach((o, p) => {
    if (rows > 0) copy(src + 4 * col, be.typedArrayFromHeap(o).byteOffset, rows, 4 * n, 4 * sizes[p]);
    col += sizes[p];
  });
  splitColumnsSimdRuns.count++;
  return outs;
}

const MARK = Symbol.for('voco.wasmSplitV');
let enabled = true;
/** Benchmarks and parity tests: tfjs's own SplitV (false) instead of the block copy where it applies (true, default). */
export function useSplitColumnsKernel(enable: boolean): void {
  enabled = enable;
}

/**
 * Wraps wasm's SplitV: a split along the last axis into parts of 4k columns goes to the SIMD block copy, everything
 * else to tfjs's kernel. The gradient is tfjs's (concatenation). Call once the wasm backend is registered; idempotent.
 */
export function installWasmSplitV(): boolean {
  const original = tf.getKernel('SplitV', 'wasm');
  if (!original) return false;
  if ((original as unknown as Record<symbol, boolean>)[MARK]) return true;
  const stock = original.kernelFunc;
  const wrapped: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    if (enabled && ax === x.shape.length - 1) {
      const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax) as number[];
      const out = splitLastAxisOnWasm(args.backend, x, sizes);
      if (out) return out;
    }
    return stock(args);
  };
  const config: KernelConfig = { ...original, kernelFunc: wrapped };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  tf.unregisterKernel('SplitV', 'wasm');
  tf.registerKernel(config);
  return true;
}
