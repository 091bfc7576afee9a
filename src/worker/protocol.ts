// The typed message protocol between the UI (main thread) and the training worker.
// Both sides import this file and nothing else of each other. Keep messages small and serialisable.

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

/** Everything needed to re-create a run. Serialisable as JSON. */
export interface RunConfig {
  /** Ids of the participating preprocessed volumes. */
  volumeIds: string[];
  /** Model preset name (see src/model/presets.ts). */
  preset: string;
  /** Grid n (n×n base crops) and crop size r in voxels. */
  gridN: number;
  cropSize: number;
  /** Target spacing (mm) and HU window used by preprocessing. */
  spacing: [number, number, number];
  huWindow: [number, number];
  /** Volumes per batch (B ≥ 2) and random crops per volume. */
  batchVolumes: number;
  randomCrops: number;
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  weightDecay: number;
  /** Global-norm gradient clipping; 0 disables. */
  gradClip: number;
  seed: number;
  backend: BackendChoice;
  /**
   * WebGPU only, opt-in: let the studio use half-precision storage for matmul operands (rounded to f16, summed in
   * f32; src/kernels/matMulPackedHalf.ts) where it measures faster on this device. It changes the numbers, so it is
   * off unless set. Absent: false.
   */
  halfPrecisionMatmul?: boolean;
  /** Autosave a checkpoint every N steps; 0 disables. */
  checkpointEvery: number;
  /**
   * Where a training region comes from: 'region' cuts a random n·r × n·r × r window out of each volume (the
   * reference's abdomen/BTCV mode); 'whole' resizes the whole preprocessed volume to that size (the reference's mode
   * for whole-body and head-neck sets), so the base-crop grid spans the scan. Absent: 'region' (runs saved before
   * the field existed).
   */
  dataMode?: 'region' | 'whole';
  /** Crop augmentation (flips, quarter turns, intensity shift with the reference probabilities). Default true. */
  augment?: boolean;
  /** Teacher-head EMA momentum (teacher = m·teacher + (1−m)·student, applied before each teacher forward). Default 0.9. */
  emaMomentum?: number;
  /** Floor of the cosine learning-rate decay. Default 0. */
  minLr?: number;
  /**
   * Weights of the three loss terms in the total (the reference: 1, 1, 1). Experiment knob of docs/recipe.md
   * (scripts/recipe-experiment.ts --set); the studio's form does not show it. Default [1, 1, 1].
   */
  lossWeights?: [number, number, number];
  /**
   * Debug/overfit mode: every step reuses the same batch (volumes, crop plan and dropout mask are replayed).
   * Used by the overfit check in the tests; the loss must fall if the gradients are right. Default false.
   */
  fixedBatch?: boolean;
}

/** An axis-aligned crop in preprocessed voxel coordinates with its augmentation. */
export interface CropBox {
  volumeIndex: number;
  origin: [number, number, number];
  size: number;
  kind: 'base' | 'random';
  flip: [boolean, boolean, boolean];
  rot90: number;
  intensityShift: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  intra: number;
  inter: number;
  reg: number;
  lr: number;
  stepMs: number;
  /** For the position heatmaps: per volume, per random crop, n² true labels and predictions. */
  labels: number[][][];
  predictions: number[][][];
  /** Crop boxes of this step, per volume (bases then randoms), plus the region origin. */
  regions: {
    volumeId: string;
    origin: [number, number, number];
    crops: CropBox[];
    /**
     * Whole-volume mode: volume voxels per training voxel along x, y, z (origins and sizes above are on the resized
     * copy; multiply by this to place them on the volume). Absent: 1 (region mode).
     */
    scale?: [number, number, number];
  }[];
  /** Global L2 norm of the gradients of this step (before clipping). */
  gradNorm?: number;
  /**
   * Position accuracy on a fixed set of clean crops of the training volumes (Trainer.positionProbe), on every
   * Trainer.probeEvery-th step and the last; absent on the others.
   */
  probe?: { accuracy: number; crops: number; ms: number };
  /** Training health (src/voco/health.ts), on every Trainer.healthEvery-th step; absent on the others. */
  health?: StepHealth;
}

