import { describe, expect, it } from 'vitest';
import { FIT_CAPTION, ONE_LABELLED_CAPTION, benchmarkCaptions, captionFacts } from '../src/store/benchmarkCaptions';

const abdomen = { id: 'v1', name: 'abdomen.nii.gz', labelled: true };
const chest = { id: 'v2', name: 'chest.nii.gz', labelled: false };
const other = { id: 'v3', name: 'other.nii.gz', labelled: true };

describe('benchmark captions', () => {
  it('fit: a scored scan was in the pre-training of a scored weights set', () => {
    const c = benchmarkCaptions({ evalVolumes: [abdomen, chest], weights: [{ id: 'run', label: 'tiny · run step 5', trainedOn: ['v2'] }], scoredTasks: ['position'] });
    expect(c).toEqual([{ kind: 'fit', text: FIT_CAPTION, detail: 'chest.nii.gz was in the pre-training of tiny · run step 5' }]);
    expect(FIT_CAPTION).toBe('scored scans were used for pre-training: this measures fit, not transfer');
  });

  it('no fit caption when the weights never saw a scored scan (or are random)', () => {
    const c = benchmarkCaptions({
      evalVolumes: [abdomen],
      weights: [
        { id: 'initial', label: 'random', trainedOn: [] },
        { id: 'run', label: 'run', trainedOn: ['v2'] },
      ],
      scoredTasks: ['position'],
    });
    expect(c).toEqual([]);
  });

  it('one labelled scan: only when a label task was scored with exactly one labelled scan', () => {
    const one = benchmarkCaptions({ evalVolumes: [abdomen, chest], weights: [], scoredTasks: ['position', 'organ-probe', 'retrieval'] });
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ kind: 'one-labelled', text: ONE_LABELLED_CAPTION });
    expect(ONE_LABELLED_CAPTION).toBe('one labelled scan: optimistic');
    expect(one[0].detail).toContain('organ-probe, retrieval');
    expect(one[0].detail).toContain('abdomen.nii.gz');
    // Position prediction needs no labels; two labelled scans are held out from each other.
    expect(benchmarkCaptions({ evalVolumes: [abdomen], weights: [], scoredTasks: ['position'] })).toEqual([]);
    expect(benchmarkCaptions({ evalVolumes: [abdomen, other], weights: [], scoredTasks: ['few-shot-seg'] })).toEqual([]);
  });

  it('facts from a results snapshot: step-0 and initial weights trained on nothing, sweep on the pre-training scans, runs on theirs plus those', () => {
    const config = {
      evalVolumes: [abdomen, chest],
      pretrainVolumes: [{ id: 'v9' }],
      weights: [{ id: 'saved:x', trainedOn: ['v1'] }],
    };
    const weights = [
      { id: 'initial', label: 'random', step: 0, source: 'initial' },
      { id: 'sweep:tiny:0', label: 'tiny 0', step: 0, source: 'sweep' },
      { id: 'sweep:tiny:8', label: 'tiny 8', step: 8, source: 'sweep' },
      { id: 'saved:x', label: 'saved', step: 5, source: 'checkpoint' },
      { id: 'unscored', label: 'u', step: 5, source: 'run' },
    ];
    const scores = ['initial', 'sweep:tiny:0', 'sweep:tiny:8', 'saved:x'].map((w) => ({ task: 'organ-probe', weightsId: w }));
    const f = captionFacts({ config, weights, scores })!;
    expect(f.weights).toEqual([
      { id: 'initial', label: 'random', trainedOn: [] },
      { id: 'sweep:tiny:0', label: 'tiny 0', trainedOn: [] },
      { id: 'sweep:tiny:8', label: 'tiny 8', trainedOn: ['v9'] },
      { id: 'saved:x', label: 'saved', trainedOn: ['v9', 'v1'] },
    ]);
    expect(f.scoredTasks).toEqual(['organ-probe']);
    expect(benchmarkCaptions(f).map((c) => c.kind)).toEqual(['fit', 'one-labelled']);
    expect(benchmarkCaptions(f)[0].detail).toBe('abdomen.nii.gz was in the pre-training of saved');
    expect(captionFacts({ config: null, weights, scores })).toBeNull();
  });
});
