// Similarity-map timing in the browser (window.selftest.maps), for `npm run bench` and the e2e tests: the real
// training worker (one per call, so each backend starts fresh), the sample CT preprocessed with the studio defaults
// and packed twice (a run needs two volumes), then one full map of it at the default stride, timed.
import { TrainingClient } from '../worker/client';
import type { BackendChoice, RunConfig, SimilarityMapResult } from '../worker/protocol';
import type { PreprocessedVolume } from '../volume/volume';
import { DEFAULT_RUN_CONFIG } from '../store/runConfig';
import { cropOriginNear, defaultStride, slidingWindowGrid, windowCount } from '../eval/similarityMap';

const samples = new Map<string, Promise<PreprocessedVolume>>();

/** The bundled sample CT, preprocessed at the studio defaults, padded to the region (cached for the page). */
function sampleVolume(minSize: [number, number, number]): Promise<PreprocessedVolume> {
  const key = minSize.join('x');
  let sample = samples.get(key);
  if (sample) return sample;
  sample = (async () => {
    const { nvImageFromBytes, volumeFromNVImage } = await import('../ingest/toVolume');
    const { preprocessVolume } = await import('../preprocess/preprocess');
    const { DEFAULT_PREPROCESS } = await import('../preprocess/settings');
    const res = await fetch('/sample-ct.nii.gz');
    if (!res.ok) throw new Error(`/sample-ct.nii.gz: HTTP ${res.status}`);
    const img = await nvImageFromBytes(await res.arrayBuffer(), 'sample-ct.nii.gz');
    const { volume } = volumeFromNVImage(img, { id: 'sample', name: 'sample-ct.nii.gz', sourceFiles: ['sample-ct.nii.gz'], format: 'nifti' });
    return preprocessVolume(volume, { ...DEFAULT_PREPROCESS, minSize });
  })();
  samples.set(key, sample);
  return sample;
}

export interface MapTimingRequest {
  backend: BackendChoice;
  /** Model preset (default: the studio default) and crop size (default 32). */
  preset?: string;
  cropSize?: number;
  /** Window stride (default r/4). */
  stride?: number;
  /** Crops per encoder batch (default: by crop size). */
  batch?: number;
  /** Also map with the untrained weights (two maps, twice the work). */
  compare?: boolean;
  /** Cancel the job once this many windows are done (tests of cancel); the result then says so. */
  cancelAfter?: number;
  /** Wall-clock budget: past it the job is cancelled and the full time projected from the windows done. */
  budgetMs?: number;
}

export interface MapTimingResult {
  backend: string;
  adapter: string | null;
  preset: string;
  cropSize: number;
  stride: number;
  volumeDims: number[];
  windows: number;
  maps: number;
  /** Worker time of the map job, and wall time from request to answer on this page. */
  workerMs: number | null;
  wallMs: number;
  /** Time to start the worker, backend and model (not part of the map). */
  configureMs: number;
  windowsPerSecond: number | null;
  cancelled: { done: number; total: number } | null;
  /** Over budget: the full map's time projected from the rate so far (status says which). */
  projectedMs: number | null;
  status: 'complete' | 'over budget (projected)' | 'cancelled';
  /** The query's own value (must be 1) and the range of the map. */
  atQuery: number | null;
  range: [number, number] | null;
}

