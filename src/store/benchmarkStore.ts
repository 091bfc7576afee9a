// The benchmark store: the panel's settings (tasks, options, which scans score and which pre-trained, which
// weights, the scaling sweep), structure names, and the results as they stream in. Plain data and setters; the
// run itself is orchestrated in src/ui/benchmark/benchmarkController.ts.
import { create } from 'zustand';
import { TASK_CATALOG } from '../eval/tasks/catalog';
import type {
  BackendChoice,
  BenchmarkCurvePoint,
  BenchmarkEvent,
  BenchmarkOptions,
  BenchmarkResult,
  BenchmarkScore,
  BenchmarkWeightsInfo,
  BenchmarkWeightsSpec,
} from '../worker/protocol';
import type { ResultsSnapshot } from './benchmarkResults';

export const DEFAULT_BENCHMARK_OPTIONS: BenchmarkOptions = {
  seed: 1234,
  cropSize: 16,
  gridN: 3,
  maxStructures: 8,
  minStructureVoxels: 200,
  cropsPerStructure: 24,
  testShare: 0.3,
  splits: 5,
  position: { regionsPerVolume: 8, randomCrops: 4 },
  probe: { iterations: 200, l2: 1e-3 },
  segmentation: { shots: 8, testCrops: 8, iterations: 100, fineTune: false, lr: 0.01, hidden: 32 },
  retrieval: { k: 5 },
};

export interface SweepSettings {
  enabled: boolean;
  presets: string[];
  /** Pre-training lengths, e.g. "0, 10, 50". */
  steps: string;
  /** Training settings of the sweep's runs. */
  lr: number;
  batchVolumes: number;
  randomCrops: number;
  seed: number;
}

export interface WeightsSelection {
  /** Random initial weights of `preset` with `seed` (the run's own when a run is loaded). */
  initial: boolean;
  preset: string;
  seed: number;
  /** The training run's weights as they are when the benchmark starts. */
  current: boolean;
  /** Saved runs (latest checkpoint of each) by run id. */
  savedRuns: string[];
}

export type BenchmarkPhase = 'idle' | 'preparing' | 'running' | 'done' | 'cancelled' | 'error';

export interface BenchmarkState {
  tasks: string[];
  options: BenchmarkOptions;
  backend: BackendChoice;
  /** Volume roles by source volume id; absent = default (see volumeRoles in the panel). */
  scoreOn: Record<string, boolean>;
  pretrainedOn: Record<string, boolean>;
  labelNames: Record<number, string>;
  labelNamesSource: string | null;
  weights: WeightsSelection;
  /** Weights captured from the run at several steps ("snapshot now"). */
  snapshots: BenchmarkWeightsSpec[];
  sweep: SweepSettings;
  /** Margin (absolute, metric units) of the scaling recommendation. */
  margin: number;

  phase: BenchmarkPhase;
  status: { message: string; done: number; total: number } | null;
  error: string | null;
  /** Problems met while pairing label maps by hand (shown under the pairing controls). */
  pairMessage: { ok: boolean; text: string } | null;
  results: ResultsSnapshot;
  pretrainLoss: { preset: string; step: number; loss: number }[];
  /** Bumps when results changed (charts redraw at most once per frame). */
  version: number;
}

export const emptyResults = (): ResultsSnapshot => ({ weights: [], scores: [], curves: [], skipped: [], structures: [], config: null, backend: null, ms: null });

export const useBenchmarkStore = create<BenchmarkState>()(() => ({
  tasks: TASK_CATALOG.map((t) => t.id),
  options: DEFAULT_BENCHMARK_OPTIONS,
  backend: 'auto',
  scoreOn: {},
  pretrainedOn: {},
  labelNames: {},
  labelNamesSource: null,
  weights: { initial: true, preset: 'tiny', seed: 42, current: false, savedRuns: [] },
  snapshots: [],
  sweep: { enabled: false, presets: ['tiny', 'S'], steps: '0, 20', lr: 1e-4, batchVolumes: 2, randomCrops: 2, seed: 42 },
  margin: 0.02,
  phase: 'idle',
  status: null,
  error: null,
  pairMessage: null,
  results: emptyResults(),
  pretrainLoss: [],
  version: 0,
}));

const set = useBenchmarkStore.setState;

export function setOptions(patch: Partial<BenchmarkOptions>): void {
  set((s) => ({ options: { ...s.options, ...patch } }));
}

