// Browser checks of the training loop (called from e2e/train-parity.spec.ts):
//  - trainingStepParity: the full training step (loss terms, intra predictions, the gradient of every trainable
//    variable, then three real AdamW steps) on webgpu equals the cpu backend within tolerance;
//  - workerSmoke: the real training worker (training.worker.ts via TrainingClient) trains 3 steps on the sample CT.
// Volumes: the studio's sample CT (public/sample-ct.nii.gz) through the real ingest (NiiVue) and preprocessing,
// plus its left-right mirror as the second volume (a batch needs B ≥ 2 volumes; only one CT ships with the app).
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onGpuError } from '../backend/backends';
import { nvImageFromBytes, volumeFromNVImage } from '../ingest/toVolume';
import { preprocessVolume } from '../preprocess/preprocess';
import type { PreprocessedVolume } from '../volume/volume';
import { TrainingClient } from '../worker/client';
import type { BackendName, FromWorker, RunConfig } from '../worker/protocol';
import { Trainer } from '../worker/trainer';
import { DEFAULT_RUN_CONFIG } from '../store/runConfig';

const TINY_RUN: RunConfig = {
  ...DEFAULT_RUN_CONFIG,
  volumeIds: ['sample-ct', 'sample-ct-mirrored'],
  preset: 'tiny',
  cropSize: 16,
  lr: 1e-3,
  warmupSteps: 0,
  totalSteps: 100,
  seed: 11,
  backend: 'cpu',
  checkpointEvery: 0,
};

let cached: PreprocessedVolume[] | null = null;

/** The sample CT and its x-mirror, preprocessed at 3 mm, padded to the n·r × n·r × r region. */
async function sampleVolumes(): Promise<PreprocessedVolume[]> {
  if (cached) return cached;
  const res = await fetch('/sample-ct.nii.gz');
  if (!res.ok) throw new Error(`/sample-ct.nii.gz: HTTP ${res.status}`);
  const img = await nvImageFromBytes(await res.arrayBuffer(), 'sample-ct.nii.gz');
  const { volume } = volumeFromNVImage(img, { id: 'sample-ct', name: 'sample-ct.nii.gz', sourceFiles: ['sample-ct.nii.gz'], format: 'nifti' });
  const side = TINY_RUN.gridN * TINY_RUN.cropSize;
  const settings = { spacing: TINY_RUN.spacing, huWindow: TINY_RUN.huWindow, minSize: [side, side, TINY_RUN.cropSize] as [number, number, number] };
  const ct = preprocessVolume(volume, settings);
  const [nx, ny, nz] = ct.dims;
  const mirrored = new Float32Array(ct.data.length);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) mirrored[(z * ny + y) * nx + x] = ct.data[(z * ny + y) * nx + (nx - 1 - x)];
  cached = [ct, { ...ct, id: 'sample-ct-mirrored', name: 'sample-ct (mirrored)', data: mirrored, labels: undefined }];
  return cached;
}

interface BackendRun {
  backend: string;
  loss: number;
  intra: number;
  inter: number;
  reg: number;
  gradNorm: number;
  logits: Float32Array;
  grads: { name: string; data: Float32Array }[];
  stepLosses: number[];
  gpuErrors: string[];
  ms: number;
}

async function runOn(backend: BackendName, config: RunConfig, steps: number): Promise<BackendRun> {
  const gpuErrors: string[] = [];
  const off = onGpuError((m) => gpuErrors.push(m));
  try {
    const info = await initBackend(backend, { useStore: false });
    const vols = await sampleVolumes();
    const t0 = performance.now();
    const trainer = await Trainer.create({ ...config, backend }, vols);
    try {
      const probe = await trainer.probeGradients();
      const stepLosses: number[] = [];
      for (let i = 0; i < steps; i++) stepLosses.push((await trainer.step()).loss);
      return { backend: info.name, ...probe, stepLosses, gpuErrors, ms: performance.now() - t0 };
    } finally {
      trainer.dispose();
    }
  } finally {
    off();
  }
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Largest |a − b| over `scale` (default: the largest |a|, so a tensor is judged by its own magnitude). */
function relMaxDiff(a: Float32Array, b: Float32Array, scale = maxAbs(a)): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return scale > 0 ? diff / scale : diff;
}

/**
 * The full training step on `backend` (default webgpu) against cpu, for the tiny preset at r = 16 on the sample CT.
 * Returns the numbers for the spec to judge: per-term loss differences, the worst relative gradient difference
 * (and which variable), and the losses of three real steps (AdamW included) on both.
 */
