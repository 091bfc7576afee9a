// Reference-encoder benchmark driver (window.selftest.swinBench), used by bench/swin-bench.mjs: one worker per
// backend (workers/swinBench.worker.ts) timing the Swin backbone's forward and forward + backward per crop.
import type { BackendChoice } from '../worker/protocol';
import type { SwinPassRequest, SwinPassResult } from './workers/swinBench.worker';

const workers = new Map<number, { worker: Worker; pending: Map<number, (r: { ok: boolean; value?: unknown; error?: string }) => void> }>();
let nextHandle = 1;
let nextCall = 1;

export function open(): number {
  const worker = new Worker(new URL('./workers/swinBench.worker.ts', import.meta.url), { type: 'module', name: 'swin-bench' });
  const handle = nextHandle++;
  const pending = new Map<number, (r: { ok: boolean; value?: unknown; error?: string }) => void>();
  worker.onmessage = (e) => {
    const p = pending.get(e.data.id);
    pending.delete(e.data.id);
    p?.(e.data);
  };
  worker.onerror = (e) => {
    for (const p of pending.values()) p({ ok: false, error: `swin bench worker crashed: ${e.message}` });
    pending.clear();
  };
  workers.set(handle, { worker, pending });
  return handle;
}

async function call<T>(handle: number, msg: Record<string, unknown>): Promise<T> {
  const w = workers.get(handle);
  if (!w) throw new Error(`no swin bench worker ${handle}`);
  const id = nextCall++;
  const r = await new Promise<{ ok: boolean; value?: unknown; error?: string }>((resolve) => {
    w.pending.set(id, resolve);
    w.worker.postMessage({ ...msg, id });
  });
  if (!r.ok) throw new Error(r.error);
  return r.value as T;
}

export const init = (handle: number, choice: BackendChoice) => call<{ name: string; adapter?: string; software?: boolean; wasmThreads?: number }>(handle, { cmd: 'init', choice });
export const pass = (handle: number, req: SwinPassRequest) => call<SwinPassResult>(handle, { cmd: 'pass', req });

export function close(handle: number): void {
  workers.get(handle)?.worker.terminate();
  workers.delete(handle);
}

/** Windows of a similarity map of the preprocessed sample CT (dims) at crop r and stride, centred query. */
export async function mapWindows(dims: [number, number, number], r: number, stride: number, layout: 'sliding' | 'tiles' = 'sliding'): Promise<number> {
  const { mapGrid, windowCount } = await import('../eval/similarityMap');
  return windowCount(mapGrid(dims, r, layout, stride));
}

/** Backbone GFLOP of one forward pass of a preset on an r³ crop (src/model/flops.ts). */
export async function forwardGflop(preset: string, r: number): Promise<number> {
  const { PRESETS, forwardFlops } = await import('../model');
  const f = forwardFlops(PRESETS[preset], r);
  return (f.patchEmbed + f.blocks) / 1e9;
}
