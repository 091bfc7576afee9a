// Benchmark worker: one tfjs backend per worker (a fresh worker per backend keeps memory and state apart),
// driven by src/selftest/bench.ts with small request/response messages. Everything returned is plain JSON.
import * as tf from '@tensorflow/tfjs-core';
import { currentWebGpuDevice, initBackend, onGpuError, type InitBackendOptions } from '../../backend/backends';
import { measureMatmul } from '../../backend/matmulProbe';
import { PRESETS, paramCount, stepFlops } from '../../model';
import { Trainer } from '../../worker/trainer';
import type { BackendChoice, RunConfig } from '../../worker/protocol';
import type { PreprocessedVolume } from '../../volume/volume';
import { DEFAULT_RUN_CONFIG, estimateStepMemory } from '../../store/runConfig';
import { useWasmSimdBatchMatMul, useWasmSimdGemm, useWasmSimdGemmBatched, type WasmGemmMode } from '../../backend/wasmMatMulPolicy';
import { gemmHelperStats, useGemmGovernor, useGemmHelpers } from '../../kernels/wasmSimdGemmThreads';
import { gemmThreads, useGemmPacking } from '../../kernels/wasmSimdGemm';
import { setSimdRelaxed, simdFlavour, wasmBackendMemory } from '../../kernels/wasmSimdBatchMatMul';
import { useFusedAdamW } from '../../kernels/fusedAdamW';
import { useSumSquaresKernel } from '../../kernels/sumSquares';
import { useFusedLayerNorm } from '../../kernels/layerNormRows';
import { useFusedGelu } from '../../kernels/geluTanh';
import { useFusedBiasMatMul } from '../../model/layers/linear';
import { useFusedSoftmax } from '../../kernels/softmaxRows';
import { useSplitColumnsKernel } from '../../kernels/splitColumns';
import { useSharedIdentity } from '../../kernels/wasmIdentityShare';

/** Kernel switches for interleaved A/B runs (each undefined field is left as it is). */
export interface KernelSwitches {
  /** wasm: small batched and matrix-vector products on the SIMD kernel (true) or tfjs's stock loop (false). */
  simd?: boolean;
  /** wasm: which single products the cache-blocked SIMD GEMM takes ('all', 'weightGrads' = xᵀ·dy only, 'off' = XNNPACK). */
  gemm?: WasmGemmMode;
  /** wasm: attention's batches of small products on the SIMD GEMM's threads (true) or the one-thread batch kernel (false). */
  gemmBatched?: boolean;
  /** wasm SIMD GEMM helpers: the per-shape governor decides (true) or every product is shared (false). */
  gemmGovernor?: boolean;
  /** wasm SIMD GEMM: B packed into contiguous panels per task and K block (true) or read as stored (false). */
  gemmPack?: boolean;
  /** wasm SIMD GEMM: its tasks shared with the helper threads (true) or run on the calling thread only (false). */
  gemmHelpers?: boolean;
  /** wasm SIMD kernel: relaxed-SIMD multiply-add on / off / where the engine has it (null). */
  relaxed?: boolean | null;
  /** AdamW: one fused kernel per variable and the one-pass gradient norm (true), or tf ops for both (false). */
  fusedAdamW?: boolean;
  /** cpu/wasm: LayerNorm forward and backward as one kernel each (true) or tf ops (false). */
  fusedLayerNorm?: boolean;
  /** cpu/wasm: the MLP's GELU forward and backward as one kernel each (true) or tf ops (false). */
  fusedGelu?: boolean;
  /** cpu/wasm: linear layers' bias added inside tfjs's fused matmul (true) or by a separate add (false). */
  fusedBias?: boolean;
  /** cpu/wasm: attention's scaled softmax forward and backward as one kernel each (true) or tf ops (false). */
  fusedSoftmax?: boolean;
  /** wasm: splits along the last axis as a SIMD row-block copy (true) or tfjs's SplitV (false). */
  splitCopy?: boolean;
  /** wasm: clones (tensors saved for gradients) share the buffer (true) or copy it, as tfjs does (false). */
  sharedIdentity?: boolean;
}

