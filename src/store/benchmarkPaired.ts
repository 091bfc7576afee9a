// Pretrained vs random initialisation on the label tasks, split by split: for each scored weights set that was
// pre-trained, its random-init baseline (step 0 of the same preset and crop size) and, for every metric scored on
// repeated splits, the paired comparison (src/eval/pairedStats.ts) — the mean gain with its sd and standard error
// beside the unpaired spread (sd of the baseline over the splits). Pure; unit-tested in test/benchmark-paired.test.ts.
import { pairedComparison, type PairedComparison } from '../eval/pairedStats';
import { TASK_CATALOG, metricSpec } from '../eval/tasks/catalog';
import type { BenchmarkScore, BenchmarkWeightsInfo } from '../worker/protocol';

export interface PairedRow {
  task: string;
  metric: string;
  weightsId: string;
  weightsLabel: string;
  baselineId: string;
  baselineLabel: string;
  comparison: PairedComparison;
}

/** The random initialisation a pre-trained weights set is compared with, if it was scored. */
export function baselineOf(w: BenchmarkWeightsInfo, all: BenchmarkWeightsInfo[]): BenchmarkWeightsInfo | null {
  if (w.step === 0 || w.source === 'initial') return null;
  const same = all.filter((b) => b.id !== w.id && (b.step === 0 || b.source === 'initial') && b.preset === w.preset && b.cropSize === w.cropSize);
  // Prefer the same seed (the weights the run started from).
  return same.find((b) => b.seed === w.seed) ?? same[0] ?? null;
}

export function pairedRows(r: { scores: BenchmarkScore[]; weights: BenchmarkWeightsInfo[] }): PairedRow[] {
  const rows: PairedRow[] = [];
  const find = (w: string, task: string, metric: string) => r.scores.find((s) => s.weightsId === w && s.task === task && s.metric === metric);
  for (const task of TASK_CATALOG) {
    for (const m of task.metrics) {
      for (const w of r.weights) {
        const base = baselineOf(w, r.weights);
        if (!base) continue;
        const a = find(base.id, task.id, m.key)?.splitValues;
        const b = find(w.id, task.id, m.key)?.splitValues;
        if (!a || !b || a.length < 2 || a.length !== b.length) continue;
        try {
          rows.push({ task: task.id, metric: m.key, weightsId: w.id, weightsLabel: w.label, baselineId: base.id, baselineLabel: base.label, comparison: pairedComparison(a, b, metricSpec(task.id, m.key).better) });
        } catch {
          /* no pair with two finite scores: nothing to show */
        }
      }
    }
  }
  return rows;
}
