// The Benchmark tab's paired comparison (src/store/benchmarkPaired.ts): which weights are compared with which random
// init, and the numbers of each row, from a hand-made results snapshot.
import { describe, expect, it } from 'vitest';
import { baselineOf, pairedRows } from '../src/store/benchmarkPaired';
import type { BenchmarkScore, BenchmarkWeightsInfo } from '../src/worker/protocol';

const w = (id: string, over: Partial<BenchmarkWeightsInfo>): BenchmarkWeightsInfo => ({
  id, label: id, preset: 'tiny', cropSize: 16, seed: 42, step: 0, source: 'initial', encoderParams: 1000, totalParams: 1100, ...over,
});
const score = (weightsId: string, task: string, metric: string, splitValues?: number[]): BenchmarkScore => ({
  weightsId, task, metric, value: splitValues ? splitValues.reduce((a, x) => a + x, 0) / splitValues.length : 0.5, splitValues, n: 10, notes: [], ms: 1,
});

describe('paired rows of the Benchmark tab', () => {
  const init = w('init', {});
  const run = w('run', { step: 300, source: 'run' });
  const sweep0 = w('sweep:S:0', { preset: 'S', step: 0, source: 'sweep' });
  const sweep20 = w('sweep:S:20', { preset: 'S', step: 20, source: 'sweep' });
  const weights = [init, run, sweep0, sweep20];

  it('compares each pre-trained weights set with the random init of its preset', () => {
    expect(baselineOf(run, weights)?.id).toBe('init');
    expect(baselineOf(sweep20, weights)?.id).toBe('sweep:S:0');
    expect(baselineOf(init, weights)).toBeNull();
    expect(baselineOf(w('L', { preset: 'L', step: 5, source: 'run' }), weights)).toBeNull();
  });

  it('one row per pre-trained weights set and split-scored metric, with the paired numbers', () => {
    const scores = [
      score('init', 'organ-probe', 'macroF1', [0.2, 0.6, 0.3, 0.5]),
      score('run', 'organ-probe', 'macroF1', [0.25, 0.64, 0.36, 0.54]),
      score('init', 'position', 'accuracy'), // one split: no row
      score('run', 'position', 'accuracy'),
      score('sweep:S:0', 'retrieval', 'precisionAtK', [0.3, 0.4]),
      score('sweep:S:20', 'retrieval', 'precisionAtK', [0.2, 0.3]),
    ];
    const rows = pairedRows({ scores, weights });
    expect(rows.map((r) => `${r.task}/${r.metric}/${r.weightsId}/${r.baselineId}`)).toEqual(['organ-probe/macroF1/run/init', 'retrieval/precisionAtK/sweep:S:20/sweep:S:0']);
    const probe = rows[0].comparison;
    expect(probe.gainMean).toBeCloseTo(0.0475, 12);
    expect(probe.better).toBe(4);
    expect(probe.beyondSpread).toBe(false);
    expect(probe.beyondPairedNoise).toBe(true);
    const retr = rows[1].comparison;
    expect(retr.gainMean).toBeCloseTo(-0.1, 12);
    expect(retr.beyondSpread).toBe(false);
    expect(retr.beyondPairedNoise).toBe(false);
  });
});
