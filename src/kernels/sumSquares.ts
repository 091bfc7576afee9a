// Kernel 'VocoSumSquares': Σ x² over every value of a list of tensors, as one scalar (the squared global gradient
// norm the trainer reads with the loss). As tf ops that is a square, a sum and an add per tensor: 240 kernels for the
// default preset's 80 gradients. 'cpu' and 'wasm' run the CPU twin in one pass over the backend's own memory (wasm:
// straight on the heap, float64 accumulation); other backends use the tf ops (webgpu binds one storage buffer per
// input, so one kernel over 80 inputs would pass the device's limit).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export const SUM_SQUARES_KERNEL = 'VocoSumSquares';

/** CPU twin: Σ over all arrays of x², accumulated in float64. */
export function sumSquaresReference(arrays: ArrayLike<number>[]): number {
  let total = 0;
  for (const a of arrays) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    total += s;
  }
  return total;
}

const inputsOf = (inputs: Record<string, TensorInfo>) =>
  Object.keys(inputs)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((k) => inputs[k]);

function sumSquaresCpu({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: MathBackendCPU }): TensorInfo {
  const value = sumSquaresReference(inputsOf(inputs).map((t) => backend.data.get(t.dataId).values as Float32Array));
  return backend.makeTensorInfo([], 'float32', new Float32Array([value]));
}

function sumSquaresWasm({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: BackendWasm }): TensorInfo {
  const out = backend.makeOutput([], 'float32');
  // Views after makeOutput (its malloc may grow the heap and detach older views).
  const value = sumSquaresReference(inputsOf(inputs).map((t) => backend.typedArrayFromHeap(t) as Float32Array));
  (backend.typedArrayFromHeap(out) as Float32Array)[0] = value;
  return out;
}

const configs: KernelConfig[] = [
  { kernelName: SUM_SQUARES_KERNEL, backendName: 'cpu', kernelFunc: sumSquaresCpu as unknown as KernelFunc },
  { kernelName: SUM_SQUARES_KERNEL, backendName: 'wasm', kernelFunc: sumSquaresWasm as unknown as KernelFunc },
];
for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);

let enabled = true;
/** Benchmarks: the tf-op path (false) instead of the one-pass kernel (true, default). */
export function useSumSquaresKernel(on: boolean): void {
  enabled = on;
}

/** Runs since the page started, per backend (tests check the kernel really ran). */
export const sumSquaresRuns: Record<string, number> = {};

/**
 * Σ x² over all `tensors` as a scalar tensor: one kernel on cpu/wasm; elsewhere square + sum per tensor, added pairwise
 * (not tf.addN: webgpu's AddN binds every input at once).
 */
export function sumOfSquares(tensors: tf.Tensor[]): tf.Scalar {
  const backend = tf.getBackend();
  if (enabled && tensors.length && tensors.every((t) => t.dtype === 'float32') && tf.getKernel(SUM_SQUARES_KERNEL, backend)) {
    sumSquaresRuns[backend] = (sumSquaresRuns[backend] ?? 0) + 1;
    const inputs = Object.fromEntries(tensors.map((t, i) => [`t${i}`, t]));
    return tf.engine().runKernel(SUM_SQUARES_KERNEL, inputs) as tf.Scalar;
  }
  return tf.tidy(() => tensors.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b)) as tf.Scalar);
}
