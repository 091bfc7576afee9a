// Which wasm BatchMatMul path serves which product. src/kernels/wasmBatchMatMul.ts routes every transposed or
// batched product to XNNPACK; measured A/B (.team/perf-notes.md §6), that loses for batches of SMALL products
// — attention's [N·H, 64, 64] pairs, where each XNNPACK call costs an operator create + pack + thread-pool
// dispatch (~1 ms) for 0.5 MFLOP — against tfjs's stock scalar loop (~0.2 ms per pair): 10 ms vs 37–56 ms per
// call. This layer sends those back to the stock kernel and everything else on to the XNNPACK paths.
// Batches of small products and matrix-vector products (sums written as matmuls) that fit the WebAssembly SIMD
// kernel (src/kernels/wasmSimdBatchMatMul.ts) go there instead: one call for the whole batch, ~10× the stock loop.
import { _FusedMatMul, BatchMatMul, getKernel, registerKernel, unregisterKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdBatchMatMulOnWasm, simdFlavour, wasmBackendMemory } from '../kernels/wasmSimdBatchMatMul';
import { gemmFits, gemmThreads, simdGemmOnWasm, type GemmShape } from '../kernels/wasmSimdGemm';

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

/**
 * Which single (unbatched) products the cache-blocked SIMD GEMM (src/kernels/wasmSimdGemm.ts, its tasks shared with
 * helper threads where the heap is shared) takes from XNNPACK: none, the weight gradients xᵀ·dy only (a transposed
 * left operand: XNNPACK needs an explicit transpose and packs the big dy), or every product it fits, the forward's
 * fused bias included.
 */
export type WasmGemmMode = 'off' | 'weightGrads' | 'all';
let gemmMode: WasmGemmMode = 'all';
/** Benchmarks' A/B: which products the SIMD GEMM takes (default 'all'). */
export function useWasmSimdGemm(mode: WasmGemmMode): void {
  gemmMode = mode;
}
export function wasmSimdGemmMode(): WasmGemmMode {
  return gemmMode;
}

// Off by default: measured (interleaved A/B, load 5.6) the step 0.94× (median) as fast with attention's [44, 64, 64]
// batches on the GEMM's threads as on the one-thread batch kernel (88 tasks of 0.26 MFLOP: the sharing costs more).
let gemmBatchedEnabled = false;
/** Benchmarks' A/B: attention's batches of small products on the GEMM's threads (true) or the one-thread batch kernel (false, default). */
export function useWasmSimdGemmBatched(enable: boolean): void {
  gemmBatchedEnabled = enable;
}

/** Whether the SIMD GEMM should take this (unbatched, float32) product under the current mode. */
export function gemmTakes(s: GemmShape): boolean {
  if (gemmMode === 'off' || !gemmFits(s)) return false;
  // A transposed B is repacked (k·n moves) for m rows of work: not worth it for a few rows (the head's 22-row
  // dX = dY·Wᵀ against a 1024² W: measured 28 ms per call, mostly the repack), which thinTimesTransposed serves.
  if (s.transposeB && s.m < GEMM_MIN_ROWS_TRANSPOSED_B) return false;
  // Short inner dimensions are mostly C traffic and per-task overhead, where XNNPACK is as fast or faster on a quiet
  // machine (--profile-ab at load 1, per step: k = 22 [1408,22]·[22,128] 3.1 vs 1.2 ms; k = 128 with a transposed B
  // [1408,128]·[512,128]ᵀ 28.4 vs 20.0 ms; k = n = 128 [1408,128]·[128,128] 7.8 vs 5.9 ms; k = 128, n = 384/512
  // forward: a tie). The GEMM keeps the weight gradients (k = 1408: 1.45–1.86×), k ≥ 384 and the head's 22-row products.
  if (s.k < 32) return false;
  if (s.k <= 128 && (s.transposeB || s.n <= 128)) return false;
  return gemmMode === 'all' || s.transposeA;
}
/** Fewest rows for which the GEMM takes a product with a transposed B. */
export const GEMM_MIN_ROWS_TRANSPOSED_B = 128;