function applySwitches(s: KernelSwitches) {
  if (s.simd !== undefined) useWasmSimdBatchMatMul(s.simd);
  if (s.gemm !== undefined) useWasmSimdGemm(s.gemm);
  if (s.gemmHelpers !== undefined) useGemmHelpers(s.gemmHelpers);
  if (s.gemmBatched !== undefined) useWasmSimdGemmBatched(s.gemmBatched);
  if (s.gemmPack !== undefined) useGemmPacking(s.gemmPack);
  if (s.gemmGovernor !== undefined) useGemmGovernor(s.gemmGovernor);
  if (s.relaxed !== undefined) setSimdRelaxed(s.relaxed);
  if (s.fusedAdamW !== undefined) {
    useFusedAdamW(s.fusedAdamW);
    useSumSquaresKernel(s.fusedAdamW);
  }
  if (s.fusedLayerNorm !== undefined) useFusedLayerNorm(s.fusedLayerNorm);
  if (s.fusedGelu !== undefined) useFusedGelu(s.fusedGelu);
  if (s.fusedBias !== undefined) useFusedBiasMatMul(s.fusedBias);
  if (s.fusedSoftmax !== undefined) useFusedSoftmax(s.fusedSoftmax);
  if (s.splitCopy !== undefined) useSplitColumnsKernel(s.splitCopy);
  if (s.sharedIdentity !== undefined) useSharedIdentity(s.sharedIdentity);
  return { ...simdFlavour(), gemmThreads: gemmThreads() };
}

type StepProfile = NonNullable<TrainBenchResult['profile']>;