/** One full similarity map of the sample CT (centre query) on a fresh worker with the given backend. */
export async function fullMapTiming(req: MapTimingRequest): Promise<MapTimingResult> {
  const preset = req.preset ?? DEFAULT_RUN_CONFIG.preset;
  const r = req.cropSize ?? DEFAULT_RUN_CONFIG.cropSize;
  const n = DEFAULT_RUN_CONFIG.gridN;
  const pv = await sampleVolume([n * r, n * r, r]);
  const volumes = ['map-a', 'map-b'].map((id) => ({ ...pv, id, data: pv.data.slice() }));
  const config: RunConfig = { ...DEFAULT_RUN_CONFIG, volumeIds: volumes.map((v) => v.id), preset, cropSize: r, backend: req.backend, checkpointEvery: 0 };
  const client = TrainingClient.spawn();
  try {
    const t0 = performance.now();
    const ready = await client.configure(config, volumes, { transfer: true });
    const configureMs = performance.now() - t0;
    const stride = req.stride ?? defaultStride(r);
    const origin = cropOriginNear(pv.dims.map((d) => (d - 1) / 2), r);
    const windows = windowCount(slidingWindowGrid(pv.dims, r, stride, origin));
    const requestId = client.newRequestId();
    const t1 = performance.now();
    let lastProgress = { done: 0, at: t1 };
    const outcome = await new Promise<{ result?: SimilarityMapResult; cancelled?: { done: number; total: number } }>((resolve, reject) => {
      let cancelSent = false;
      let nextLog = 0;
      const off = client.onAny((msg) => {
        if (!('requestId' in msg) || msg.requestId !== requestId) return;
        if (msg.type === 'map-progress' && msg.done >= nextLog) {
          console.info(`[maps] ${req.backend}: ${msg.done} / ${msg.total} windows after ${((performance.now() - t1) / 1000).toFixed(1)} s`);
          nextLog = msg.done + msg.total / 10;
        }
        if (msg.type === 'map-progress') lastProgress = { done: msg.done, at: performance.now() };
        const overBudget = req.budgetMs !== undefined && performance.now() - t1 > req.budgetMs;
        if (msg.type === 'map-progress' && !cancelSent && (overBudget || (req.cancelAfter !== undefined && msg.done >= req.cancelAfter))) {
          cancelSent = true;
          client.post({ type: 'cancel-map', requestId });
        } else if (msg.type === 'map-result') {
          off();
          resolve({ result: msg.result });
        } else if (msg.type === 'map-cancelled') {
          off();
          resolve({ cancelled: { done: msg.done, total: msg.total } });
        } else if (msg.type === 'error') {
          off();
          reject(new Error(msg.message));
        }
      });
      client.post({
        type: 'similarity-map',
        requestId,
        request: { volumeId: 'map-a', origin, stride, batch: req.batch, weights: req.compare ? [{ kind: 'current' }, { kind: 'initial' }] : [{ kind: 'current' }] },
      });
    });
    const wallMs = performance.now() - t1;
    const res = outcome.result;
    const values = res?.maps[0].values;
    let lo = Infinity;
    let hi = -Infinity;
    if (values) for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    let atQuery: number | null = null;
    if (res && values) {
      const ijk = [0, 1, 2].map((a) => (origin[a] - res.grid.first[a]) / stride);
      atQuery = values[ijk[0] + res.grid.counts[0] * (ijk[1] + res.grid.counts[1] * ijk[2])];
    }
    const mapsCount = req.compare ? 2 : 1;
    const rate = res ? (windows * mapsCount) / (res.ms / 1000) : lastProgress.done > 0 ? lastProgress.done / ((lastProgress.at - t1) / 1000) : null;
    const overBudget = !res && req.budgetMs !== undefined && req.cancelAfter === undefined;
    return {
      backend: ready.backend.name,
      adapter: ready.backend.adapter ?? null,
      preset,
      cropSize: r,
      stride,
      volumeDims: [...pv.dims],
      windows,
      maps: mapsCount,
      workerMs: res?.ms ?? null,
      wallMs,
      configureMs,
      windowsPerSecond: rate,
      cancelled: outcome.cancelled ?? null,
      projectedMs: overBudget && rate ? ((windows * mapsCount) / rate) * 1000 : null,
      status: res ? 'complete' : overBudget ? 'over budget (projected)' : 'cancelled',
      atQuery,
      range: values ? [lo, hi] : null,
    };
  } finally {
    client.terminate();
  }
}

/**
 * Where the time of one map batch goes, on this page's main thread: kernel times of one embedOnDevice call
 * (crop sampler + encoder) over `batch` windows of the sample CT, after one warm-up call.
 */