/** The GEMM's product on the wasm backend, or null when it cannot run here (no SIMD, no memory handle). */
function gemmOnWasm(backend: unknown, a: TensorInfo, b: TensorInfo, s: GemmShape, bias: TensorInfo | null): TensorInfo | null {
  const flavour = simdFlavour();
  const memory = flavour.simd ? wasmBackendMemory(backend) : null;
  if (!memory) return null;
  const out = simdGemmOnWasm(backend, memory, flavour.relaxed, a, b, s, bias);
  return out as TensorInfo | null;
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
    const { batch, m, k, n } = productDims(a, b, transposeA, transposeB);
    if (preferStockLoop(batch, m, k, n)) {
      if (simdEnabled && a.dtype === 'float32' && b.dtype === 'float32') {
        const batchA = util.sizeFromShape(a.shape.slice(0, -2));
        const batchB = util.sizeFromShape(b.shape.slice(0, -2));
        const shape = { batch, batchA, batchB, m, k, n, transposeA, transposeB };
        // Attention's batches of small products on the GEMM's threads (A/B only, see gemmBatchedEnabled).
        const out = (gemmBatchedEnabled && batch > 1 && gemmThreads() > 1 && gemmMode !== 'off' && gemmFits(shape) && gemmOnWasm(args.backend, a, b, shape, null)) ||
          simdBatchMatMulOnWasm(args.backend, a, b, shape);
        if (out) {
          const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
          return { dataId: out.dataId, dtype: 'float32', shape: outShape } as TensorInfo;
        }
      }
      return stockFunc(args);
    }
    if (batch === 1 && a.dtype === 'float32' && b.dtype === 'float32') {
      const s: GemmShape = { batch: 1, batchA: 1, batchB: 1, m, k, n, transposeA, transposeB };
      if (gemmTakes(s)) {
        const out = gemmOnWasm(args.backend, a, b, s, null);
        if (out) return { dataId: out.dataId, dtype: 'float32', shape: [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n] } as TensorInfo;
      }
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
  installFusedGemm();
  return true;
}

/**
 * The linear layers' forward (src/model/layers/linear.ts: tf.fused.matMul with a bias, no activation) on the SIMD
 * GEMM, the bias loaded as the accumulators' start; everything else stays on tfjs's _FusedMatMul (XNNPACK).
 */
function installFusedGemm(): void {
  const current = getKernel(_FusedMatMul, 'wasm');
  if (!current || (current as unknown as Record<symbol, boolean>)[MARK]) return;
  const original = current.kernelFunc;
  const fused: KernelFunc = (args) => {
    const a = args.inputs.a as TensorInfo;
    const b = args.inputs.b as TensorInfo;
    const bias = (args.inputs.bias as TensorInfo | undefined) ?? null;
    const prelu = args.inputs.preluActivationWeights as TensorInfo | undefined;
    const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string };
    const { batch, m, k, n } = productDims(a, b, transposeA, transposeB);
    const plain = (activation === undefined || activation === 'linear') && !prelu;
    const biasRow = !bias || (bias.dtype === 'float32' && util.sizeFromShape(bias.shape) === n && bias.shape[bias.shape.length - 1] === n);
    if (plain && biasRow && batch === 1 && a.dtype === 'float32' && b.dtype === 'float32') {
      const s: GemmShape = { batch: 1, batchA: 1, batchB: 1, m, k, n, transposeA, transposeB };
      if (gemmMode === 'all' && gemmTakes(s)) {
        const out = gemmOnWasm(args.backend, a, b, s, bias);
        if (out) return { dataId: out.dataId, dtype: 'float32', shape: [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n] } as TensorInfo;
      }
    }
    return original(args);
  };
  const config: KernelConfig = { ...current, kernelFunc: fused };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  unregisterKernel(_FusedMatMul, 'wasm');
  registerKernel(config);
}

/** A (batched) product's batch and m × k × n from its operands as stored and their transpose flags. */
function productDims(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { batch: number; m: number; k: number; n: number } {
  const batch = Math.max(util.sizeFromShape(a.shape.slice(0, -2)), util.sizeFromShape(b.shape.slice(0, -2)));
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  return { batch, m: transposeA ? ca : ra, k: transposeA ? ra : ca, n: transposeB ? rb : cb };
}
