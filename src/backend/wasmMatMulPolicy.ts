// Which wasm BatchMatMul path serves which product. src/kernels/wasmBatchMatMul.ts routes every transposed or
// batched product to XNNPACK; measured A/B (.team/perf-notes.md §6), that loses for batches of SMALL products
// — attention's [N·H, 64, 64] pairs, where each XNNPACK call costs an operator create + pack + thread-pool
// dispatch (~1 ms) for 0.5 MFLOP — against tfjs's stock scalar loop (~0.2 ms per pair): 10 ms vs 37–56 ms per
// call. This layer sends those back to the stock kernel and everything else on to the XNNPACK paths.
// Batches of small products and matrix-vector products (sums written as matmuls) that fit the WebAssembly SIMD
// kernel (src/kernels/wasmSimdBatchMatMul.ts) go there instead: one call for the whole batch, ~10× the stock loop.
import { BatchMatMul, getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdBatchMatMulOnWasm } from '../kernels/wasmSimdBatchMatMul';

const MARK = Symbol.for('voco.wasmMatMulPolicy');

/** Per-pair work (m·k·n multiply-adds) at or below which a batched product stays on the stock loop. */
export const SMALL_PAIR_WORK = 2 ** 19;

/**
 * True when a product should use tfjs's stock wasm kernel rather than the XNNPACK paths: batches of small
 * products, and matrix-vector products (m or n = 1: sums written as matmuls, e.g. bias gradients), where the
 * explicit transpose of the big operand costs far more than the product (measured 18 ms for [1408,512]ᵀ·[1408,1]).
 */
export function preferStockLoop(batch: number, m: number, k: number, n: number): boolean {
  if (m === 1 || n === 1) return true;
  return batch > 1 && m * k * n <= SMALL_PAIR_WORK;
}

let simdEnabled = true;
/** Benchmarks: route small batched products to the stock loop (false) instead of the SIMD kernel (true, default). */
export function useWasmSimdBatchMatMul(enable: boolean): void {
  simdEnabled = enable;
}

/** Few rows against a wide right operand: worth computing the product the other way round. */
export function isThin(m: number, n: number): boolean {
  return m <= 32 && n >= 4 * m;
}

/**
 * Wraps the (already replaced) wasm BatchMatMul: small batched products go to `stock`, the rest to the current
 * kernel. `stock` must be tfjs's own kernel, captured before any replacement. Idempotent.
 */
export function installWasmMatMulPolicy(stock: KernelConfig): boolean {
  const current = getKernel(BatchMatMul, 'wasm');
  if (!current) return false;
  if ((current as unknown as Record<symbol, boolean>)[MARK]) return true;
  const fast = current.kernelFunc;
  const stockFunc = stock.kernelFunc;
  const kernel = (name: string) => {
    const k = getKernel(name, 'wasm');
    if (!k) throw new Error(`installWasmMatMulPolicy: the wasm backend has no ${name} kernel`);
    return k.kernelFunc;
  };
  const transposeK = kernel('Transpose');
  const reshapeK = kernel('Reshape');
  const policy: KernelFunc = (args) => {
    const a = args.inputs.a as TensorInfo;
    const b = args.inputs.b as TensorInfo;
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const batch = Math.max(util.sizeFromShape(a.shape.slice(0, -2)), util.sizeFromShape(b.shape.slice(0, -2)));
    const [ra, ca] = a.shape.slice(-2);
    const [rb, cb] = b.shape.slice(-2);
    const m = transposeA ? ca : ra;
    const k = transposeA ? ra : ca;
    const n = transposeB ? rb : cb;
    if (preferStockLoop(batch, m, k, n)) {
      if (simdEnabled && a.dtype === 'float32' && b.dtype === 'float32') {
        const batchA = util.sizeFromShape(a.shape.slice(0, -2));
        const batchB = util.sizeFromShape(b.shape.slice(0, -2));
        const out = simdBatchMatMulOnWasm(args.backend, a, b, { batch, batchA, batchB, m, k, n, transposeA, transposeB });
        if (out) {
          const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
          return { dataId: out.dataId, dtype: 'float32', shape: outShape } as TensorInfo;
        }
      }
      return stockFunc(args);
    }
    if (batch === 1 && !transposeA && transposeB && isThin(m, n)) return thinTimesTransposed(args, a, b, m, k, n);
    return fast(args);
  };

  /**
   * C = A·Bᵀ with few rows in A (a head's dX = dY·Wᵀ, 22 rows against a 1024² W): XNNPACK packs its right operand,
   * so A·Bᵀ would transpose and pack all of W on every call. (B·Aᵀ)ᵀ packs only the thin Aᵀ and streams B as
   * stored; the two transposes move m·k and m·n values.
   */
  const thinTimesTransposed = (args: Parameters<KernelFunc>[0], a: TensorInfo, b: TensorInfo, m: number, k: number, n: number) => {
    const backend = args.backend as unknown as { disposeData(id: object): boolean };
    const temps: TensorInfo[] = [];
    const keep = (t: TensorInfo) => (temps.push(t), t);
    const run = (f: KernelFunc, inputs: Record<string, TensorInfo>, attrs: object) =>
      keep(f({ inputs, backend: args.backend, attrs: attrs as never }) as TensorInfo);
    const a2 = run(reshapeK, { x: a }, { shape: [m, k] });
    const b3 = run(reshapeK, { x: b }, { shape: [1, n, k] });
    const aT = run(transposeK, { x: a2 }, { perm: [1, 0] });
    const aT3 = run(reshapeK, { x: aT }, { shape: [1, k, m] });
    const prod = run(fast, { a: b3, b: aT3 }, { transposeA: false, transposeB: false }); // [1, n, m]
    const prod2 = run(reshapeK, { x: prod }, { shape: [n, m] });
    const c = run(transposeK, { x: prod2 }, { perm: [1, 0] }); // [m, n]
    const outShape = [...a.shape.slice(0, -2), m, n];
    const out = reshapeK({ inputs: { x: c }, backend: args.backend, attrs: { shape: outShape } as never }) as TensorInfo;
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };
  const config: KernelConfig = { ...current, kernelFunc: policy };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  unregisterKernel(BatchMatMul, 'wasm');
  registerKernel(config);
  return true;
}
