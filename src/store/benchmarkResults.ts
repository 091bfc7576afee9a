// What the benchmark's results mean for the user, as pure functions over the protocol's result types: the results
// table as CSV and JSON (with the run's configuration), and the scaling view's recommendation — per task, the
// smallest preset whose score is within a margin of the best. Unit-tested under Node (test/eval-results.test.ts).
import { TASK_CATALOG, metricSpec, taskInfo } from '../eval/tasks/catalog';
import type { BenchmarkCurvePoint, BenchmarkScore, BenchmarkWeightsInfo } from '../worker/protocol';

export interface ResultsSnapshot {
  weights: BenchmarkWeightsInfo[];
  scores: BenchmarkScore[];
  curves: BenchmarkCurvePoint[];
  skipped: { task: string; weightsId: string | null; reason: string }[];
  structures: { id: number; name: string }[];
  /** The run's configuration (request without voxels and weights), exported with the table. */
  config: unknown;
  backend: string | null;
  ms: number | null;
}

const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One row per (task, weights, metric), with the weights' facts, the chance level and per-structure values. */
export function resultsCsv(r: ResultsSnapshot): string {
  const header = ['task', 'metric', 'better', 'weights', 'preset', 'step', 'source', 'encoder_params', 'value', 'chance', 'n_test', 'per_structure', 'notes'];
  const byId = new Map(r.weights.map((w) => [w.id, w]));
  const lines = [header.join(',')];
  for (const s of sortedScores(r)) {
    const w = byId.get(s.weightsId);
    const spec = metricSpec(s.task, s.metric);
    const per = s.perStructure ? Object.entries(s.perStructure).map(([k, v]) => `${k}=${v.toFixed(4)}`).join('; ') : '';
    lines.push(
      [s.task, s.metric, spec.better, w?.label ?? s.weightsId, w?.preset, w?.step, w?.source, w?.encoderParams, s.value, s.chance, s.n, per, s.notes.join(' | ')]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Everything, machine-readable: configuration, weights, scores, curves, what was skipped and why. */
export function resultsJson(r: ResultsSnapshot): string {
  return JSON.stringify(
    {
      format: 'voco-studio-benchmark',
      version: 1,
      exportedAt: new Date().toISOString(),
      backend: r.backend,
      ms: r.ms,
      config: r.config,
      structures: r.structures,
      weights: r.weights,
      scores: sortedScores(r),
      curves: r.curves,
      skipped: r.skipped,
      tasks: TASK_CATALOG.filter((t) => r.scores.some((s) => s.task === t.id)),
    },
    null,
    1,
  );
}

/** Scores in table order: task (catalog order), weights (arrival order), metric (catalog order). */
export function sortedScores(r: Pick<ResultsSnapshot, 'scores' | 'weights'>): BenchmarkScore[] {
  const taskOrder = new Map(TASK_CATALOG.map((t, i) => [t.id, i]));
  const weightOrder = new Map(r.weights.map((w, i) => [w.id, i]));
  const metricOrder = (s: BenchmarkScore) => taskInfo(s.task).metrics.findIndex((m) => m.key === s.metric);
  return [...r.scores].sort(
    (a, b) =>
      (taskOrder.get(a.task) ?? 99) - (taskOrder.get(b.task) ?? 99) ||
      (weightOrder.get(a.weightsId) ?? 99) - (weightOrder.get(b.weightsId) ?? 99) ||
      metricOrder(a) - metricOrder(b),
  );
}

export interface Recommendation {
  task: string;
  metric: string;
  /** Pre-training length the presets are compared at (the longest every candidate reached). */
  step: number;
  best: { preset: string; value: number; params: number };
  pick: { preset: string; value: number; params: number };
  margin: number;
  /** Presets compared (smallest first). */
  compared: { preset: string; value: number; params: number }[];
}

/**
 * Per task, among the sweep's presets scored at the longest pre-training length they all reached: the smallest
 * (fewest encoder parameters) whose primary score is within `margin` (absolute, in the metric's units) of the best.
 * Tasks with fewer than two presets scored get no recommendation.
 */
export function recommendPresets(r: Pick<ResultsSnapshot, 'scores' | 'weights'>, margin: number): Recommendation[] {
  const sweep = r.weights.filter((w) => w.source === 'sweep');
  const out: Recommendation[] = [];
  for (const task of TASK_CATALOG) {
    const metric = metricSpec(task.id, task.primary);
    const scored = sweep
      .map((w) => ({ w, s: r.scores.find((s) => s.weightsId === w.id && s.task === task.id && s.metric === task.primary) }))
      .filter((x): x is { w: BenchmarkWeightsInfo; s: BenchmarkScore } => !!x.s && Number.isFinite(x.s.value));
    const presets = [...new Set(scored.map((x) => x.w.preset))];
    if (presets.length < 2) continue;
    // The longest length every preset has a score at.
    const step = Math.min(...presets.map((p) => Math.max(...scored.filter((x) => x.w.preset === p).map((x) => x.w.step))));
    const compared = presets
      .map((p) => scored.find((x) => x.w.preset === p && x.w.step === step))
      .filter((x): x is { w: BenchmarkWeightsInfo; s: BenchmarkScore } => !!x)
      .map((x) => ({ preset: x.w.preset, value: x.s.value, params: x.w.encoderParams }))
      .sort((a, b) => a.params - b.params);
    if (compared.length < 2) continue;
    const sign = metric.better === 'higher' ? 1 : -1;
    const best = compared.reduce((a, b) => (sign * b.value > sign * a.value ? b : a));
    const pick = compared.find((c) => sign * (best.value - c.value) <= margin + 1e-12)!;
    out.push({ task: task.id, metric: metric.key, step, best, pick, margin, compared });
  }
  return out;
}
