// The one interface every downstream task implements. A task is prepared ONCE per benchmark run from the volumes
// and labels (which crops, which split: independent of the weights, so every weights set is scored on the same
// data), then run once per weights set with a TaskEncoder. To add a task: write a module with a DownstreamTask,
// describe it in catalog.ts, and list it in registry.ts.
import type { BenchmarkOptions } from '../../worker/protocol';
import type { Rng } from '../../voco/rng';
import type { TaskVolume } from '../sampling';
import type { TaskEncoder } from '../taskEncoder';

export interface TaskData {
  /** Every volume the tasks may score on, in the encoder's packed order (TaskVolume.index). */
  volumes: TaskVolume[];
  /** Structure names by label id. */
  labelNames: Record<number, string>;
  options: BenchmarkOptions;
}

export interface TaskScores {
  /** Metric key (catalog.ts) → value. */
  values: Record<string, number>;
  /** Metric key → chance level, where defined. */
  chance?: Record<string, number>;
  /** Per structure name, for the metric named by perStructureMetric. */
  perStructure?: Record<string, number>;
  perStructureMetric?: string;
  /** Test items behind the scores. */
  n: number;
  notes: string[];
}

export interface TaskRunContext {
  encoder: TaskEncoder;
  /** A learning-curve point of the series `series` (catalog curve.main is plotted). */
  curve(series: string, x: number, y: number): void;
  /** Throws when the run was cancelled (called between batches and iterations). */
  checkCancelled(): void;
  /** Lets the worker read messages (cancel) and the UI breathe between batches. */
  yield(): Promise<void>;
  /** A fresh seeded stream for anything random in the run (head initialisation). */
  rng: Rng;
}

export type Prepared<P> = { ok: true; data: P; notes: string[] } | { ok: false; reason: string };

export interface DownstreamTask<P = unknown> {
  id: string;
  /** Crops, split and targets from the volumes and labels; `{ ok: false }` says why the task cannot run here. */
  prepare(data: TaskData, rng: Rng): Prepared<P>;
  run(prepared: P, ctx: TaskRunContext): Promise<TaskScores>;
  /** Whether a run modifies the encoder's weights (the runner then hands it a private copy). */
  mutatesEncoder?(prepared: P, options: BenchmarkOptions): boolean;
}

/** Display name of a structure id. */
export function structureName(labelNames: Record<number, string>, id: number): string {
  return labelNames[id] ?? `label ${id}`;
}