/** One training step under tf.profile: time per kernel name and per matmul shape (kernel times include their sync). */
async function profileStep(trainer: Trainer): Promise<StepProfile> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await trainer.step();
  });
  const wallMs = performance.now() - t0;
  const byName = new Map<string, KernelTime>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    total += ms;
    const e = byName.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
    e.count++;
    e.ms += ms;
    byName.set(k.name, e);
  }
  // Matmuls by shape: where the FLOPs are and how fast each shape runs.
  const mm = new Map<string, { shapes: string; count: number; ms: number; flops: number }>();
  for (const k of info.kernels) {
    if (!/MatMul/.test(k.name) || !k.inputShapes?.[0] || !k.outputShapes?.[0]) continue;
    const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
    const out = k.outputShapes[0] as number[];
    const n = out[out.length - 1];
    const flops = 2 * size(out) * ((size(k.inputShapes[0] as number[]) * n) / size(out));
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join('·')}`;
    const e = mm.get(key) ?? { shapes: key, count: 0, ms: 0, flops: 0 };
    e.count++;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.flops += flops;
    mm.set(key, e);
  }
  return {
    totalKernelMs: total,
    wallMs,
    kernels: [...byName.values()].sort((a, b) => b.ms - a.ms),
    matmuls: [...mm.values()].sort((a, b) => b.ms - a.ms).map((e) => ({ ...e, gflops: e.flops / (e.ms * 1e6) })),
  };
}

/**
 * Per-kernel profiles of the same step under several kernel configurations, interleaved round by round in one
 * trainer; per configuration, each kernel name and matmul shape keeps its fastest round (the one the machine's load
 * disturbed least), and the wall time its fastest round.
 */
async function profileAb(req: TrainBenchRequest & { configs: { name: string; switches: KernelSwitches }[]; rounds: number }) {
  const config = benchRunConfig(req);
  const trainer = await Trainer.create(config, volumes);
  const best: (StepProfile | null)[] = req.configs.map(() => null);
  try {
    for (const c of req.configs) {
      applySwitches(c.switches);
      await trainer.step();
    }
    for (let r = 0; r < req.rounds; r++) {
      for (let i = 0; i < req.configs.length; i++) {
        applySwitches(req.configs[i].switches);
        const p = await profileStep(trainer);
        const b = best[i];
        if (!b) {
          best[i] = p;
          continue;
        }
        const keep = <T extends { ms: number }>(xs: T[], ys: T[], key: (x: T) => string) => {
          const byKey = new Map(ys.map((y) => [key(y), y]));
          return xs.map((x) => {
            const y = byKey.get(key(x));
            return y && y.ms < x.ms ? y : x;
          });
        };
        best[i] = {
          totalKernelMs: Math.min(b.totalKernelMs, p.totalKernelMs),
          wallMs: Math.min(b.wallMs, p.wallMs),
          kernels: keep(b.kernels, p.kernels, (x) => x.name).sort((x, y) => y.ms - x.ms),
          matmuls: keep(b.matmuls, p.matmuls, (x) => x.shapes).sort((x, y) => y.ms - x.ms),
        };
      }
    }
  } finally {
    applySwitches({ simd: true, gemm: 'all', gemmHelpers: true, gemmBatched: false, gemmPack: true, gemmGovernor: true, relaxed: null, fusedAdamW: true, fusedLayerNorm: true, fusedGelu: true, fusedBias: true, fusedSoftmax: true, splitCopy: true, sharedIdentity: true });
    trainer.dispose();
  }
  return req.configs.map((c, i) => ({ name: c.name, profile: best[i] }));
}

/**
 * The same training step under several kernel configurations, interleaved (config 1, 2, …, 1, 2, …) in one trainer,
 * so that a busy machine's load falls on every configuration alike. Returns every step time and the median per config.
 */
async function abSteps(req: TrainBenchRequest & { configs: { name: string; switches: KernelSwitches }[]; rounds: number }) {
  const config = benchRunConfig(req);
  const trainer = await Trainer.create(config, volumes);
  const times = req.configs.map(() => [] as number[]);
  const flavours: ReturnType<typeof applySwitches>[] = [];
  // Products the SIMD GEMM shared with its helpers / ran alone (the helpers did not pay), per configuration.
  const helperUse = req.configs.map(() => ({ shared: 0, alone: 0 }));
  try {
    for (let w = 0; w < Math.max(1, req.warmup); w++) for (const c of req.configs) {
      applySwitches(c.switches);
      await trainer.step();
    }
    for (let r = 0; r < req.rounds; r++) {
      for (let i = 0; i < req.configs.length; i++) {
        flavours[i] = applySwitches(req.configs[i].switches);
        const before = gemmHelperStats();
        const t0 = performance.now();
        await trainer.step();
        times[i].push(performance.now() - t0);
        const after = gemmHelperStats();
        helperUse[i].shared += after.shared - before.shared;
        helperUse[i].alone += after.alone - before.alone;
      }
    }
  } finally {
    applySwitches({ simd: true, gemm: 'all', gemmHelpers: true, gemmBatched: false, gemmPack: true, gemmGovernor: true, relaxed: null, fusedAdamW: true, fusedLayerNorm: true, fusedGelu: true, fusedBias: true, fusedSoftmax: true, splitCopy: true, sharedIdentity: true });
    trainer.dispose();
  }
  return req.configs.map((c, i) => ({ name: c.name, switches: c.switches, flavour: { ...flavours[i], gemmHelpers: helperUse[i] }, stepMs: times[i], medianMs: median(times[i]) }));
}

const gpuErrors: string[] = [];
onGpuError((m) => gpuErrors.push(m));

export interface TrainBenchRequest {
  preset: string;
  /** Timed steps after the warm-up step(s). */
  steps: number;
  /** Untimed warm-up steps (the first compiles shaders / allocates). */
  warmup: number;
  /** Wall-clock budget for this combination; a first step that predicts overrunning it skips the rest. */
  budgetMs: number;
  batchVolumes: number;
  randomCrops: number;
  gridN: number;
  cropSize: number;
  /** Run tf.profile over one extra step and return per-kernel times. */
  profile?: boolean;
  /**
   * This backend's best matmul GFLOP/s: when even a step at that rate (a lower bound on its time) would overrun
   * the budget, the combination is skipped without running a step.
   */
  matmulGflops?: number;
}

export interface KernelTime {
  name: string;
  count: number;
  ms: number;
}

export interface TrainBenchResult {
  preset: string;
  backend: string;
  status: 'ok' | 'over budget' | 'error' | 'gpu errors';
  note?: string;
  crops: number;
  flopsPerStep: number;
  /** Every measured step, warm-up first. */
  stepMs: number[];
  warmupMs: number[];
  medianMs: number | null;
  tensorsLeakedPerStep: number;
  /** Steps whose loss was not finite (update skipped by the trainer), left out of the timings. */
  nonFiniteSteps?: number;
  firstNonFinite?: string;
  profile?: {
    totalKernelMs: number;
    wallMs: number;
    kernels: KernelTime[];
    matmuls: { shapes: string; count: number; ms: number; flops: number; gflops: number }[];
  };
  gpuErrors: string[];
  /** Memory of the step as measured (see measureMemory); the run setup's estimate is calibrated against it. */
  memory?: StepMemory;
}

export interface StepMemory {
  /** Peak bytes of live tfjs tensors during the first step (tf.profile's peakBytes): what the estimate models. */
  peakTensorBytes: number;
  /** Bytes of live tensors between steps (weights, optimizer state, packed volumes, caches). */
  residentBytes: number;
  /** wasm: size of the backend's WebAssembly memory after the steps (it only grows: the peak heap). */
  wasmHeapBytes?: number;
  /** webgpu: bytes of GPU buffers tfjs holds (in use and pooled), after the steps. */
  gpuAllocatedBytes?: number;
  /** The run setup's estimate (src/store/runConfig.ts) for this step: tensors at the peak, and the wasm heap. */
  estimateBytes: number;
  estimateWasmHeapBytes: number;
}

let volumes: PreprocessedVolume[] = [];

/** The wasm heap size (it only grows: the peak so far) or the GPU buffers tfjs holds, into `m`. */
function recordDeviceMemory(m: StepMemory): void {
  const heap = wasmBackendMemory(tf.backend());
  if (tf.getBackend() === 'wasm' && heap) m.wasmHeapBytes = heap.buffer.byteLength;
  const gpu = tf.memory() as { numBytesInGPUAllocated?: number };
  if (tf.getBackend() === 'webgpu' && gpu.numBytesInGPUAllocated !== undefined) m.gpuAllocatedBytes = Math.max(m.gpuAllocatedBytes ?? 0, gpu.numBytesInGPUAllocated);
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The run configuration a timed training step uses: the studio's defaults at the request's shape, on the current backend. */
function benchRunConfig(req: TrainBenchRequest): RunConfig {
  return {
    ...DEFAULT_RUN_CONFIG,
    volumeIds: volumes.slice(0, req.batchVolumes).map((v) => v.id),
    preset: req.preset,
    gridN: req.gridN,
    cropSize: req.cropSize,
    batchVolumes: req.batchVolumes,
    randomCrops: req.randomCrops,
    totalSteps: 1000,
    backend: tf.getBackend() as RunConfig['backend'],
  };
}

async function train(req: TrainBenchRequest): Promise<TrainBenchResult> {
  const preset = PRESETS[req.preset];
  if (!preset) throw new Error(`unknown preset '${req.preset}' (have ${Object.keys(PRESETS).join(', ')})`);
  if (volumes.length < req.batchVolumes) throw new Error(`bench worker has ${volumes.length} volumes, needs ${req.batchVolumes}`);
  const crops = req.batchVolumes * (req.gridN ** 2 + req.randomCrops);
  const config = benchRunConfig(req);
  const result: TrainBenchResult = {
    preset: req.preset,
    backend: tf.getBackend(),
    status: 'ok',
    crops,
    flopsPerStep: stepFlops(preset, req.cropSize, crops),
    stepMs: [],
    warmupMs: [],
    medianMs: null,
    tensorsLeakedPerStep: 0,
    gpuErrors: [],
  };
  if (req.matmulGflops) {
    const floorMs = result.flopsPerStep / (req.matmulGflops * 1e6);
    if (floorMs * (req.steps + req.warmup) > req.budgetMs) {
      result.status = 'over budget';
      result.note = `skipped: over budget (≥ ${(floorMs / 1000).toFixed(1)} s/step predicted from ${req.matmulGflops.toFixed(2)} GFLOP/s matmul; budget ${(req.budgetMs / 1000).toFixed(0)} s)`;
      return result;
    }
  }
  const errorsBefore = gpuErrors.length;
  const liveBefore = tf.memory().numBytes;
  const trainer = await Trainer.create(config, volumes);
  const start = performance.now();
  try {
    // A step whose loss is not finite throws after all its work but before the optimizer update; it is counted
    // and left out of the timings, and training goes on (the trainer kept the last good weights).
    const timeStep = async (): Promise<number | null> => {
      const t0 = performance.now();
      try {
        await trainer.step();
      } catch (err) {
        if ((err as Error).name !== 'NonFiniteLossError') throw err;
        result.nonFiniteSteps = (result.nonFiniteSteps ?? 0) + 1;
        result.firstNonFinite ??= (err as Error).message.split(';')[0];
        return null;
      }
      return performance.now() - t0;
    };
    for (let i = 0; i < Math.max(1, req.warmup); i++) {
      let ms: number | null = null;
      if (i === 0) {
        // The first step under tf.profile for its peak tensor bytes (per-kernel timing only costs the warm-up).
        const residentBytes = tf.memory().numBytes;
        const info = await tf.profile(async () => {
          ms = await timeStep();
        });
        const packedVoxels = volumes.slice(0, req.batchVolumes).reduce((a, v) => a + v.data.length, 0);
        const est = estimateStepMemory(preset, config, paramCount(preset, req.cropSize).total, packedVoxels);
        // peakBytes counts from zero: subtract what was live before the trainer existed (nothing in a fresh worker).
        result.memory = { peakTensorBytes: info.peakBytes - liveBefore, residentBytes: residentBytes - liveBefore, estimateBytes: est.totalBytes, estimateWasmHeapBytes: est.wasmHeapBytes };
        recordDeviceMemory(result.memory);
      } else ms = await timeStep();
      if (ms === null) continue;
      result.warmupMs.push(ms);
      // The first step compiles; decide on the cheapest honest evidence we have.
      const left = req.budgetMs - (performance.now() - start);
      if (ms * (req.steps + (req.warmup - 1 - i)) > left) {
        result.status = 'over budget';
        result.note = `skipped: over budget (${(ms / 1000).toFixed(1)} s/step measured on warm-up step ${i + 1}; budget ${(req.budgetMs / 1000).toFixed(0)} s)`;
        return result;
      }
    }
    const before = tf.memory().numTensors;
    for (let i = 0; i < req.steps; i++) {
      const ms = await timeStep();
      if (ms !== null) result.stepMs.push(ms);
      if (performance.now() - start > req.budgetMs && i + 1 < req.steps) {
        result.note = `stopped after ${i + 1} timed steps: budget reached`;
        break;
      }
    }
    result.tensorsLeakedPerStep = (tf.memory().numTensors - before) / Math.max(1, result.stepMs.length);
    if (result.memory) recordDeviceMemory(result.memory);
    result.medianMs = median(result.stepMs);
    if (result.nonFiniteSteps) {
      result.note = `${result.nonFiniteSteps} step(s) had a non-finite loss and were left out (${result.firstNonFinite})`;
    }
    if (req.profile) result.profile = await profileStep(trainer);
    return result;
  } finally {
    trainer.dispose();
    // Uncaptured GPU errors arrive as events after the work: let the queue drain and the events dispatch.
    await currentWebGpuDevice()?.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 50));
    // A WebGPU validation error means some kernel produced garbage: the timing is not of a real step.
    result.gpuErrors = gpuErrors.slice(errorsBefore);
    if (result.gpuErrors.length) {
      result.status = 'gpu errors';
      result.note = `invalid: ${result.gpuErrors.length} WebGPU errors, first: ${result.gpuErrors[0].split('\n')[0]}`;
    }
  }
}

/**
 * Forward + backward of the step's matmul shapes with the active backend's kernels (stock or replaced):
 * a linear layer x[rows, dim]·W[dim, hidden] + b, and attention's batched q·kᵀ [batch, tokens, dh].
 * Returns median ms and GFLOP/s (3 products each: the forward and two gradients).
 */
async function matmulVariants(rows: number, dim: number, hidden: number, batch: number, tokens: number, dh: number, reps: number) {
  const timeIt = async (f: () => tf.Tensor[]) => {
    const ms: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      const outs = f();
      await Promise.all(outs.map((o) => o.data()));
      tf.dispose(outs);
      if (i > 0) ms.push(performance.now() - t0);
    }
    return median(ms)!;
  };
  const x = tf.randomNormal([rows, dim]) as tf.Tensor2D;
  const w = tf.randomNormal([dim, hidden]) as tf.Tensor2D;
  const bias = tf.randomNormal([hidden]) as tf.Tensor1D;
  const q = tf.randomNormal([batch, tokens, dh]) as tf.Tensor3D;
  const k = tf.randomNormal([batch, tokens, dh]) as tf.Tensor3D;
  const linFlops = 3 * 2 * rows * dim * hidden;
  const attFlops = 3 * 2 * batch * tokens * tokens * dh;
  // Every input must reach the output for tf.grads.
  const grads = (f: (...t: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) => () => tf.grads((...t: tf.Tensor[]) => tf.sum(f(...t)))(xs);
  const out: Record<string, { ms: number; gflops: number }> = {};
  const put = (name: string, ms: number, flops: number) => (out[name] = { ms, gflops: flops / (ms * 1e6) });
  put('linear forward', await timeIt(() => [tf.add(tf.matMul(x, w), bias)]), linFlops / 3);
  put('linear forward+backward', await timeIt(grads((a, b, c) => tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), c), [x, w, bias])), linFlops);
  put('attention q·kᵀ forward+backward', await timeIt(grads((a, b) => tf.matMul(a, b, false, true), [q, k])), attFlops);
  tf.dispose([x, w, bias, q, k]);
  return out;
}

/**
 * One similarity map as the studio computes it (src/eval/similarityMap): a fresh model of `preset`, the query crop
 * at the centre of volume 0, windows at the default stride, default batch, current weights. Returns the time.
 */
async function similarityMap(preset: string, cropSize: number) {
  const sm = await import('../../eval/similarityMap');
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    volumeIds: volumes.slice(0, 2).map((v) => v.id),
    preset,
    cropSize,
    backend: tf.getBackend() as RunConfig['backend'],
  };
  const trainer = await Trainer.create(config, volumes);
  try {
    const dims = volumes[0].dims;
    const stride = sm.defaultStride(cropSize);
    const batch = sm.defaultBatch(cropSize);
    const origin = sm.cropOriginNear(dims.map((d) => d / 2), cropSize);
    const t0 = performance.now();
    const out = await sm.computeSimilarityMaps({
      volume: 0,
      dims,
      r: cropSize,
      stride,
      origin,
      dim: trainer.embedDim,
      batch,
      embedders: [{ embed: (crops) => trainer.embedCrops(crops) }],
    });
    const ms = performance.now() - t0;
    const windows = out.maps[0].values.length;
    return { status: 'ok', preset, backend: tf.getBackend(), ms, windows, stride, batch, windowsPerS: windows / (ms / 1000), querySelf: out.maps[0].querySelf };
  } finally {
    trainer.dispose();
  }
}

/**
 * Where a step's time goes, phase by phase, on the active backend (median of `reps` after one warm-up):
 * the encoder forward on all crops, forward + backward of a stand-in loss, the AdamW update of every trainable
 * variable, and the teacher EMA. Stand-in loss = mean square of the student projections (same graph shape).
 */
async function phases(preset: string, cropSize: number, crops: number, reps: number) {
  const { VocoModel } = await import('../../model');
  const { AdamW } = await import('../../voco/adamw');
  const p = PRESETS[preset];
  const model = VocoModel.create(p, cropSize, 1);
  const t = (cropSize / p.patch) ** 3;
  const tokens = tf.randomUniform([crops, t, p.patch ** 3]) as tf.Tensor3D;
  const vars = model.trainableVariables();
  const opt = new AdamW({ weightDecay: 1e-5, amsgrad: true, clipNorm: 1 });
  const time = async (f: () => Promise<void>) => {
    const ms: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      await f();
      if (i > 0) ms.push(performance.now() - t0);
    }
    return median(ms)!;
  };
  const sync = async () => {
    await vars[vars.length - 1].data(); // every backend runs in order: the last write is done when this reads
  };
  try {
    const forward = await time(async () => {
      const e = model.embed(tokens);
      await e.data();
      e.dispose();
    });
    const loss = () => tf.mean(tf.square(model.student(model.embed(tokens), true))) as tf.Scalar;
    const backward = await time(async () => {
      const { value, grads } = tf.variableGrads(loss, vars);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    });
    const { value, grads } = tf.variableGrads(loss, vars);
    const gradList = vars.map((v) => grads[v.name]);
    const adamw = await time(async () => {
      opt.apply(vars, gradList, 1e-4);
      await sync();
    });
    const ema = await time(async () => {
      model.emaUpdate(0.9);
      await sync();
    });
    tf.dispose([value, ...gradList]);
    const params = vars.reduce((a, v) => a + v.size, 0);
    return { preset, crops, params, forwardMs: forward, forwardBackwardMs: backward, adamwMs: adamw, emaMs: ema };
  } finally {
    tokens.dispose();
    opt.dispose();
    model.dispose();
  }
}

/** Plain a·b GFLOP/s for [m, k]·[k, n] shapes: same b every time (packed weights cached) vs a fresh b each call. */
async function matmulShapes(shapes: [number, number, number][], reps: number) {
  const out: { m: number; k: number; n: number; cachedGflops: number; freshGflops: number }[] = [];
  for (const [m, k, n] of shapes) {
    const a = tf.randomUniform([m, k]);
    const b = tf.randomUniform([k, n]);
    const run = async (fresh: boolean) => {
      const ms: number[] = [];
      for (let i = 0; i <= reps; i++) {
        const bb = fresh ? tf.clone(b) : b;
        if (fresh) await bb.data();
        const t0 = performance.now();
        const y = tf.matMul(a, bb);
        await y.data();
        if (i > 0) ms.push(performance.now() - t0);
        y.dispose();
        if (fresh) bb.dispose();
      }
      return (2 * m * k * n) / (median(ms)! * 1e6);
    };
    out.push({ m, k, n, cachedGflops: await run(false), freshGflops: await run(true) });
    tf.dispose([a, b]);
  }
  return out;
}

export interface ProductCase {
  batch: number;
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** Median ms and GFLOP/s of tf.matMul for each case, with a fresh right operand every call (as in training). */
async function products(cases: ProductCase[], reps: number) {
  const out: (ProductCase & { ms: number; gflops: number })[] = [];
  for (const c of cases) {
    const lead = c.batch > 1 ? [c.batch] : [];
    const a = tf.randomUniform([...lead, ...(c.transposeA ? [c.k, c.m] : [c.m, c.k])]);
    const b = tf.randomUniform([...lead, ...(c.transposeB ? [c.n, c.k] : [c.k, c.n])]);
    const ms: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const bb = tf.add(b, 0); // a new tensor id: XNNPACK caches packed operands per id
      await bb.data();
      const t0 = performance.now();
      const y = tf.matMul(a, bb, c.transposeA, c.transposeB);
      await y.data();
      if (i > 0) ms.push(performance.now() - t0);
      tf.dispose([y, bb]);
    }
    const med = median(ms)!;
    out.push({ ...c, ms: med, gflops: (2 * c.batch * c.m * c.k * c.n) / (med * 1e6) });
    tf.dispose([a, b]);
  }
  return out;
}

/**
 * Memory-bandwidth probe for the roofline line: y = −x over `floats` values (one read and one write per value),
 * median GB/s over rounds after a warm-up; GPU backends queue 4 per round like the matmul probe.
 */
async function bandwidth(floats: number, budgetMs: number) {
  const x = tf.randomUniform([floats], -1, 1, 'float32', 3);
  const gpu = tf.getBackend() === 'webgpu' || tf.getBackend() === 'webgl';
  const perRound = gpu ? 4 : 1;
  try {
    const warm = tf.neg(x);
    await warm.data();
    warm.dispose();
    const rates: number[] = [];
    const start = performance.now();
    while (rates.length < 3 || (performance.now() - start < budgetMs && rates.length < 50)) {
      const t0 = performance.now();
      let last: tf.Tensor | null = null;
      for (let i = 0; i < perRound; i++) {
        last?.dispose();
        last = tf.neg(x);
      }
      // Read one value back: waits for the queue without timing a 16 MB download.
      const probe = tf.slice(last!, [0], [1]);
      await probe.data();
      probe.dispose();
      last!.dispose();
      rates.push((perRound * floats * 8) / ((performance.now() - t0) * 1e6));
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return { floats, bytesPerCall: floats * 8, medianGbPerSec: sorted[sorted.length >> 1], peakGbPerSec: sorted[sorted.length - 1], rounds: rates.length };
  } finally {
    x.dispose();
  }
}

type Request =
  | { id: number; cmd: 'init'; choice: BackendChoice; opts?: InitBackendOptions }
  | { id: number; cmd: 'matmul'; sizes: number[]; budgetMs: number }
  | { id: number; cmd: 'volumes'; volumes: PreprocessedVolume[] }
  | { id: number; cmd: 'train'; req: TrainBenchRequest }
  | { id: number; cmd: 'ab'; req: Parameters<typeof abSteps>[0] }
  | { id: number; cmd: 'profileAb'; req: Parameters<typeof profileAb>[0] }
  | { id: number; cmd: 'switches'; switches: KernelSwitches }
  | { id: number; cmd: 'crop' }
  | { id: number; cmd: 'bandwidth'; floats: number; budgetMs: number }
  | { id: number; cmd: 'products'; cases: ProductCase[]; reps: number }
  | { id: number; cmd: 'shapes'; shapes: [number, number, number][]; reps: number }
  | { id: number; cmd: 'phases'; preset: string; cropSize: number; crops: number; reps: number }
  | { id: number; cmd: 'similarityMap'; preset: string; cropSize: number }
  | { id: number; cmd: 'variants'; args: [number, number, number, number, number, number, number] };

self.onmessage = async (e: MessageEvent<Request>) => {
  const msg = e.data;
  try {
    let value: unknown;
    if (msg.cmd === 'init') value = await initBackend(msg.choice, msg.opts);
    else if (msg.cmd === 'matmul') {
      const out = [];
      for (const size of msg.sizes) out.push(await measureMatmul(size, { budgetMs: msg.budgetMs, minRounds: 2 }));
      value = out;
    } else if (msg.cmd === 'volumes') {
      volumes = msg.volumes;
      value = volumes.length;
    } else if (msg.cmd === 'train') value = await train(msg.req);
    else if (msg.cmd === 'ab') value = await abSteps(msg.req);
    else if (msg.cmd === 'profileAb') value = await profileAb(msg.req);
    else if (msg.cmd === 'bandwidth') value = await bandwidth(msg.floats, msg.budgetMs);
    else if (msg.cmd === 'switches') value = applySwitches(msg.switches);
    else if (msg.cmd === 'crop') {
      const { benchCropSampler } = await import('../kernels');
      value = await benchCropSampler(tf.getBackend() as 'cpu' | 'wasm' | 'webgl' | 'webgpu', { minMs: 1000 });
    } else if (msg.cmd === 'variants') value = await matmulVariants(...msg.args);
    else if (msg.cmd === 'phases') value = await phases(msg.preset, msg.cropSize, msg.crops, msg.reps);
    else if (msg.cmd === 'shapes') value = await matmulShapes(msg.shapes, msg.reps);
    else if (msg.cmd === 'products') value = await products(msg.cases, msg.reps);
    else if (msg.cmd === 'similarityMap') value = await similarityMap(msg.preset, msg.cropSize);
    else throw new Error(`unknown bench command ${(msg as { cmd: string }).cmd}`);
    self.postMessage({ id: msg.id, ok: true, value });
  } catch (err) {
    self.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? `${err.message}` : String(err) });
  }
};