/** Training-health indicators of a step (computed in the worker; src/voco/health.ts). */
export interface StepHealth {
  /** Per-dimension std of the L2-normalised projections ×√dims, min and mean over dims (≈ 1 healthy, 0 collapsed). */
  studentStd: { min: number; mean: number };
  teacherStd: { min: number; mean: number };
  /** Effective rank (exp entropy of singular values) of the step's projections; at most rankMax (crops per step). */
  studentRank: number;
  teacherRank: number;
  rankMax: number;
  /** Mean cosine of the student and teacher projections of the same crop. */
  agreement: number;
  /** Predicted vs true overlap over the recent window's random crops × base crops. */
  calibration: { bins: { predicted: number; observed: number; count: number }[]; slope: number; correlation: number; pairs: number };
  /** Share of the window's steps whose gradient norm exceeded the clip threshold (0 when clipping is off). */
  clippedShare: number;
  gradNormMedian: number;
  /** Each loss term's trend over the window (older half vs newer half). */
  terms: { term: 'loss' | 'intra' | 'inter' | 'reg'; state: 'falling' | 'flat' | 'rising' | 'diverging' | 'too short'; before: number; after: number; z: number }[];
  /**
   * Position prediction over the window and over the first window of the run (since the tracker started: a
   * resumed run starts again): argmax accuracy against chance (1/n²), and the mean prediction on overlapped and on
   * non-overlapped base crops. Absent in records made before it existed.
   */
  position?: {
    accuracy: number;
    crops: number;
    chance: number;
    predOn: number;
    predOff: number;
    /** Steps the tracker has seen (the window holds the last of them). */
    steps: number;
    /** The clean probe (StepMetrics.probe): its latest accuracy and its first, on the same fixed crops. */
    probe?: { accuracy: number; step: number; first: number; firstStep: number; crops: number };
    start: { accuracy: number; crops: number; predOn: number; predOff: number; steps: number };
  };
  /** Steps in the window. */
  window: number;
  /** Plain-words findings with what to try, worst first. */
  diagnosis: { level: 'ok' | 'warn' | 'bad'; text: string }[];
  /** Time spent computing this health record (device reductions + readback + the pure part), ms. */
  ms: number;
}

export interface BackendInfo {
  name: BackendName;
  /** Adapter description for WebGPU (vendor/architecture), 'software' flag when SwiftShader or fallback. */
  adapter?: string;
  software: boolean;
  /** Threads used by the wasm backend. */
  wasmThreads?: number;
  /** Why this backend was chosen (measurement or user choice). */
  reason: string;
}

/**
 * Everything needed to resume a run exactly: the studio serialises it for checkpoints.
 * Plain JSON plus Float32Arrays (transferable; see trainerStateTransferables).
 */
export interface TrainerState {
  format: 'voco-trainer-state';
  version: 1;
  config: RunConfig;
  /** Number of optimizer steps taken (the next step has this index). */
  step: number;
  /** Every model weight, teacher head included, in the model's namedWeights() order. */
  weights: { name: string; shape: number[]; data: Float32Array }[];
  /** AdamW state (moments, amsgrad maxima) keyed by the optimizer's own names. */
  optimizer: { step: number; tensors: Record<string, Float32Array> };
  /** Sampling state: crop-plan RNG, the volume visiting order and where in it the next batch starts. */
  rng: number[];
  volumeOrder: number[];
  volumeCursor: number;
  /** RNG of the student-head dropout masks. */
  dropoutRng: number[];
}

/** The buffers of a TrainerState, for postMessage's transfer list (the sender's copy becomes unusable). */
export function trainerStateTransferables(state: TrainerState): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const w of state.weights) buffers.add(w.data.buffer as ArrayBuffer);
  for (const t of Object.values(state.optimizer.tensors)) buffers.add(t.buffer as ArrayBuffer);
  return [...buffers];
}

/**
 * A crop to embed (similarity maps, benchmark). Same fields as the crop sampler's CropSpec, but the volume is
 * named by its id; its size is the run's cropSize. flip/rot90/shift default to none.
 */
export interface EmbedCrop {
  volumeId: string;
  origin: [number, number, number];
  flip?: [boolean, boolean, boolean];
  rot90?: number;
  shift?: number;
}

export type TrainingState = 'idle' | 'running' | 'paused' | 'stopped' | 'done';

