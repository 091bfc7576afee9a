// An imported checkpoint becomes a saved run like any other: its weights (the mapped ones, plus fresh heads when
// the file has none) as the run's checkpoint, its step = the file's global_step, its config = the preset the
// feature size implies with the draft's other settings. It has no input volumes: it was trained elsewhere, so it
// is used for maps and the benchmark, and continued as a new run on the user's scans. Tensor-free.
import type { ImportReport } from '../model/checkpoints/keyMap';
import { freshHeadWeights } from '../model/checkpoints/freshHeads';
import type { NamedFloat32 } from '../model/checkpoints/export';
import { Rng } from '../voco/rng';
import type { RunConfig, TrainerState } from '../worker/protocol';
import { newRunId, type SavedRun } from './savedRun';
import { METRIC_COLUMNS, type MetricsSnapshot } from '../store/metricsHistory';

export interface ImportedRunOptions {
  /** The studio preset for this feature size and head width. */
  preset: string;
  /** The run settings to start from (crop size, seed… of the setup draft); volumes are dropped. */
  base: RunConfig;
  /** A crop size the preset accepts (e.g. ≥ 64 for the reference encoder). */
  cropSize: number;
  /** The model's own weight order and layout: PyTorch-layout weight → what TrainerState holds for the preset. */
  toModel: (w: NamedFloat32) => NamedFloat32;
  /** Model's weight names in order (namedWeights()), to check the result is complete. */
  modelKeys: string[];
  now?: number;
}

export function importedRun(report: ImportReport, weights: NamedFloat32[], opts: ImportedRunOptions): SavedRun {
  if (!report.usable || report.featureSize === null || report.headWidth === null) throw new Error(`${report.file} cannot be used: ${report.refusals.join('; ')}`);
  const step = report.globalStep ?? 0;
  const config: RunConfig = { ...opts.base, volumeIds: [], preset: opts.preset, cropSize: opts.cropSize, totalSteps: Math.max(opts.base.totalSteps, step) };
  const all = [...weights, ...freshHeadWeights(report.featureSize, report.headWidth, config.seed, report.freshHeads)];
  const byName = new Map(all.map((w) => [w.name, w]));
  const missing = opts.modelKeys.filter((k) => !byName.has(k));
  if (missing.length) throw new Error(`${report.file}: the ${opts.preset} model also needs ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}`);
  const extra = all.filter((w) => !opts.modelKeys.includes(w.name));
  if (extra.length) throw new Error(`${report.file}: ${extra[0].name} is not a weight of the ${opts.preset} model`);
  const state: TrainerState = {
    format: 'voco-trainer-state',
    version: 1,
    config,
    step,
    weights: opts.modelKeys.map((k) => opts.toModel(byName.get(k)!)),
    optimizer: { step: 0, tensors: {} },
    rng: new Rng(config.seed).getState(),
    volumeOrder: [],
    volumeCursor: 0,
    dropoutRng: new Rng(config.seed ^ 0x5bd1e995).getState(),
  };
  const now = opts.now ?? Date.now();
  const fresh = report.freshHeads.length ? ` · ${report.freshHeads.join('+')} head fresh` : '';
  return {
    meta: {
      id: newRunId(),
      name: `${opts.preset} · ${report.file} (imported${fresh})`,
      createdAt: now,
      savedAt: now,
      step,
      config,
      volumes: [],
      lastLoss: null,
      backend: null,
      origin: 'imported',
    },
    state,
    metrics: emptyMetrics(),
  };
}

function emptyMetrics(): MetricsSnapshot {
  const columns = {} as MetricsSnapshot['columns'];
  for (const c of METRIC_COLUMNS) columns[c] = new Float64Array(0);
  return { columns, length: 0 };
}

/** What training an imported model needs to hold, and whether the device can (an estimate, stated as such). */
export interface TrainingMemoryCheck {
  /** Weights + gradients + AdamW (m, v, amsgrad max) of what is trained, plus the teacher head: bytes. */
  stateBytes: number;
  /** The largest single tensor (a weight or one optimizer slot) in bytes, and its name. */
  largest: { bytes: number; name: string };
  /** Why it cannot be trained here, or null. */
  refusal: string | null;
}

const GiB = 1024 ** 3;
/** A wasm heap is at most 4 GiB and must also hold the step's activations: half of it for the state. */
export const WASM_STATE_LIMIT = 2 * GiB;
/** Without a way to ask a GPU its memory, assume a common 8 GiB card (an estimate, said in the message). */
export const GPU_STATE_LIMIT = 8 * GiB;

export function trainingMemoryCheck(
  weights: { name: string; shape: number[] }[],
  backend: 'webgpu' | 'webgl' | 'wasm' | 'cpu' | 'auto',
  gpu: { maxStorageBufferBindingSize: number } | null,
): TrainingMemoryCheck {
  let trained = 0;
  let teacher = 0;
  let largest = { bytes: 0, name: '' };
  for (const w of weights) {
    const bytes = 4 * w.shape.reduce((a, b) => a * b, 1);
    if (w.name.startsWith('teacher.')) teacher += bytes;
    else trained += bytes;
    if (bytes > largest.bytes) largest = { bytes, name: w.name };
  }
  const stateBytes = trained * 5 + teacher;
  const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;
  let refusal: string | null = null;
  const onGpu = backend === 'webgpu' || (backend === 'auto' && gpu !== null);
  if (onGpu) {
    if (gpu && largest.bytes > gpu.maxStorageBufferBindingSize) {
      refusal = `${largest.name} alone is ${gib(largest.bytes)}, above this GPU's ${gib(gpu.maxStorageBufferBindingSize)} buffer limit`;
    } else if (stateBytes > GPU_STATE_LIMIT) {
      refusal = `training needs about ${gib(stateBytes)} for weights, gradients and AdamW state before any activation; more than the ${gib(GPU_STATE_LIMIT)} assumed for a GPU`;
    }
  } else if (stateBytes > WASM_STATE_LIMIT) {
    refusal = `training needs about ${gib(stateBytes)} for weights, gradients and AdamW state; a ${backend === 'auto' ? 'CPU (wasm)' : backend} backend has at most ${gib(WASM_STATE_LIMIT)} for it`;
  }
  return { stateBytes, largest, refusal };
}
