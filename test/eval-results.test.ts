// The benchmark's exports and the scaling recommendation, on hand-made results.
import { describe, expect, it } from 'vitest';
import { recommendPresets, resultsCsv, resultsJson, type ResultsSnapshot } from '../src/store/benchmarkResults';
import { flushEvents, parseSteps, receiveEvent, useBenchmarkStore, beginBenchmark } from '../src/store/benchmarkStore';
import type { BenchmarkScore, BenchmarkWeightsInfo } from '../src/worker/protocol';

const w = (preset: string, step: number, params: number): BenchmarkWeightsInfo => ({
  id: `sweep:${preset}:${step}`,
  label: `${preset} · ${step} steps`,
  preset,
  cropSize: 16,
  seed: 1,
  step,
  source: 'sweep',
  encoderParams: params,
  totalParams: params + 10,
});
const score = (weightsId: string, task: string, metric: string, value: number, extra: Partial<BenchmarkScore> = {}): BenchmarkScore => ({
  weightsId,
  task,
  metric,
  value,
  n: 10,
  notes: ['split by volume'],
  ms: 5,
  ...extra,
});

function snapshot(): ResultsSnapshot {
  const weights = [w('tiny', 0, 1e4), w('tiny', 20, 1e4), w('S', 0, 1e6), w('S', 20, 1e6), w('B', 0, 3e6), w('B', 20, 3e6)];
  // probe macro-F1 at 20 steps: tiny 0.70, S 0.79, B 0.80 → with margin 0.02 S is picked, B is best.
  // position MAE (lower is better) via accuracy as the primary: tiny 0.5, S 0.3, B 0.6 → B best, nothing within 0.02 smaller.
  const scores = [
    score('sweep:tiny:20', 'organ-probe', 'macroF1', 0.7, { chance: 0.1, perStructure: { liver: 0.9, 'spleen, left': 0.5 } }),
    score('sweep:S:20', 'organ-probe', 'macroF1', 0.79),
    score('sweep:B:20', 'organ-probe', 'macroF1', 0.8),
    score('sweep:tiny:0', 'organ-probe', 'macroF1', 0.3),
    score('sweep:tiny:20', 'position', 'accuracy', 0.5),
    score('sweep:S:20', 'position', 'accuracy', 0.3),
    score('sweep:B:20', 'position', 'accuracy', 0.6),
  ];
  return { weights, scores, curves: [], skipped: [], structures: [{ id: 5, name: 'liver' }], config: { options: { cropSize: 16 } }, backend: 'cpu', ms: 1234 };
}

describe('scaling recommendation', () => {
  it('picks the smallest preset within the margin of the best, per task', () => {
    const recs = recommendPresets(snapshot(), 0.02);
    const probe = recs.find((r) => r.task === 'organ-probe')!;
    expect(probe.step).toBe(20);
    expect(probe.best.preset).toBe('B');
    expect(probe.pick.preset).toBe('S');
    expect(probe.compared.map((c) => c.preset)).toEqual(['tiny', 'S', 'B']);
    expect(recommendPresets(snapshot(), 0.1).find((r) => r.task === 'organ-probe')!.pick.preset).toBe('tiny');
    expect(recommendPresets(snapshot(), 0).find((r) => r.task === 'organ-probe')!.pick.preset).toBe('B');
    const pos = recs.find((r) => r.task === 'position')!;
    expect([pos.best.preset, pos.pick.preset]).toEqual(['B', 'B']);
    // Tasks not scored by two presets get no recommendation.
    expect(recs.find((r) => r.task === 'retrieval')).toBeUndefined();
  });

  it('compares at the longest length every preset reached', () => {
    const s = snapshot();
    s.weights.push(w('tiny', 50, 1e4));
    s.scores.push(score('sweep:tiny:50', 'organ-probe', 'macroF1', 0.95));
    const probe = recommendPresets(s, 0.02).find((r) => r.task === 'organ-probe')!;
    expect(probe.step).toBe(20);
    expect(probe.compared.find((c) => c.preset === 'tiny')!.value).toBe(0.7);
  });
});

describe('exports', () => {
  it('CSV: one row per score with the weights, chance, per-structure values and quoting', () => {
    const csv = resultsCsv(snapshot()).trim().split('\n');
    expect(csv[0]).toBe('task,metric,better,weights,preset,step,source,encoder_params,value,chance,n_test,per_structure,notes');
    expect(csv).toHaveLength(8);
    // Position rows come first (catalog order), then the probe in weights order.
    expect(csv[1].startsWith('position,accuracy,higher,tiny · 20 steps,tiny,20,sweep,10000,0.5,,10,,split by volume')).toBe(true);
    const tinyProbe = csv.find((l) => l.startsWith('organ-probe,macroF1,higher,tiny · 20 steps'))!;
    expect(tinyProbe).toContain(',0.7,0.1,10,');
    expect(tinyProbe).toContain('"liver=0.9000; spleen, left=0.5000"');
  });

  it('JSON: configuration, weights, scores and the task specs', () => {
    const j = JSON.parse(resultsJson(snapshot()));
    expect(j.format).toBe('voco-studio-benchmark');
    expect(j.config).toEqual({ options: { cropSize: 16 } });
    expect(j.scores).toHaveLength(7);
    expect(j.weights).toHaveLength(6);
    expect(j.tasks.map((t: { id: string }) => t.id)).toEqual(['position', 'organ-probe']);
  });
});

describe('benchmark store', () => {
  it('parses sweep steps and names a bad one', () => {
    expect(parseSteps('20, 0 10;10')).toEqual([0, 10, 20]);
    expect(() => parseSteps('0, ten')).toThrow(/"ten" is not a whole number/);
    expect(() => parseSteps(' ')).toThrow(/at least one/);
  });

  it('applies streamed events in order', () => {
    beginBenchmark({ a: 1 });
    receiveEvent({ kind: 'weights', weights: w('tiny', 0, 1e4) });
    receiveEvent({ kind: 'curve', points: [{ weightsId: 'sweep:tiny:0', task: 'retrieval', series: 'precision@k', x: 1, y: 0.5 }] });
    receiveEvent({ kind: 'scores', scores: [score('sweep:tiny:0', 'retrieval', 'precisionAtK', 0.4)] });
    receiveEvent({ kind: 'status', message: 'Retrieval', done: 1, total: 4 });
    flushEvents();
    const s = useBenchmarkStore.getState();
    expect(s.phase).toBe('running');
    expect(s.results.weights).toHaveLength(1);
    expect(s.results.curves).toHaveLength(1);
    expect(s.results.scores[0].value).toBe(0.4);
    expect(s.status).toEqual({ message: 'Retrieval', done: 1, total: 4 });
    expect(s.results.config).toEqual({ a: 1 });
  });
});