export function toggleTask(id: string, on: boolean): void {
  set((s) => ({ tasks: on ? TASK_CATALOG.map((t) => t.id).filter((t) => t === id || s.tasks.includes(t)) : s.tasks.filter((t) => t !== id) }));
}

export function setWeights(patch: Partial<WeightsSelection>): void {
  set((s) => ({ weights: { ...s.weights, ...patch } }));
}

export function setSweep(patch: Partial<SweepSettings>): void {
  set((s) => ({ sweep: { ...s.sweep, ...patch } }));
}

export function setLabelNames(names: Record<number, string>, source: string | null): void {
  set({ labelNames: names, labelNamesSource: source });
}

export function renameStructure(id: number, name: string): void {
  set((s) => {
    const labelNames = { ...s.labelNames, [id]: name };
    if (!name.trim()) delete labelNames[id];
    return { labelNames, labelNamesSource: s.labelNamesSource ?? 'entered by hand' };
  });
}

/** "0, 10, 50" → [0, 10, 50]; throws a message naming the bad entry. */
export function parseSteps(text: string): number[] {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  if (!parts.length) throw new Error('sweep steps: give at least one pre-training length, e.g. "0, 20"');
  const steps = parts.map((p) => {
    const v = Number(p);
    if (!Number.isInteger(v) || v < 0) throw new Error(`sweep steps: "${p}" is not a whole number of steps ≥ 0`);
    return v;
  });
  return [...new Set(steps)].sort((a, b) => a - b);
}

// ---- a run's lifecycle ----------------------------------------------------------------------------------------

export function beginBenchmark(config: unknown): void {
  pending = [];
  set((s) => ({ phase: 'preparing', status: null, error: null, results: { ...emptyResults(), config }, pretrainLoss: [], version: s.version + 1 }));
}

export function setBenchmarkPhase(phase: BenchmarkPhase, status?: BenchmarkState['status']): void {
  set({ phase, ...(status !== undefined ? { status } : {}) });
}

export function failBenchmark(message: string): void {
  flushEvents();
  set({ phase: 'error', error: message });
}

export function cancelledBenchmark(): void {
  flushEvents();
  set({ phase: 'cancelled' });
}

// Events arrive in bursts (a curve point per iteration): they are applied at most once per animation frame.
let pending: BenchmarkEvent[] = [];
let scheduled = false;
const schedule: (cb: () => void) => void =
  typeof requestAnimationFrame === 'function' ? (cb) => requestAnimationFrame(() => cb()) : (cb) => setTimeout(cb, 16);

export function receiveEvent(e: BenchmarkEvent): void {
  pending.push(e);
  if (!scheduled) {
    scheduled = true;
    schedule(flushEvents);
  }
}

/** Applies the events received since the last frame (tests call it directly). */
export function flushEvents(): void {
  scheduled = false;
  if (!pending.length) return;
  const events = pending;
  pending = [];
  set((s) => {
    const weights: BenchmarkWeightsInfo[] = [...s.results.weights];
    const scores: BenchmarkScore[] = [...s.results.scores];
    const curves: BenchmarkCurvePoint[] = [...s.results.curves];
    const skipped = [...s.results.skipped];
    const pretrainLoss = [...s.pretrainLoss];
    let status = s.status;
    let phase = s.phase === 'preparing' ? ('running' as const) : s.phase;
    for (const e of events) {
      if (e.kind === 'weights') weights.push(e.weights);
      else if (e.kind === 'scores') scores.push(...e.scores);
      else if (e.kind === 'curve') curves.push(...e.points);
      else if (e.kind === 'skipped') skipped.push({ task: e.task, weightsId: e.weightsId, reason: e.reason });
      else if (e.kind === 'pretrain') pretrainLoss.push({ preset: e.preset, step: e.step, loss: e.loss });
      else if (e.kind === 'status') status = { message: e.message, done: e.done, total: e.total };
    }
    if (s.phase === 'done' || s.phase === 'error' || s.phase === 'cancelled') phase = s.phase;
    return { results: { ...s.results, weights, scores, curves, skipped }, pretrainLoss, status, phase, version: s.version + 1 };
  });
}

/** The final result replaces what streamed in (same content, plus the structures, backend and time). */
export function finishBenchmark(result: BenchmarkResult): void {
  pending = [];
  set((s) => ({
    phase: 'done',
    status: { message: 'done', done: s.status?.total ?? 0, total: s.status?.total ?? 0 },
    results: { ...result, config: s.results.config },
    version: s.version + 1,
  }));
}
