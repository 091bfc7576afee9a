// wasm Identity without a copy. tfjs-core clones every tensor a gradient saves (customGrad's save() and the saved
// inputs/outputs of registered gradients) through the Identity kernel, and tfjs-backend-wasm 4.22's Identity copies the
// data; a VoCo-B training step makes ~400 such copies (profiled: 395 Identity calls per step, tens of MB moved). Tensor
// data is never written in place by any kernel, so the clone can share the buffer under a reference count, as the cpu
// backend's Identity and wasm's own Reshape already do (backend.incRef). Strings keep tfjs's kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const MARK = Symbol.for('voco.wasmIdentityShare');
let enabled = true;

/** Benchmarks and tests: tfjs's copying Identity (false) instead of the shared buffer (true, default). */
export function useSharedIdentity(enable: boolean): void {
  enabled = enable;
}

/** Identity calls served without a copy since the page started (tests check it really ran). */
export const sharedIdentityRuns = { count: 0 };

/** Wraps wasm's Identity (call once the wasm backend is registered; idempotent). False when there is none. */
export function installWasmIdentityShare(): boolean {
  const original = tf.getKernel('Identity', 'wasm');
  if (!original) return false;
  if ((original as unknown as Record<symbol, boolean>)[MARK]) return true;
  const stock = original.kernelFunc;
  const shared: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    if (!enabled || x.dtype === 'string') return stock(args);
    (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    sharedIdentityRuns.count++;
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  const config: KernelConfig = { ...original, kernelFunc: shared };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel(config);
  return true;
}
