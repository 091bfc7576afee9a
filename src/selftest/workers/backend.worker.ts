// Runs initBackend inside a module Web Worker, as the training worker does, for the browser tests.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onGpuError, type InitBackendOptions } from '../../backend/backends';
import type { BackendChoice } from '../../worker/protocol';

const gpuErrors: string[] = [];
onGpuError((m) => gpuErrors.push(m));

self.onmessage = async (e: MessageEvent<{ choice: BackendChoice; opts?: InitBackendOptions }>) => {
  try {
    const t0 = performance.now();
    const info = await initBackend(e.data.choice, e.data.opts);
    const initMs = performance.now() - t0;
    // Prove the backend computes: a small matmul checked against its known answer.
    const y = tf.matMul(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[1], [2], [3]]));
    const check = (await y.data())[0];
    self.postMessage({
      ok: true,
      info,
      initMs,
      check,
      active: tf.getBackend(),
      crossOriginIsolated: self.crossOriginIsolated,
      cores: navigator.hardwareConcurrency,
      gpuErrors,
    });
  } catch (err) {
    self.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};