/**
 * Main thread → worker.
 * - configure: (re)build the trainer for a run; the worker initialises the backend (first time, or when the choice
 *   changes), packs the volumes onto the device and answers `ready` (or `error` fatal). Volumes must contain every
 *   id of config.volumeIds. Any previous run in the worker is stopped and disposed.
 * - start: train from the current step until config.totalSteps (`state` running … done). Also continues a stopped run.
 * - pause / resume: between steps; the step in flight finishes first. - stop: end the loop (`state` stopped).
 * - set-total-steps: change the schedule length of the configured run (the cosine decay follows it).
 * - checkpoint-request: answer `checkpoint` (reason 'request') with the full TrainerState, between steps.
 * - load-checkpoint: rebuild the trainer from state.config with the volumes already configured and restore weights,
 *   optimizer, step and RNGs; answers `checkpoint-loaded` and `ready`. Training continues exactly where the state left.
 * - embed: GAP embeddings of crops with the current encoder; answers `embedding`.
 * Requests with a requestId get their answer (or an `error` carrying the same requestId).
 */
export type ToWorker =
  | { type: 'configure'; config: RunConfig; volumes: import('../volume/volume').PreprocessedVolume[] }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'set-total-steps'; totalSteps: number }
  | { type: 'checkpoint-request'; requestId: number }
  | { type: 'load-checkpoint'; requestId: number; state: TrainerState }
  | { type: 'embed'; requestId: number; crops: EmbedCrop[] }
  // Similarity maps (src/worker/mapHandler.ts): see MapToWorker.
  | MapToWorker
  // Downstream benchmark (src/worker/benchmarkHandler.ts): see BenchmarkToWorker.
  | BenchmarkToWorker;

/**
 * Worker → main thread.
 * - ready: the trainer is built (after configure or load-checkpoint). paramCount = total trainable+teacher
 *   parameters; paramCounts splits it; embedDim is the length of one embedding; step is the current step index.
 * - step: metrics of every finished step. - state: the training loop's state (with the current step).
 * - error: fatal (the run cannot continue: configure again) or not (e.g. a non-finite loss: the update was skipped,
 *   the weights are the last good ones and the run is paused). requestId when it answers a request.
 * - gpu-error: an `uncapturederror` of the WebGPU device (results may be wrong; the run is paused).
 * - checkpoint: a full TrainerState, on request or every config.checkpointEvery steps (reason 'auto'); its
 *   buffers are transferred.
 * - checkpoint-loaded: answer to load-checkpoint. - embedding: answer to embed, `count` rows of `dim` floats.
 */
export type FromWorker =
  | {
      type: 'ready';
      backend: BackendInfo;
      paramCount: number;
      paramCounts?: { encoder: number; head: number; total: number };
      embedDim?: number;
      step?: number;
    }
  | { type: 'step'; metrics: StepMetrics }
  | { type: 'state'; state: TrainingState; step?: number }
  | { type: 'error'; message: string; fatal: boolean; requestId?: number }
  | { type: 'gpu-error'; message: string }
  | { type: 'checkpoint'; requestId: number | null; reason: 'request' | 'auto'; state: TrainerState }
  | { type: 'checkpoint-loaded'; requestId: number; step: number }
  | { type: 'embedding'; requestId: number; dim: number; count: number; data: Float32Array }
  | MapFromWorker
  | BenchmarkFromWorker;

// ---- similarity maps (src/worker/mapHandler.ts, src/eval/similarityMap.ts) ------------------------------------

/**
 * The weights a map is computed with: the run's encoder as it is now, the run's untrained initial weights
 * (VocoModel.create with the run's preset, crop size and seed), or the weights of a saved checkpoint of a run with
 * the same preset and crop size.
 */
export type MapWeights =
  | { kind: 'current' }
  | { kind: 'initial' }
  | { kind: 'checkpoint'; label: string; step: number; weights: TrainerState['weights'] };

export interface SimilarityMapRequest {
  /** A volume of the configured run. */
  volumeId: string;
  /** Origin of the query crop on the preprocessed grid (its r³ voxels start there; see cropOriginNear). */
  origin: [number, number, number];
  /** Window step in voxels (1 … r). */
  stride: number;
  /** 'sliding' (default) or 'tiles': non-overlapping r³ windows tiling the volume, the stride ignored (src/eval). */
  layout?: 'sliding' | 'tiles';
  /** Crops per encoder batch. Default: adaptive, about a second per batch, at most ~2 M voxels of tokens. */
  batch?: number;
  /** One map per entry, over the same windows (e.g. current and initial). */
  weights: MapWeights[];
}

