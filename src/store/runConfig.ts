// The run configuration: defaults, JSON (de)serialisation and the checks that refuse an invalid run
// before anything starts. Pure functions (no React, no tensors), so they are unit-tested under Node.
import type { BackendChoice, RunConfig } from '../worker/protocol';
import { SWIN_MIN_CROP } from '../model/swin/config';
import { swinActivationBytes } from '../model/swin/memory';
import { resampledRasDims } from '../volume/rasGrid';
import type { PreprocessSettings } from '../preprocess/settings';

/** The parts of an encoder preset (src/model/presets.ts) that validation and the memory estimate need. */
export interface PresetShape {
  name: string;
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  headHidden: number;
  headOut: number;
  /** 'swin': the authors' backbone (src/model/swin/), which takes voxel crops and needs r ≥ 64. */
  family?: 'vit' | 'swin';
  featureSize?: number;
  /** Embedding taps (src/model/presets.ts); the embedding is stageEnds.length × dim wide. Default 5. */
  stageEnds?: readonly number[];
}

/** A participating volume as validation sees it: its voxel counts at the target spacing, before padding. */
export interface VolumeShape {
  id: string;
  name: string;
  dims: [number, number, number];
}

/** The WebGPU limits that bound a single buffer (GPUSupportedLimits subset). */
export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** A software adapter (SwiftShader, llvmpipe…): 'auto' never picks it, so an auto run lands on wasm. */
  software?: boolean;
}

export interface ConfigIssue {
  /** The field to highlight ('volumes' for the volume selection, 'gpu' for buffer limits). */
  field: keyof RunConfig | 'volumes' | 'gpu';
  message: string;
}

