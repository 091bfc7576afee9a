// Browser checks of src/backend: initBackend inside a module Web Worker (the training worker's situation).
import type { InitBackendOptions, InitBackendResult } from '../backend/backends';
import type { BackendChoice } from '../worker/protocol';

export interface WorkerInitResult {
  ok: boolean;
  error?: string;
  info?: InitBackendResult;
  initMs?: number;
  check?: number;
  active?: string;
  crossOriginIsolated?: boolean;
  cores?: number;
  gpuErrors?: string[];
}

/** Starts a fresh worker, runs initBackend(choice) there, returns what it reported, ends the worker. */
export function initInWorker(choice: BackendChoice, opts?: InitBackendOptions): Promise<WorkerInitResult> {
  const worker = new Worker(new URL('./workers/backend.worker.ts', import.meta.url), { type: 'module' });
  return new Promise<WorkerInitResult>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve({ ok: false, error: `worker error: ${e.message}` });
    worker.postMessage({ choice, opts });
  }).finally(() => worker.terminate());
}