/** Sliding windows: window (i, j, k) has origin first + (i, j, k)·stride, i along x (src/eval WindowGrid). */
export interface MapWindowGrid {
  r: number;
  stride: number;
  first: [number, number, number];
  counts: [number, number, number];
}

export interface SimilarityMapResult {
  volumeId: string;
  /** The query crop's origin: one of the windows. */
  origin: [number, number, number];
  grid: MapWindowGrid;
  /** Per requested weights: the cosine of every window's embedding to the query's (x fastest). */
  maps: { kind: MapWeights['kind']; label: string; step: number; values: Float32Array; querySelf: number }[];
  embedDim: number;
  /** Wall time of the job in the worker, and the backend it ran on. */
  ms: number;
  backend: string;
}

/**
 * - similarity-map: embed the query crop and every sliding window (model.embed: the encoder's GAP multi-scale
 *   features) and answer `map-result`, with `map-progress` on the way. The job holds the trainer between batches,
 *   so training steps wait (weights are constant during a map) and resume afterwards.
 * - cancel-map: stop that job between batches; it answers `map-cancelled`.
 * - crop-similarity: the cosine matrix of a few crops (e.g. the base crops of a region) per weights.
 */
export type MapToWorker =
  | { type: 'similarity-map'; requestId: number; request: SimilarityMapRequest }
  | { type: 'cancel-map'; requestId: number }
  | { type: 'crop-similarity'; requestId: number; crops: EmbedCrop[]; weights: MapWeights[] };

export type MapFromWorker =
  | { type: 'map-progress'; requestId: number; done: number; total: number }
  | { type: 'map-result'; requestId: number; result: SimilarityMapResult }
  | { type: 'map-cancelled'; requestId: number; done: number; total: number }
  | {
      type: 'crop-similarity-result';
      requestId: number;
      count: number;
      matrices: { kind: MapWeights['kind']; label: string; step: number; values: Float32Array }[];
    };

// ---- downstream benchmark (src/worker/benchmarkHandler.ts, src/eval/benchmark.ts, src/eval/tasks) -------------

/** Settings of one benchmark run; every set of weights is scored on the same crops (seeded by `seed`). */
export interface BenchmarkOptions {
  seed: number;
  /** Crop edge r in voxels (every scored weights set must be built for it) and the position task's grid n. */
  cropSize: number;
  gridN: number;
  /** Structures scored: the largest `maxStructures` label ids with ≥ minStructureVoxels voxels (or only `structures`). */
  maxStructures: number;
  minStructureVoxels: number;
  structures?: number[];
  /** Crops centred in each structure, per labelled volume (probe and retrieval). */
  cropsPerStructure: number;
  /** Share of crops (or of volumes, when there are several) held out for testing. */
  testShare: number;
  /**
   * Repeated train/test splits of the label tasks (different seeded crops and split each; every weights set is
   * scored on the same ones, so they can be compared pair by pair). Absent: 1.
   */
  splits?: number;
  /**
   * One labelled volume: 'blocks' (default) splits by blocks so that no test crop shares a voxel with a training
   * crop, and retrieval skips neighbours that share voxels with the query; 'overlapping' is the former split (crops
   * split at random per structure, overlapping neighbours allowed) — leaky, kept only to measure the leak
   * (docs/recipe.md), not offered in the panel.
   */
  oneVolumeSplit?: 'blocks' | 'overlapping';
  position: { regionsPerVolume: number; randomCrops: number };
  probe: { iterations: number; l2: number };
  segmentation: {
    /** K labelled training crops (the few shots) and the test crops. */
    shots: number;
    testCrops: number;
    iterations: number;
    /** false: encoder frozen, only the head learns; true: encoder fine-tuned with the head (lr/10 for the encoder). */
    fineTune: boolean;
    lr: number;
    /** Hidden width of the per-token head (0: linear). */
    hidden: number;
  };
  retrieval: { k: number };
}

