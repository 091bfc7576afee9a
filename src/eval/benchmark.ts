// The benchmark runner: prepares every task once (same crops and splits for every weights set), then scores each
// weights set a source yields — by default the request's own (random initialisation, the run's current weights,
// checkpoints); the worker adds the scaling sweep (src/worker/benchmarkSweep.ts), which pre-trains each preset and
// yields its weights at several lengths. Streams scores and learning-curve points through `emit` as they come.
// Runs wherever tfjs runs (the benchmark worker, Node tests); the backend is set up by the caller.
import * as tf from '@tensorflow/tfjs-core';
import { packVolumes } from '../kernels/packVolumes';
import { PRESETS, VocoModel, paramCount, validatePreset } from '../model';
import { Rng } from '../voco/rng';
import type {
  BenchmarkCurvePoint,
  BenchmarkEvent,
  BenchmarkRequest,
  BenchmarkResult,
  BenchmarkScore,
  BenchmarkWeightsInfo,
  BenchmarkWeightsSpec,
} from '../worker/protocol';
import { chooseStructures, type TaskVolume } from './sampling';
import { TaskEncoder } from './taskEncoder';
import { TASK_CATALOG, taskInfo } from './tasks/catalog';
import { getTask } from './tasks/registry';
import { structureName, type TaskData, type TaskScores } from './tasks/types';

export interface BenchmarkHooks {
  emit(event: BenchmarkEvent): void;
  /** True once the run should stop (checked between batches and iterations). */
  cancelled(): boolean;
  /** Gives the event loop a turn (worker messages, cancel). */
  yield(): Promise<void>;
  /** Name of the active tfjs backend, for the result. */
  backendName?(): string;
}

export class BenchmarkCancelledError extends Error {
  constructor() {
    super('benchmark cancelled');
    this.name = 'BenchmarkCancelledError';
  }
}

/** Where the weights to score come from: an async sequence, so a sweep can train between two of them. */
export type WeightsSource = (ctx: { emit(e: BenchmarkEvent): void; checkCancelled(): void; yield(): Promise<void> }) => AsyncIterable<BenchmarkWeightsSpec>;

/** The request's own weights, in order. */
export function givenWeights(weights: BenchmarkWeightsSpec[]): WeightsSource {
  return async function* () {
    yield* weights;
  };
}