export async function profileMapBatch(req: { backend: BackendChoice; preset?: string; cropSize?: number; batch: number }): Promise<{
  backend: string;
  batch: number;
  wallMs: number;
  warmupMs: number;
  kernelMs: number;
  kernels: { name: string; count: number; ms: number }[];
  slowest: { name: string; ms: number; inputs: string }[];
}> {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../backend/backends');
  const { Trainer } = await import('../worker/trainer');
  const preset = req.preset ?? DEFAULT_RUN_CONFIG.preset;
  const r = req.cropSize ?? DEFAULT_RUN_CONFIG.cropSize;
  const n = DEFAULT_RUN_CONFIG.gridN;
  const info = await initBackend(req.backend, { useStore: false });
  const pv = await sampleVolume([n * r, n * r, r]);
  const volumes = ['p-a', 'p-b'].map((id) => ({ ...pv, id, data: pv.data.slice() }));
  const trainer = await Trainer.create({ ...DEFAULT_RUN_CONFIG, volumeIds: ['p-a', 'p-b'], preset, cropSize: r, backend: req.backend }, volumes);
  try {
    const grid = slidingWindowGrid(pv.dims, r, defaultStride(r));
    const { windowCrops } = await import('../eval/similarityMap');
    const crops = windowCrops(grid, 0, 0, req.batch);
    const run = async () => {
      const e = trainer.embedOnDevice(crops);
      await e.data();
      e.dispose();
    };
    const t0 = performance.now();
    await run();
    const warmupMs = performance.now() - t0;
    const t1 = performance.now();
    const prof = await tf.profile(run);
    const wallMs = performance.now() - t1;
    const by = new Map<string, { count: number; ms: number }>();
    for (const k of prof.kernels) {
      const e = by.get(k.name) ?? { count: 0, ms: 0 };
      e.count++;
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      by.set(k.name, e);
    }
    const kernels = [...by].map(([name, v]) => ({ name, ...v })).sort((a, b) => b.ms - a.ms);
    const slowest = prof.kernels
      .map((k) => ({ name: k.name, ms: typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0, inputs: k.inputShapes.map((sh) => `[${sh}]`).join(' ') }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 12);
    return { backend: info.name, batch: req.batch, wallMs, warmupMs, kernelMs: kernels.reduce((s, k) => s + k.ms, 0), kernels, slowest };
  } finally {
    trainer.dispose();
  }
}

/**
 * Diagnostic: x[rows, dim] + bias as a 1-D [dim] tensor vs the same bias as [1, dim]. tfjs-webgpu sends a 1-D
 * operand shorter than 128 to a shared-memory program (workgroupBarrier), which a software adapter runs very slowly.
 */
export async function broadcastAddProbe(req: { backend: BackendChoice; rows: number; dim: number; reps?: number }): Promise<{ backend: string; oneDMs: number; twoDMs: number; maxDiff: number }> {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../backend/backends');
  const info = await initBackend(req.backend, { useStore: false });
  const x = tf.randomUniform([req.rows, req.dim]);
  const b = tf.randomUniform([req.dim]);
  const b2 = tf.reshape(b, [1, req.dim]);
  const time = async (f: () => import('@tensorflow/tfjs-core').Tensor) => {
    const warm = f();
    await warm.data();
    warm.dispose();
    const t0 = performance.now();
    for (let i = 0; i < (req.reps ?? 5); i++) {
      const y = f();
      await y.data();
      y.dispose();
    }
    return (performance.now() - t0) / (req.reps ?? 5);
  };
  const oneDMs = await time(() => tf.add(x, b));
  const twoDMs = await time(() => tf.add(x, b2));
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.add(x, b), tf.add(x, b2)))));
  const maxDiff = (await diff.data())[0];
  tf.dispose([x, b, b2, diff]);
  return { backend: info.name, oneDMs, twoDMs, maxDiff };
}
