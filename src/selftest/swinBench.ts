// Reference-encoder benchmark driver (window.selftest.swinBench), used by bench/swin-bench.mjs: one worker per
// backend (workers/swinBench.worker.ts) timing the Swin backbone's forward and forward + backward per crop.
import type { BackendChoice } from '../worker/protocol';
import type { SwinPassRequest, SwinPassResult } from './workers/swinBench.worker';
import { workerPool } from './workerPool';

const pool = workerPool('swin bench', () => new Worker(new URL('./workers/swinBench.worker.ts', import.meta.url), { type: 'module', name: 'swin-bench' }));

export const open = (): number => pool.open();

const call = <T = unknown>(handle: number, msg: Record<string, unknown>, transfer: Transferable[] = []) => pool.call<T>(handle, msg, transfer);

export const init = (handle: number, choice: BackendChoice) => call<{ name: string; adapter?: string; software?: boolean; wasmThreads?: number }>(handle, { cmd: 'init', choice });
export const pass = (handle: number, req: SwinPassRequest) => call<SwinPassResult>(handle, { cmd: 'pass', req });

export const close = (handle: number): void => pool.close(handle);

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