/** One set of weights to score. */
export interface BenchmarkWeightsSpec {
  id: string;
  label: string;
  preset: string;
  cropSize: number;
  seed: number;
  /** Pre-training steps behind the weights (0: the random initialisation). */
  step: number;
  source: 'initial' | 'run' | 'checkpoint' | 'sweep';
  /** Every model weight by name; absent: VocoModel.create(preset, cropSize, seed), the run's random initial weights. */
  weights?: TrainerState['weights'];
}

/** Pre-train each preset on the pre-training volumes and score it at several lengths (the scaling view). */
export interface BenchmarkSweep {
  presets: string[];
  /** Steps at which the weights are scored, ascending; 0 scores the random initialisation. */
  steps: number[];
  /** Training settings (volumes: the request's pretrainVolumeIds; preset and totalSteps per run). */
  train: Omit<RunConfig, 'volumeIds' | 'preset' | 'totalSteps'>;
}

export interface BenchmarkRequest {
  /** Task ids of src/eval/tasks (catalog.ts). */
  tasks: string[];
  options: BenchmarkOptions;
  /** Every volume the run needs (evaluation and pre-training), preprocessed; labels where paired. */
  volumes: import('../volume/volume').PreprocessedVolume[];
  /** Volumes the tasks score on. */
  evalVolumeIds: string[];
  /** Volumes the weights were (or the sweep is) pre-trained on: position prediction leaves them out. */
  pretrainVolumeIds: string[];
  /** Structure names by label id. */
  labelNames: Record<number, string>;
  weights: BenchmarkWeightsSpec[];
  sweep?: BenchmarkSweep;
  backend: BackendChoice;
}

/** A scored weights set, as the table and the scaling plots show it. */
export interface BenchmarkWeightsInfo {
  id: string;
  label: string;
  preset: string;
  cropSize: number;
  seed: number;
  step: number;
  source: BenchmarkWeightsSpec['source'];
  /** Encoder parameters (the scaling plot's x) and everything trained (encoder + one head). */
  encoderParams: number;
  totalParams: number;
}

/** One score: a task's metric for one weights set. */
export interface BenchmarkScore {
  weightsId: string;
  task: string;
  metric: string;
  value: number;
  /** What features without information would score (majority class, random neighbours…), when defined. */
  chance?: number;
  /** Per structure (Dice, F1) by structure name. */
  perStructure?: Record<string, number>;
  /** Test items behind the score (crops; of the first split when there are several). */
  n: number;
  /** The score of each repeated split (options.splits > 1), in split order; `value` is their mean. */
  splitValues?: number[];
  /** How the data was split or anything that qualifies the score. */
  notes: string[];
  ms: number;
}

/** A point of a task's learning curve (e.g. test Dice after 40 iterations) for one weights set. */
export interface BenchmarkCurvePoint {
  weightsId: string;
  task: string;
  series: string;
  x: number;
  y: number;
}

export type BenchmarkEvent =
  | { kind: 'status'; message: string; done: number; total: number }
  | { kind: 'weights'; weights: BenchmarkWeightsInfo }
  | { kind: 'curve'; points: BenchmarkCurvePoint[] }
  | { kind: 'scores'; scores: BenchmarkScore[] }
  | { kind: 'skipped'; task: string; weightsId: string | null; reason: string }
  | { kind: 'pretrain'; preset: string; step: number; loss: number };

export interface BenchmarkResult {
  weights: BenchmarkWeightsInfo[];
  scores: BenchmarkScore[];
  curves: BenchmarkCurvePoint[];
  skipped: { task: string; weightsId: string | null; reason: string }[];
  /** The structures scored (label id and name). */
  structures: { id: number; name: string }[];
  backend: string;
  ms: number;
}

/**
 * - benchmark-run: score the weights (and the sweep) on the tasks; answers `benchmark-progress` events as scores
 *   and curve points arrive, then `benchmark-result` (or `error` with the requestId). One run at a time: a second
 *   request waits for the first.
 * - benchmark-cancel: stop that run between tasks / iterations; it answers `benchmark-cancelled`.
 */
export type BenchmarkToWorker =
  | { type: 'benchmark-run'; requestId: number; request: BenchmarkRequest }
  | { type: 'benchmark-cancel'; requestId: number };

export type BenchmarkFromWorker =
  | { type: 'benchmark-progress'; requestId: number; event: BenchmarkEvent }
  | { type: 'benchmark-result'; requestId: number; result: BenchmarkResult }
  | { type: 'benchmark-cancelled'; requestId: number };
