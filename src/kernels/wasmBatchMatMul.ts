// Fast paths for tfjs-backend-wasm's BatchMatMul (4.22). Its C++ kernel hands a product to XNNPACK only
// when it is a single, untransposed 2-D product (batch 1, transposeA = transposeB = false); every other
// case — a transposed operand, as in every matmul gradient, or a batch of products, as in attention —
// falls to a naive blocked loop 10–30× slower (measured 0.4–1.5 GFLOP/s against ~25 for XNNPACK on one
// core). This kernel rewrites a product into XNNPACK-sized pieces and calls the original kernel on them:
// - transposed operands are transposed explicitly (O(size), cheap next to O(m·n·k));
// - a batch against one shared right operand becomes one tall product;
// - a batch of distinct pairs becomes one product per pair (slices copied inside the wasm heap).
// Same arithmetic; results differ from the slow loop only in float summation order.
// (Computing (bᵀ·aᵀ)ᵀ so that XNNPACK packs the smaller operand was tried and dropped: wasm's Transpose
// is very slow on power-of-two widths, e.g. 16 ms for 1024×1024 against 3 ms for 1000×1000.)
import {
  BatchMatMul,
  getKernel,
  registerKernel,
  Reshape,
  Transpose,
  unregisterKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

const MARK = Symbol.for('voco.wasmBatchMatMul');
/** tfjs's own kernel, kept while ours is installed (for uninstallWasmBatchMatMul). */
let stock: KernelConfig | null = null;

/** The parts of tfjs-backend-wasm's BackendWasm (4.22) this kernel uses. */
interface WasmBackend {
  disposeData(dataId: object): boolean;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
}

/**
 * Replaces the wasm BatchMatMul kernel by the fast-path version. Call once the wasm backend is registered
 * (importing @tensorflow/tfjs-backend-wasm does that); safe to call more than once.
 * Returns false when there is no wasm BatchMatMul to wrap.
 */
export function installWasmBatchMatMul(): boolean {
  const original = getKernel(BatchMatMul, 'wasm');
  if (!original) return false;
  if ((original as unknown as Record<symbol, boolean>)[MARK]) return true;
  const kernel = (name: string): KernelFunc => {
    const k = getKernel(name, 'wasm');
    if (!k) throw new Error(`installWasmBatchMatMul: the wasm backend has no ${name} kernel`);
    return k.kernelFunc;
  };
  const matmul = original.kernelFunc;
  const reshapeKernel = kernel(Reshape);
  const transposeKernel = kernel(Transpose);

  const fast: KernelFunc = (args) => {
    const { inputs, backend } = args;
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    const [ra, ca] = a.shape.slice(-2);
    const [rb, cb] = b.shape.slice(-2);
    const m = transposeA ? ca : ra;
    const k = transposeA ? ra : ca;
    const n = transposeB ? rb : cb;
    const native = batchA === 1 && batchB === 1 && !transposeA && !transposeB;
    // XNNPACK's own case, or one we leave alone: non-float, or an outer-dims broadcast other than n-vs-1.
    if (native || a.dtype !== 'float32' || b.dtype !== 'float32' || (batchA !== batchB && batchA !== 1 && batchB !== 1)) {
      return matmul(args);
    }

    const be = backend as unknown as WasmBackend;
    const temps: TensorInfo[] = [];
    const temp = (t: TensorInfo) => (temps.push(t), t);
    const reshape = (x: TensorInfo, shape: number[]) => temp(reshapeKernel({ inputs: { x }, backend, attrs: { shape } as never }) as TensorInfo);
    const swapLast = (x: TensorInfo) => temp(transposeKernel({ inputs: { x }, backend, attrs: { perm: [0, 2, 1] } as never }) as TensorInfo);
    const rawProduct = (x: TensorInfo, y: TensorInfo) =>
      matmul({ inputs: { a: x, b: y }, backend, attrs: { transposeA: false, transposeB: false } as never }) as TensorInfo;
    const product = (x: TensorInfo, y: TensorInfo) => temp(rawProduct(x, y));
    // Untransposed 3-D operands: [batchA, m, k] and [batchB, k, n].
    const aStored = reshape(a, [batchA, ra, ca]);
    const bStored = reshape(b, [batchB, rb, cb]);
    const aPlain = () => (transposeA ? swapLast(aStored) : aStored);
    const bPlain = () => (transposeB ? swapLast(bStored) : bStored);
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];

    let result: TensorInfo;
    if (batchB === 1) {
      // Every a-matrix meets the same b: one tall [batchA·m, k] product.
      result = product(reshape(aPlain(), [1, batchA * m, k]), bPlain());
    } else {
      result = temp(pairwise(be, aPlain(), bPlain(), batchA, batchB, m, k, n, rawProduct));
    }
    const out = reshapeKernel({ inputs: { x: result }, backend, attrs: { shape: outShape } as never }) as TensorInfo;
    for (const t of temps) be.disposeData(t.dataId);
    return out;
  };

  const config: KernelConfig = { ...original, kernelFunc: fast };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  unregisterKernel(BatchMatMul, 'wasm');
  registerKernel(config);
  stock = original;
  return true;
}

/** Puts tfjs's own wasm BatchMatMul back (for benchmarks comparing the two). */
export function uninstallWasmBatchMatMul(): void {
  if (!stock) return;
  unregisterKernel(BatchMatMul, 'wasm');
  registerKernel(stock);
  stock = null;
}

/** Whether the fast paths currently serve wasm's BatchMatMul. */
export function wasmBatchMatMulInstalled(): boolean {
  const current = getKernel(BatchMatMul, 'wasm');
  return !!current && !!(current as unknown as Record<symbol, boolean>)[MARK];
}

/**
 * One XNNPACK product per pair of a batch. Slices are copied within the wasm heap (the Slice kernel reads
 * the whole tensor back for every slice). Each right operand must be a NEW tensor: XNNPACK caches its
 * packed operator under the right operand's tensor id.
 */
function pairwise(
  be: WasmBackend,
  a3: TensorInfo,
  b3: TensorInfo,
  batchA: number,
  batchB: number,
  m: number,
  k: number,
  n: number,
  product: (x: TensorInfo, y: TensorInfo) => TensorInfo,
): TensorInfo {
  const batch = Math.max(batchA, batchB);
  const out = be.makeOutput([batch, m, n], 'float32');
  const bytesA = 4 * m * k;
  const bytesB = 4 * k * n;
  const bytesOut = 4 * m * n;
  const offset = (t: TensorInfo) => be.dataIdMap.get(t.dataId)!.memoryOffset;
  const ai = batchA === 1 ? a3 : be.makeOutput([1, m, k], 'float32');
  for (let i = 0; i < batch; i++) {
    // HEAPU8 is read afresh every time: an allocation may have grown (and so replaced) the heap buffer.
    if (batchA !== 1) be.wasm.HEAPU8.copyWithin(offset(ai), offset(a3) + i * bytesA, offset(a3) + (i + 1) * bytesA);
    const bi = be.makeOutput([1, k, n], 'float32');
    const bAt = batchB === 1 ? 0 : i;
    be.wasm.HEAPU8.copyWithin(offset(bi), offset(b3) + bAt * bytesB, offset(b3) + (bAt + 1) * bytesB);
    const pi = product(ai, bi);
    be.wasm.HEAPU8.copyWithin(offset(out) + i * bytesOut, offset(pi), offset(pi) + bytesOut);
    be.disposeData(pi.dataId);
    be.disposeData(bi.dataId);
  }
  if (ai !== a3) be.disposeData(ai.dataId);
  return out;
}