export async function trainingStepParity(opts: { backend?: BackendName; steps?: number } = {}) {
  const backend = opts.backend ?? 'webgpu';
  const steps = opts.steps ?? 3;
  const ref = await runOn('cpu', TINY_RUN, steps);
  const got = await runOn(backend, TINY_RUN, steps);
  // A gradient that is zero by construction (the bias of a linear layer that feeds a batch norm: the norm removes
  // any constant) holds only rounding noise on both backends; judge every tensor by its own magnitude, but never by
  // less than 1% of the largest gradient of the model (a failed kernel gives errors of order 1, not 1e-3).
  const globalScale = Math.max(...ref.grads.map((g) => maxAbs(g.data)));
  const gradDiffs = ref.grads.map((g, i) => ({
    name: g.name,
    size: g.data.length,
    scale: maxAbs(g.data),
    relMaxDiff: relMaxDiff(g.data, got.grads[i].data, Math.max(maxAbs(g.data), 1e-2 * globalScale)),
    nameMatches: got.grads[i].name === g.name,
    finite: got.grads[i].data.every(Number.isFinite),
    nonZero: got.grads[i].data.some((v) => v !== 0),
  }));
  const worst = gradDiffs.reduce((a, b) => (b.relMaxDiff > a.relMaxDiff ? b : a));
  return {
    requested: backend,
    ran: got.backend,
    gpuErrors: got.gpuErrors,
    cpu: { loss: ref.loss, intra: ref.intra, inter: ref.inter, reg: ref.reg, gradNorm: ref.gradNorm, stepLosses: ref.stepLosses, ms: Math.round(ref.ms) },
    other: { loss: got.loss, intra: got.intra, inter: got.inter, reg: got.reg, gradNorm: got.gradNorm, stepLosses: got.stepLosses, ms: Math.round(got.ms) },
    lossDiff: Math.max(...(['loss', 'intra', 'inter', 'reg'] as const).map((k) => Math.abs(ref[k] - got[k]))),
    logitsMaxDiff: relMaxDiff(ref.logits, got.logits),
    gradCount: gradDiffs.length,
    gradsAllNamed: gradDiffs.every((d) => d.nameMatches),
    gradsAllFinite: gradDiffs.every((d) => d.finite),
    gradsZero: gradDiffs.filter((d) => !d.nonZero).map((d) => d.name),
    worstGrad: worst,
    globalGradScale: globalScale,
    negligibleGrads: gradDiffs.filter((d) => d.scale < 1e-2 * globalScale).map((d) => `${d.name} (max |g| ${d.scale.toExponential(2)})`),
    gradNormRelDiff: Math.abs(ref.gradNorm - got.gradNorm) / ref.gradNorm,
    stepLossMaxDiff: Math.max(...ref.stepLosses.map((l, i) => Math.abs(l - got.stepLosses[i]))),
    leftoverTensors: tf.memory().numTensors,
  };
}

/**
 * The real training worker: configure (forced backend), start, 3 steps, done. Returns what the worker said.
 */
export async function workerSmoke(opts: { backend?: BackendName; steps?: number; timeoutMs?: number } = {}) {
  const backend = opts.backend ?? 'webgpu';
  const steps = opts.steps ?? 3;
  const vols = await sampleVolumes();
  const client = TrainingClient.spawn();
  const messages: FromWorker[] = [];
  client.onAny((m) => messages.push(m));
  const t0 = performance.now();
  try {
    const ready = await client.configure({ ...TINY_RUN, backend, totalSteps: steps }, vols.map((v) => ({ ...v, data: v.data.slice() })), { transfer: true });
    const readyMs = performance.now() - t0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'done' within ${opts.timeoutMs ?? 180_000} ms`)), opts.timeoutMs ?? 180_000);
      client.onAny((m) => {
        // 'paused' ends the wait too: the worker pauses itself on a GPU error or a non-finite loss.
        if ((m.type === 'state' && (m.state === 'done' || m.state === 'stopped' || m.state === 'paused')) || (m.type === 'error' && m.fatal)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    client.start();
    await done;
    const embedding = await client.embed([{ volumeId: 'sample-ct', origin: [0, 0, 0] }]);
    const stepsMsgs = messages.filter((m): m is Extract<FromWorker, { type: 'step' }> => m.type === 'step');
    return {
      backend: ready.backend,
      paramCount: ready.paramCount,
      readyMs: Math.round(readyMs),
      steps: stepsMsgs.map((m) => ({ step: m.metrics.step, loss: m.metrics.loss, stepMs: Math.round(m.metrics.stepMs), regions: m.metrics.regions.length })),
      states: messages.filter((m) => m.type === 'state').map((m) => (m as Extract<FromWorker, { type: 'state' }>).state),
      errors: messages.filter((m) => m.type === 'error').map((m) => (m as Extract<FromWorker, { type: 'error' }>).message),
      gpuErrors: messages.filter((m) => m.type === 'gpu-error').map((m) => (m as Extract<FromWorker, { type: 'gpu-error' }>).message),
      embedding: { dim: embedding.dim, count: embedding.count, finite: embedding.data.every(Number.isFinite) },
      totalMs: Math.round(performance.now() - t0),
    };
  } finally {
    client.terminate();
  }
}