export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * Studio defaults: the recipe of docs/recipe.md (found by scripts/recipe-experiment.ts): preset S, 3 mm isotropic,
 * n = 3, r = 16, whole-volume mode (each scan resized to 48×48×16, the reference's mode for whole-body data), lr 3e-4
 * with 20 warmup steps over 300 steps, no clipping. A step costs about a fifth of B's at r = 32, so the run ends in
 * about 83 s on a 2-core CPU; held out, it reached position accuracy 0.63 (3 seeds) and similarity maps a little
 * better than untrained. The 1000-step schedule that 5 minutes would buy was tried and is not better (docs/recipe.md).
 */
export const DEFAULT_RUN_CONFIG: RunConfig = {
  volumeIds: [],
  preset: 'S',
  gridN: 3,
  cropSize: 16,
  spacing: [3, 3, 3],
  huWindow: [-175, 250],
  batchVolumes: 2,
  randomCrops: 2,
  lr: 3e-4,
  warmupSteps: 20,
  totalSteps: 300,
  weightDecay: 0.01, // the reference's AdamW default
  gradClip: 0, // the reference never clips (its clip_grad_norm_ sits in the non-AMP branch only)
  seed: 42,
  backend: 'auto',
  checkpointEvery: 25,
  dataMode: 'whole',
};

export const DATA_MODE_CHOICES: NonNullable<RunConfig['dataMode']>[] = ['region', 'whole'];

/** The training region of one volume in voxels: n·r × n·r × r (the base-crop grid spans x and y). */
export function regionSize(config: Pick<RunConfig, 'gridN' | 'cropSize'>): [number, number, number] {
  const side = config.gridN * config.cropSize;
  return [side, side, config.cropSize];
}

/**
 * The preprocessing settings of a run: its spacing and HU window, padded to at least its training region.
 * The one source of truth: the Preprocess panel edits these fields of the run draft, and the "as the model
 * sees it" view, the run and the benchmark all preprocess with what this returns.
 */
export function preprocessSettingsOf(config: Pick<RunConfig, 'spacing' | 'huWindow' | 'gridN' | 'cropSize'>): PreprocessSettings {
  return { spacing: [...config.spacing] as [number, number, number], huWindow: [...config.huWindow] as [number, number], minSize: regionSize(config) };
}

/** Crops per step: B volumes × (n² base crops + sw random crops). */
export function cropsPerStep(config: Pick<RunConfig, 'gridN' | 'batchVolumes' | 'randomCrops'>): number {
  return config.batchVolumes * (config.gridN * config.gridN + config.randomCrops);
}

/** Voxel counts of a raw volume resampled to the target spacing (the fg crop can only make it smaller). */
export function resampledDims(
  dims: readonly number[],
  spacing: readonly number[],
  target: readonly number[],
): [number, number, number] {
  return [0, 1, 2].map((a) => Math.max(1, Math.round((dims[a] * spacing[a]) / target[a]))) as [number, number, number];
}

/** The size the preprocessing resamples a scan to (RAS order): the same axis mapping as src/preprocess. */
export { resampledRasDims };

export interface StepMemoryEstimate {
  /**
   * Peak bytes of live tensors during one training step: parameters with optimizer state and the teacher head,
   * gradients, activations kept for backprop, the packed volumes. Calibrated against tf.profile's peakBytes
   * (`npm run bench` prints estimate and measurement side by side).
   */
  totalBytes: number;
  /** Stored between steps: weights, AdamW m, v, amsgrad max, the teacher head (and the packed volumes, if given). */
  parameterBytes: number;
  /** What one step adds on top: gradients and activations. */
  activationBytes: number;
  /** Expected size of the wasm heap (WebAssembly.Memory) after a step: totalBytes plus allocator slack. */
  wasmHeapBytes: number;
  /** The largest single tensor of the step and what it is (bounded by GPU buffer limits). */
  largestBuffer: { bytes: number; what: string };
}

const F32 = 4;

/**
 * The wasm backend's heap can grow to 4 GiB (tfjs-backend-wasm's threaded build declares 65536 pages of 64 KiB);
 * a step that needs more fails with "out of memory" and the page must be reloaded.
 */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

/**
 * Coefficients of the tf-op path (WebGPU, WebGL; measured with tf.profile's peakBytes on wasm before its fused kernels) (tiny, S, B, L, H at r = 16 and 32, 22 and 26
 * crops; least squares, within ±10 % for every preset but tiny at r = 16, which it over-estimates by 30 %), in float32 values:
 * - per trainable parameter during the step: its gradient and the squared gradient of the norm (2.33);
 * - per crop, block and token·channel: everything tfjs keeps for backprop (115.5: each elementwise op of the block
 *   keeps its output until the backward pass has used it, and the backward pass makes as many again);
 * - per crop, block, head and token²: the attention scores and their softmax chain (7.5, from tiny at r = 32, where
 *   T = 512 and the scores dominate: 1018 MiB measured in Chromium);
 * - per crop voxel: crop tokens, patch embedding and its gradient (15.5); plus 0.6 M values of fixed scratch.
 * The wasm heap ends about 1.2× the peak (allocator fragmentation, XNNPACK's packed operands).
 */
const MEM = { perParam: 2.33, perTokenChannel: 115.5, perScore: 7.5, perVoxel: 15.5, fixed: 6e5, heapSlack: 1.2 };

/**
 * cpu and wasm run LayerNorm, GELU and attention's softmax as fused kernels (src/kernels/layerNormRows.ts,
 * geluTanh.ts, softmaxRows.ts) and share the buffers tfjs saves for backprop (wasmIdentityShare.ts), so a step keeps
 * about half as much: the two activation coefficients refitted on wasm (tiny, S, B, L at r = 32, 22 crops: within
 * 5 % each; H at r = 32, not in the fit: estimate ÷ measured 1.02). WebGPU and WebGL keep the tf-op path above.
 */
const MEM_FUSED = { ...MEM, perTokenChannel: 57.1, perScore: 4.0 };

/**
 * Memory of one step of the VoCo ViT encoder at this configuration: every crop is patch-embedded into T = (r/p)³
 * tokens of width D and passes `depth` transformer blocks once (student and teacher share the encoder and differ in
 * their heads). `params` is the trainable parameter count (encoder + student head, paramCount().total);
 * `volumeVoxels` the packed training volumes, when known.
 */
export function estimateStepMemory(
  preset: PresetShape,
  config: RunConfig,
  params: number,
  volumeVoxels = 0,
  /** The step runs on cpu or wasm (fused kernels); 'auto' counts as a GPU unless the caller knows it lands on wasm. */
  fusedKernels = config.backend === 'wasm' || config.backend === 'cpu',
): StepMemoryEstimate {
  const n = cropsPerStep(config);
  if (preset.family === 'swin' && preset.featureSize) {
    // The authors' backbone: activations from its own per-stage count (model/swin/memory.ts, not fitted like MEM).
    const cfg = { featureSize: preset.featureSize, headHidden: preset.headHidden, headOut: preset.headOut, downsample: 'merging' as const };
    const a = swinActivationBytes(cfg, config.cropSize, n);
    const h = preset.headHidden;
    const teacherHead = 24 * preset.featureSize * h + h + h * h + h + h * preset.headOut + preset.headOut;
    const parameterBytes = (4 * params + teacherHead + volumeVoxels) * F32;
    const activationBytes = Math.round(MEM.perParam * params) * F32 + a.bytes;
    const totalBytes = parameterBytes + activationBytes;
    return { totalBytes, parameterBytes, activationBytes, wasmHeapBytes: Math.round(totalBytes * MEM.heapSlack), largestBuffer: a.largest };
  }
  const g = config.cropSize / preset.patch;
  const tokens = g * g * g;
  const voxels = config.cropSize ** 3;
  const embed = (preset.stageEnds?.length ?? 5) * preset.dim;
  const h = preset.headHidden;
  const teacherHead = embed * h + h + h * h + h + h * preset.headOut + preset.headOut;
  const parameterBytes = (4 * params + teacherHead + volumeVoxels) * F32;
  const k = fusedKernels ? MEM_FUSED : MEM;
  const activations =
    MEM.perParam * params +
    n * preset.depth * (k.perTokenChannel * tokens * preset.dim + k.perScore * preset.heads * tokens * tokens) +
    MEM.perVoxel * n * voxels +
    MEM.fixed;
  const activationBytes = Math.round(activations) * F32;
  const totalBytes = parameterBytes + activationBytes;
  const candidates = [
    { bytes: n * voxels * F32, what: `crop tokens (${n} crops × ${config.cropSize}³ voxels)` },
    { bytes: n * preset.heads * tokens * tokens * F32, what: `attention scores (${n} crops × ${preset.heads} heads × ${tokens}² tokens)` },
    { bytes: n * tokens * preset.dim * preset.mlpRatio * F32, what: `MLP hidden activations (${n} crops × ${tokens} tokens × ${preset.dim * preset.mlpRatio})` },
    { bytes: n * tokens * preset.dim * 3 * F32, what: `q/k/v projections (${n} crops × ${tokens} tokens × ${3 * preset.dim})` },
  ];
  const largestBuffer = candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { totalBytes, parameterBytes, activationBytes, wasmHeapBytes: Math.round(totalBytes * MEM.heapSlack), largestBuffer };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * Why a training step of this configuration cannot run on the wasm backend it would use ('wasm', or 'auto' without a
 * WebGPU adapter), with the numbers; null when it fits or would run on a GPU. Also used when an imported model is
 * opened for more pre-training (its configuration never passes the setup form).
 */
export function wasmHeapRefusal(preset: PresetShape, config: RunConfig, params: number, volumeVoxels: number, gpuLimits: Pick<GpuLimits, 'maxStorageBufferBindingSize' | 'software'> | null): string | null {
  const wasmLikely = config.backend === 'wasm' || (config.backend === 'auto' && (!gpuLimits || gpuLimits.software === true));
  if (!wasmLikely) return null;
  const est = estimateStepMemory(preset, config, params, volumeVoxels, true);
  if (est.wasmHeapBytes <= WASM_HEAP_LIMIT_BYTES) return null;
  return (
    `preset ${preset.name} at r = ${config.cropSize} with ${cropsPerStep(config)} crops per step needs about ${formatBytes(est.wasmHeapBytes)} ` +
    `of wasm heap (${formatBytes(est.totalBytes)} of tensors at the step's peak), over the ${formatBytes(WASM_HEAP_LIMIT_BYTES)} a wasm backend ` +
    `can address; lower B, sw or r, or choose a smaller preset`
  );
}

export interface ValidationContext {
  /** Every loaded volume the run may use (the config's volumeIds pick from these). */
  volumes: VolumeShape[];
  /** The preset named by config.preset, or undefined when no such preset exists. */
  preset: PresetShape | undefined;
  /** Parameter count of the preset at this crop size (for the memory estimate); optional. */
  params?: number;
  /** WebGPU limits, when the run may use WebGPU ('auto' or 'webgpu') and an adapter was found. */
  gpuLimits?: GpuLimits | null;
}

const isInt = (v: number) => Number.isInteger(v);
const isFinitePositive = (v: number) => Number.isFinite(v) && v > 0;

/** Every reason the configuration cannot run; empty when it can. Messages name the numbers involved. */
export function validateRunConfig(config: RunConfig, ctx: ValidationContext): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bad = (field: ConfigIssue['field'], message: string) => issues.push({ field, message });
  const { preset } = ctx;

  // Volumes.
  const unique = new Set(config.volumeIds);
  if (unique.size !== config.volumeIds.length) bad('volumes', 'a volume is selected twice');
  const chosen: VolumeShape[] = [];
  for (const id of unique) {
    const v = ctx.volumes.find((x) => x.id === id);
    if (!v) bad('volumes', `volume "${id}" is not loaded`);
    else chosen.push(v);
  }
  if (chosen.length < 2) {
    bad('volumes', `${chosen.length} volume${chosen.length === 1 ? '' : 's'} selected; VoCo contrasts volumes with each other and needs at least 2`);
  }

  // Grid and crops.
  if (!isInt(config.gridN) || config.gridN < 2 || config.gridN > 8) bad('gridN', `grid n = ${config.gridN}: must be an integer from 2 to 8`);
  if (!isInt(config.cropSize) || config.cropSize < 1) bad('cropSize', `crop size r = ${config.cropSize}: must be a positive integer`);
  if (!preset) {
    bad('preset', `unknown model preset "${config.preset}"`);
  } else if (preset.family === 'swin' && isInt(config.cropSize) && (config.cropSize < SWIN_MIN_CROP || config.cropSize % 32 !== 0)) {
    bad(
      'cropSize',
      `crop size r = ${config.cropSize}: preset ${preset.name} (the authors' Swin backbone) needs r ≥ ${SWIN_MIN_CROP} and a multiple of 32 — ` +
        `its four 2× merges after the 2× patch embedding leave r/32 voxels per side (at r = 32 a single voxel, where instance norm is undefined)`,
    );
  } else if (isInt(config.cropSize) && config.cropSize % preset.patch !== 0) {
    bad('cropSize', `crop size r = ${config.cropSize} is not a multiple of preset ${preset.name}'s patch size ${preset.patch}`);
  }

  if (!isInt(config.batchVolumes) || config.batchVolumes < 2) {
    bad('batchVolumes', `volumes per batch B = ${config.batchVolumes}: must be an integer ≥ 2 (the inter-volume loss pairs volumes)`);
  } else if (chosen.length >= 2 && config.batchVolumes > chosen.length) {
    bad('batchVolumes', `volumes per batch B = ${config.batchVolumes} but only ${chosen.length} volumes are selected`);
  }
  if (!isInt(config.randomCrops) || config.randomCrops < 1) bad('randomCrops', `random crops per volume sw = ${config.randomCrops}: must be an integer ≥ 1`);

  const mode = config.dataMode ?? 'region';
  if (!DATA_MODE_CHOICES.includes(mode)) bad('dataMode', `data mode "${String(mode)}": choose ${DATA_MODE_CHOICES.join(' or ')}`);

  // No check of the region against each volume: preprocessing pads a scan smaller than n·r × n·r × r
  // (SpatialPadd, as the reference does), so a small scan is padded, never refused; whole-volume mode resizes it.

  // Preprocessing.
  if (!(config.spacing?.length === 3 && config.spacing.every(isFinitePositive))) bad('spacing', `target spacing ${JSON.stringify(config.spacing)}: needs three positive sizes in mm`);
  if (!(config.huWindow?.length === 2 && config.huWindow.every(Number.isFinite) && config.huWindow[0] < config.huWindow[1])) {
    bad('huWindow', `HU window ${JSON.stringify(config.huWindow)}: needs [low, high] with low < high`);
  }

  // Optimisation.
  if (!isFinitePositive(config.lr) || config.lr > 1) bad('lr', `learning rate ${config.lr}: must be in (0, 1]`);
  if (!isInt(config.totalSteps) || config.totalSteps < 1) bad('totalSteps', `total steps ${config.totalSteps}: must be an integer ≥ 1`);
  if (!isInt(config.warmupSteps) || config.warmupSteps < 0) bad('warmupSteps', `warmup ${config.warmupSteps}: must be an integer ≥ 0`);
  else if (isInt(config.totalSteps) && config.warmupSteps >= config.totalSteps) {
    bad('warmupSteps', `warmup ${config.warmupSteps} must be shorter than the ${config.totalSteps} total steps`);
  }
  if (!(Number.isFinite(config.weightDecay) && config.weightDecay >= 0)) bad('weightDecay', `weight decay ${config.weightDecay}: must be ≥ 0`);
  if (!(Number.isFinite(config.gradClip) && config.gradClip >= 0)) bad('gradClip', `gradient clip ${config.gradClip}: must be ≥ 0 (0 disables)`);
  if (!isInt(config.seed) || config.seed < 0 || config.seed > 0xffffffff) bad('seed', `seed ${config.seed}: must be an integer from 0 to 4294967295`);
  if (!BACKEND_CHOICES.includes(config.backend)) bad('backend', `backend "${config.backend}": choose one of ${BACKEND_CHOICES.join(', ')}`);
  if (!isInt(config.checkpointEvery) || config.checkpointEvery < 0) bad('checkpointEvery', `checkpoint interval ${config.checkpointEvery}: must be an integer ≥ 0 (0 disables)`);

  // The wasm heap: a step that outgrows it fails with "out of memory" and costs a reload; refuse before starting.
  // 'auto' lands on wasm where there is no WebGPU adapter or only a software one (auto never picks it).
  if (preset && issues.length === 0 && ctx.params !== undefined) {
    const packedVoxels = chosen.reduce((s, v) => s + v.dims[0] * v.dims[1] * v.dims[2], 0);
    const refusal = wasmHeapRefusal(preset, config, ctx.params, packedVoxels, ctx.gpuLimits ?? null);
    if (refusal) bad('preset', refusal);
  }

  // GPU buffer limits: a single tensor larger than a storage binding silently computes garbage on WebGPU.
  const canCheckGpu = preset && ctx.gpuLimits && (config.backend === 'webgpu' || (config.backend === 'auto' && !ctx.gpuLimits.software));
  if (canCheckGpu && issues.length === 0) {
    const limit = Math.min(ctx.gpuLimits!.maxStorageBufferBindingSize, ctx.gpuLimits!.maxBufferSize);
    const est = estimateStepMemory(preset!, config, ctx.params ?? 0);
    if (est.largestBuffer.bytes > limit) {
      bad('gpu', `the crop batch does not fit the GPU's buffer limit: ${est.largestBuffer.what} need ${formatBytes(est.largestBuffer.bytes)}, the limit is ${formatBytes(limit)}; lower B, sw or r`);
    }
    const packed = chosen.reduce((s, v) => s + Math.max(v.dims[0], regionSize(config)[0]) * Math.max(v.dims[1], regionSize(config)[1]) * Math.max(v.dims[2], config.cropSize), 0) * F32;
    if (packed > limit) {
      bad('gpu', `the selected volumes need ${formatBytes(packed)} on the GPU as one buffer, over the limit of ${formatBytes(limit)}; select fewer volumes or a coarser spacing`);
    }
  }
  return issues;
}

// ---- JSON ----------------------------------------------------------------------------------------------

export const RUN_CONFIG_FORMAT = 'voco-studio-run-config';

export function serializeRunConfig(config: RunConfig): string {
  return JSON.stringify({ format: RUN_CONFIG_FORMAT, version: 1, config }, null, 2);
}

const NUMBER_FIELDS = [
  'gridN', 'cropSize', 'batchVolumes', 'randomCrops', 'lr', 'warmupSteps', 'totalSteps', 'weightDecay', 'gradClip', 'seed', 'checkpointEvery',
] as const satisfies readonly (keyof RunConfig)[];

/**
 * Reads a run configuration from JSON text (the exported file, or a bare RunConfig object).
 * Throws an Error that names the source and every field that is missing or of the wrong type.
 * Only shape is checked here; whether the run can start is validateRunConfig's job.
 */
export function parseRunConfig(text: string, source = 'config JSON'): RunConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not JSON: ${(e as Error).message}`);
  }
  return runConfigFromObject(doc, source);
}

export function runConfigFromObject(doc: unknown, source = 'config'): RunConfig {
  if (!doc || typeof doc !== 'object') throw new Error(`${source} is not a VoCo run configuration (expected an object)`);
  const wrapped = doc as { format?: unknown; config?: unknown };
  if (wrapped.format !== undefined && wrapped.format !== RUN_CONFIG_FORMAT) {
    throw new Error(`${source} has format "${String(wrapped.format)}", expected "${RUN_CONFIG_FORMAT}"`);
  }
  const c = (wrapped.format === RUN_CONFIG_FORMAT ? wrapped.config : doc) as Record<string, unknown>;
  if (!c || typeof c !== 'object') throw new Error(`${source} is not a VoCo run configuration (no "config" object)`);
  const problems: string[] = [];
  const numTuple = (k: string, n: number) =>
    Array.isArray(c[k]) && (c[k] as unknown[]).length === n && (c[k] as unknown[]).every((x) => typeof x === 'number');
  if (!Array.isArray(c.volumeIds) || !c.volumeIds.every((x) => typeof x === 'string')) problems.push('volumeIds (list of strings)');
  if (typeof c.preset !== 'string') problems.push('preset (string)');
  for (const k of NUMBER_FIELDS) if (typeof c[k] !== 'number') problems.push(`${k} (number)`);
  if (!numTuple('spacing', 3)) problems.push('spacing ([x, y, z] mm)');
  if (!numTuple('huWindow', 2)) problems.push('huWindow ([low, high])');
  if (typeof c.backend !== 'string' || !BACKEND_CHOICES.includes(c.backend as BackendChoice)) problems.push(`backend (${BACKEND_CHOICES.join('|')})`);
  if (c.halfPrecisionMatmul !== undefined && typeof c.halfPrecisionMatmul !== 'boolean') problems.push('halfPrecisionMatmul (true|false)');
  if (c.dataMode !== undefined && !DATA_MODE_CHOICES.includes(c.dataMode as 'region')) problems.push(`dataMode (${DATA_MODE_CHOICES.join('|')})`);
  if (problems.length) throw new Error(`${source} is not a valid VoCo run configuration; missing or wrong: ${problems.join(', ')}`);
  // Fields added to RunConfig later pass through untouched; the known ones are copied and checked above.
  const out: RunConfig = {
    ...(c as unknown as RunConfig),
    volumeIds: [...(c.volumeIds as string[])],
    preset: c.preset as string,
    gridN: c.gridN as number,
    cropSize: c.cropSize as number,
    spacing: [...(c.spacing as number[])] as [number, number, number],
    huWindow: [...(c.huWindow as number[])] as [number, number],
    batchVolumes: c.batchVolumes as number,
    randomCrops: c.randomCrops as number,
    lr: c.lr as number,
    warmupSteps: c.warmupSteps as number,
    totalSteps: c.totalSteps as number,
    weightDecay: c.weightDecay as number,
    gradClip: c.gradClip as number,
    seed: c.seed as number,
    backend: c.backend as BackendChoice,
    checkpointEvery: c.checkpointEvery as number,
    // Files written before the field existed trained on random regions.
    dataMode: (c.dataMode as RunConfig['dataMode']) ?? 'region',
  };
  return out;
}