/** Throws one message listing every problem of a request that would make the run fail later. */
export function validateBenchmarkRequest(req: Omit<BenchmarkRequest, 'backend'>): void {
  const problems: string[] = [];
  const o = req.options;
  if (!req.tasks?.length) problems.push('no task selected');
  for (const t of req.tasks ?? []) if (!TASK_CATALOG.some((x) => x.id === t)) problems.push(`unknown task "${t}"`);
  if (!Number.isInteger(o.cropSize) || o.cropSize < 2) problems.push(`crop size must be an integer ≥ 2, got ${o.cropSize}`);
  if (!Number.isInteger(o.gridN) || o.gridN < 2) problems.push(`grid n must be an integer ≥ 2, got ${o.gridN}`);
  if (!(o.testShare > 0 && o.testShare < 1)) problems.push(`test share must be between 0 and 1, got ${o.testShare}`);
  if (o.splits !== undefined && (!Number.isInteger(o.splits) || o.splits < 1)) problems.push(`splits must be an integer ≥ 1, got ${o.splits}`);
  if (o.oneVolumeSplit !== undefined && o.oneVolumeSplit !== 'blocks' && o.oneVolumeSplit !== 'overlapping') problems.push(`one-volume split must be "blocks" or "overlapping", got ${JSON.stringify(o.oneVolumeSplit)}`);
  const ids = new Set(req.volumes.map((v) => v.id));
  const missing = [...req.evalVolumeIds, ...req.pretrainVolumeIds].filter((id) => !ids.has(id));
  if (missing.length) problems.push(`volumes not sent with the request: ${[...new Set(missing)].join(', ')}`);
  if (req.evalVolumeIds.length === 0) problems.push('no volume to score on');
  const checkPreset = (name: string, what: string) => {
    const preset = PRESETS[name];
    if (!preset) problems.push(`${what}: unknown preset "${name}" (have ${Object.keys(PRESETS).join(', ')})`);
    else {
      try {
        validatePreset(preset, o.cropSize);
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    }
  };
  for (const w of req.weights) {
    checkPreset(w.preset, `weights "${w.label}"`);
    if (w.cropSize !== o.cropSize) {
      problems.push(`weights "${w.label}" were built for crops of ${w.cropSize} voxels, the benchmark uses ${o.cropSize}: set the benchmark's crop size to ${w.cropSize}`);
    }
  }
  if (req.sweep) {
    const s = req.sweep;
    if (!s.presets.length) problems.push('the sweep names no preset');
    for (const p of s.presets) checkPreset(p, 'sweep');
    if (!s.steps.length || s.steps.some((v, i) => !Number.isInteger(v) || v < 0 || (i > 0 && v <= s.steps[i - 1]))) {
      problems.push(`sweep steps must be ascending integers ≥ 0, got [${s.steps.join(', ')}]`);
    }
    if (s.train.cropSize !== o.cropSize) problems.push(`the sweep trains with crops of ${s.train.cropSize}, the benchmark scores crops of ${o.cropSize}`);
    if (s.steps.some((v) => v > 0) && req.pretrainVolumeIds.length === 0) problems.push('the sweep needs at least one pre-training volume');
  }
  if (!req.weights.length && !req.sweep) problems.push('nothing to score: no weights and no sweep');
  if (problems.length) throw new Error(`Benchmark: ${problems.join('; ')}`);
}

export async function runBenchmark(
  req: Omit<BenchmarkRequest, 'backend'>,
  hooks: BenchmarkHooks,
  source: WeightsSource = givenWeights(req.weights),
): Promise<BenchmarkResult> {
  validateBenchmarkRequest(req);
  const t0 = performance.now();
  const o = req.options;
  const byId = new Map(req.volumes.map((v) => [v.id, v]));
  const evalVolumes = req.evalVolumeIds.map((id) => byId.get(id)!);
  const pretrainIds = new Set(req.pretrainVolumeIds);
  const taskVolumes: TaskVolume[] = evalVolumes.map((v, index) => ({
    index,
    id: v.id,
    name: v.name,
    dims: v.dims,
    labels: v.labels,
    seenInPretraining: pretrainIds.has(v.id),
  }));
  const data: TaskData = { volumes: taskVolumes, labelNames: req.labelNames, options: o };

  const scores: BenchmarkScore[] = [];
  const curves: BenchmarkCurvePoint[] = [];
  const skipped: BenchmarkResult['skipped'] = [];
  const infos: BenchmarkWeightsInfo[] = [];
  const emit = (e: BenchmarkEvent) => {
    if (e.kind === 'scores') scores.push(...e.scores);
    else if (e.kind === 'curve') curves.push(...e.points);
    else if (e.kind === 'skipped') skipped.push({ task: e.task, weightsId: e.weightsId, reason: e.reason });
    else if (e.kind === 'weights') infos.push(e.weights);
    hooks.emit(e);
  };
  const checkCancelled = () => {
    if (hooks.cancelled()) throw new BenchmarkCancelledError();
  };

  // Prepare once: the same crops for every weights set. Label tasks are prepared once per repeated split (split 0
  // keeps the single-split seed); a split that cannot be made is left out and named in the notes.
  const splits = o.splits ?? 1;
  const prepared: { id: string; splits: { index: number; data: unknown; notes: string[] }[]; notes: string[] }[] = [];
  for (const id of req.tasks) {
    const count = taskInfo(id).needsLabels ? splits : 1;
    const ok: { index: number; data: unknown; notes: string[] }[] = [];
    const failed: string[] = [];
    for (let k = 0; k < count; k++) {
      const result = getTask(id).prepare(data, new Rng(splitSeed(o.seed, id, k)));
      if (result.ok) ok.push({ index: k, data: result.data, notes: result.notes });
      else failed.push(`split ${k + 1}: ${result.reason}`);
    }
    if (!ok.length) emit({ kind: 'skipped', task: id, weightsId: null, reason: count > 1 ? failed.join('; ') : failed[0].replace(/^split 1: /, '') });
    else {
      const notes = count > 1 ? [`mean of ${ok.length} repeated splits (split ${ok[0].index + 1}'s notes follow)${failed.length ? `; left out: ${failed.join('; ')}` : ''}`] : [];
      prepared.push({ id, splits: ok, notes });
    }
  }

  const sweepRuns = req.sweep ? req.sweep.presets.length * req.sweep.steps.length : 0;
  const total = (req.weights.length + sweepRuns) * prepared.length;
  let done = 0;

  const packed = packVolumes(evalVolumes.map((v) => ({ dims: v.dims, data: v.data, name: v.name })));
  const packedTensor = tf.tensor1d(packed.data);

  const scoreWeights = async (info: BenchmarkWeightsInfo, model: VocoModel) => {
    emit({ kind: 'weights', weights: info });
    const shared = new TaskEncoder(model, packedTensor, packed.layout, o.cropSize);
    for (const p of prepared) {
      checkCancelled();
      const task = getTask(p.id);
      const start = performance.now();
      const outs: TaskScores[] = [];
      try {
        for (const sp of p.splits) {
          checkCancelled();
          emit({ kind: 'status', message: `${taskInfo(p.id).title} · ${info.label}${p.splits.length > 1 ? ` · split ${sp.index + 1}` : ''}`, done, total });
          // Fine-tuning tasks start every split from the weights being scored.
          const own = task.mutatesEncoder?.(sp.data, o) ? await copyModel(model) : null;
          const encoder = own ? new TaskEncoder(own, packedTensor, packed.layout, o.cropSize) : shared;
          try {
            outs.push(
              await task.run(sp.data, {
                encoder,
                rng: new Rng(taskSeed(o.seed, sp.index === 0 ? `${p.id}:run` : `${p.id}:run#${sp.index}`)),
                // The learning curves are those of the first split (one curve per weights set).
                curve: sp === p.splits[0] ? (series, x, y) => emit({ kind: 'curve', points: [{ weightsId: info.id, task: p.id, series, x, y }] }) : () => {},
                checkCancelled,
                yield: hooks.yield,
              }),
            );
          } finally {
            own?.dispose();
          }
        }
        const ms = performance.now() - start;
        emit({ kind: 'scores', scores: combineSplits(info.id, p.id, outs, [...p.notes, ...p.splits[0].notes], ms) });
      } catch (err) {
        if (err instanceof BenchmarkCancelledError) throw err;
        emit({ kind: 'skipped', task: p.id, weightsId: info.id, reason: `failed: ${err instanceof Error ? err.message : String(err)}` });
      }
      done++;
      await hooks.yield();
    }
  };

  try {
    for await (const spec of source({ emit, checkCancelled, yield: hooks.yield })) {
      checkCancelled();
      if (spec.cropSize !== o.cropSize) throw new Error(`weights "${spec.label}" were built for crops of ${spec.cropSize} voxels, the benchmark uses ${o.cropSize}`);
      const model = VocoModel.create(PRESETS[spec.preset], o.cropSize, spec.seed);
      try {
        if (spec.weights) model.loadWeights(spec.weights);
        await scoreWeights(describeWeights(spec), model);
      } finally {
        model.dispose();
      }
    }
  } finally {
    packedTensor.dispose();
  }

  emit({ kind: 'status', message: 'done', done: total, total });
  const structures = chooseStructures(taskVolumes, {
    max: o.maxStructures,
    minVoxels: o.minStructureVoxels,
    requireAll: taskVolumes.filter((v) => v.labels).length >= 2,
    only: o.structures,
  }).map((id) => ({ id, name: structureName(req.labelNames, id) }));
  return { weights: infos, scores, curves, skipped, structures, backend: hooks.backendName?.() ?? tf.getBackend(), ms: performance.now() - t0 };
}

export function describeWeights(spec: BenchmarkWeightsSpec): BenchmarkWeightsInfo {
  const counts = paramCount(PRESETS[spec.preset], spec.cropSize);
  return {
    id: spec.id,
    label: spec.label,
    preset: spec.preset,
    cropSize: spec.cropSize,
    seed: spec.seed,
    step: spec.step,
    source: spec.source,
    encoderParams: counts.encoder,
    totalParams: counts.encoder + counts.head,
  };
}

/** A private copy of a model (for tasks that fine-tune the encoder). */
async function copyModel(model: VocoModel): Promise<VocoModel> {
  const copy = VocoModel.create(model.preset, model.cropSize, model.seed);
  copy.loadWeights(await model.readWeights());
  return copy;
}

/**
 * One score per metric from a task's runs on the repeated splits: the mean over the splits (chance and
 * per-structure values too, each structure over the splits that scored it), the per-split values beside it.
 */
export function combineSplits(weightsId: string, task: string, outs: TaskScores[], notes: string[], ms: number): BenchmarkScore[] {
  const spec = taskInfo(task);
  const avg = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  return spec.metrics.map((m) => {
    const values = outs.map((o) => o.values[m.key]);
    const chances = outs.map((o) => o.chance?.[m.key]).filter((c): c is number => c !== undefined);
    const per = outs.filter((o) => o.perStructure && o.perStructureMetric === m.key).map((o) => o.perStructure!);
    let perStructure: Record<string, number> | undefined;
    if (per.length) {
      const names = [...new Set(per.flatMap((x) => Object.keys(x)))];
      perStructure = Object.fromEntries(names.map((k) => [k, avg(per.filter((x) => k in x).map((x) => x[k]))]));
    }
    return {
      weightsId,
      task,
      metric: m.key,
      value: avg(values),
      ...(chances.length === outs.length ? { chance: avg(chances) } : {}),
      ...(perStructure ? { perStructure } : {}),
      ...(outs.length > 1 ? { splitValues: values } : {}),
      n: outs[0].n,
      notes: [...notes, ...outs[0].notes],
      ms,
    };
  });
}

/** The seed of a task's k-th split: split 0 is the task's own seed (one split reproduces the single-split runs). */
export function splitSeed(seed: number, id: string, k: number): number {
  return taskSeed(seed, k === 0 ? id : `${id}#split${k}`);
}

/** A task's own seed: the run seed mixed with the task id, so adding a task never changes another's crops. */
export function taskSeed(seed: number, id: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
