// Which wasm BatchMatMul path serves which product. src/kernels/wasmBatchMatMul.ts routes every transposed or
// batched product to XNNPACK; measured A/B (.team/perf-notes.md §6), that loses for batches of SMALL products
// — attention's [N·H, 64, 64] pairs, where each XNNPACK call costs an operator create + pack + thread-pool
// dispatch (~1 ms) for 0.5 MFLOP — against tfjs's stock scalar loop (~0.2 ms per pair): 10 ms vs 37–56 ms per
// call. This layer sends those back to the stock kernel and everything else on to the XNNPACK paths.
import { BatchMatMul, getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

const MARK = Symbol.for('voco.wasmMatMulPolicy');

/** Per-pair work (m·k·n multiply-adds) at or below which a batched product stays on the stock loop. */
export const SMALL_PAIR_WORK = 2 ** 19;

/** True when a product should use tfjs's stock wasm kernel rather than the XNNPACK paths. */
export function preferStockLoop(batch: number, m: number, k: number, n: number): boolean {
  return batch > 1 && m * k * n <= SMALL_PAIR_WORK;
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
    return preferStockLoop(batch, m, k, n) ? stockFunc(args) : fast(args);
  };
  const config: KernelConfig = { ...current, kernelFunc: policy };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  unregisterKernel(BatchMatMul, 'wasm');
  registerKernel(config);
  return true;
}
