// Benchmark driver (window.selftest.bench), used by bench/run-bench.mjs: one worker per backend, the sample CT
// loaded and preprocessed once on the page (timed), then matmul sweeps and training steps in the workers.
import type { InitBackendOptions } from '../backend/backends';
import type { BackendChoice } from '../worker/protocol';
import type { PreprocessedVolume } from '../volume/volume';
import type { TrainBenchRequest } from './workers/bench.worker';
import { workerPool } from './workerPool';

const pool = workerPool('bench', () => new Worker(new URL('./workers/bench.worker.ts', import.meta.url), { type: 'module', name: 'bench' }));
let sample: PreprocessedVolume | null = null;

/** Starts a bench worker. Returns its handle; call `init` on it next. */
export const open = (): number => pool.open();

const call = <T = unknown>(handle: number, msg: Record<string, unknown>, transfer: Transferable[] = []) => pool.call<T>(handle, msg, transfer);

export const init = (handle: number, choice: BackendChoice, opts?: InitBackendOptions) => call(handle, { cmd: 'init', choice, opts });
export const matmul = (handle: number, sizes: number[], budgetMs = 600) => call(handle, { cmd: 'matmul', sizes, budgetMs });
export const train = (handle: number, req: TrainBenchRequest) => call(handle, { cmd: 'train', req });
export const crop = (handle: number) => call(handle, { cmd: 'crop' });
/** Interleaved A/B of kernel switches on one trainer (see abSteps in workers/bench.worker.ts). */
export const ab = (handle: number, req: Record<string, unknown>) => call(handle, { cmd: 'ab', req });
/** Per-kernel profiles under kernel switches, interleaved (see profileAb in workers/bench.worker.ts). */
export const profileAb = (handle: number, req: Record<string, unknown>) => call(handle, { cmd: 'profileAb', req });
/** GB/s of y = −x over `floats` values (the roofline's memory ceiling). */
export const bandwidth = (handle: number, floats = 4 * 2 ** 20, budgetMs = 600) => call(handle, { cmd: 'bandwidth', floats, budgetMs });
export const switches = (handle: number, s: Record<string, unknown>) => call(handle, { cmd: 'switches', switches: s });
export const phases = (handle: number, preset: string, cropSize = 32, crops = 22, reps = 3) =>
  call(handle, { cmd: 'phases', preset, cropSize, crops, reps });
export const shapes = (handle: number, list: [number, number, number][], reps = 5) => call(handle, { cmd: 'shapes', shapes: list, reps });
export const products = (handle: number, cases: unknown[], reps = 5) => call(handle, { cmd: 'products', cases, reps });
export const similarityMap = (handle: number, preset: string, cropSize = 32) => call(handle, { cmd: 'similarityMap', preset, cropSize });
/** rows, dim, hidden, batch, tokens, dh, reps: see matmulVariants in workers/bench.worker.ts. */
export const variants = (handle: number, ...args: number[]) => call(handle, { cmd: 'variants', args });

/** Sends B copies of the preprocessed sample CT (or synthetic volumes of its size if it failed to load). */
export async function volumes(handle: number, count: number): Promise<{ source: string; dims: number[] }> {
  const base = sample ?? synthetic();
  const list: PreprocessedVolume[] = Array.from({ length: count }, (_, i) => ({ ...base, id: `bench-${i}`, name: `${base.name} #${i}`, data: base.data.slice() }));
  await call(handle, { cmd: 'volumes', volumes: list }, list.map((v) => v.data.buffer));
  return { source: sample ? 'sample CT' : 'synthetic', dims: base.dims };
}

/** The ViT model presets (in src/model/presets.ts order), the Swin ones (they need r ≥ 64) and the default one. */
export async function presetNames(): Promise<{ names: string[]; swinNames: string[]; defaultPreset: string }> {
  const { PRESETS, DEFAULT_PRESET, isSwinPreset } = await import('../model/presets');
  const all = Object.keys(PRESETS);
  return { names: all.filter((n) => !isSwinPreset(PRESETS[n])), swinNames: all.filter((n) => isSwinPreset(PRESETS[n])), defaultPreset: DEFAULT_PRESET };
}

export const close = (handle: number): void => pool.close(handle);

/** Fetches /sample-ct.nii.gz, reads it (NiiVue), preprocesses it with the studio defaults; returns the times. */
export async function loadSample(): Promise<{ fetchMs: number; readMs: number; preprocessMs: number; totalMs: number; dims: number[]; sourceDims: number[] }> {
  const { nvImageFromBytes, volumeFromNVImage } = await import('../ingest/toVolume');
  const { preprocessVolume } = await import('../preprocess/preprocess');
  const { DEFAULT_PREPROCESS } = await import('../preprocess/settings');
  const t0 = performance.now();
  const res = await fetch('/sample-ct.nii.gz');
  if (!res.ok) throw new Error(`/sample-ct.nii.gz: HTTP ${res.status}`);
  const bytes = await res.arrayBuffer();
  const t1 = performance.now();
  const img = await nvImageFromBytes(bytes, 'sample-ct.nii.gz');
  const { volume } = volumeFromNVImage(img, { id: 'sample', name: 'sample-ct.nii.gz', sourceFiles: ['sample-ct.nii.gz'], format: 'nifti' });
  const t2 = performance.now();
  sample = preprocessVolume(volume, DEFAULT_PREPROCESS);
  const t3 = performance.now();
  return { fetchMs: t1 - t0, readMs: t2 - t1, preprocessMs: t3 - t2, totalMs: t3 - t0, dims: sample.dims, sourceDims: volume.dims };
}

function synthetic(): PreprocessedVolume {
  const dims: [number, number, number] = [122, 101, 112];
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 0) / 2 ** 32;
  return { id: 'synthetic', name: 'synthetic', dims, spacing: [3, 3, 3], affine: [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]], data };
}
