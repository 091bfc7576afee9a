// Training health (src/voco/health.ts and its device part in the Trainer): eigenvalues and effective rank on
// matrices with known spectra, calibration on known pairs, trends on synthetic curves, the diagnosis text for
// stuck / diverging / collapsed runs, and the health record a real training step carries.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { HealthTracker, calibration, diagnose, effectiveRankFromGram, symmetricEigenvalues, termTrend } from '../src/voco/health';
import { Trainer } from '../src/worker/trainer';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import type { StepHealth, StepMetrics } from '../src/worker/protocol';
import { loadTrainingVolumes } from './helpers/trainingVolumes';

function gramOf(rows: number[][]): Float32Array {
  const n = rows.length;
  const g = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] = rows[i].reduce((s, v, k) => s + v * rows[j][k], 0);
  return g;
}

describe('spectra and effective rank', () => {
  it('symmetricEigenvalues finds a known spectrum (rotated diagonal)', () => {
    // Q·diag(1, 2, 5)·Qᵀ with a rotation Q in the x-y plane.
    const c = Math.cos(0.7), s = Math.sin(0.7);
    const Q = [[c, -s, 0], [s, c, 0], [0, 0, 1]];
    const D = [1, 2, 5];
    const M = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) M[i * 3 + j] += Q[i][k] * D[k] * Q[j][k];
    const ev = symmetricEigenvalues(M, 3);
    expect(Array.from(ev).map((v) => +v.toFixed(9))).toEqual([1, 2, 5]);
  });

  it('effective rank: identical rows → 1; orthonormal rows → their count; two equal directions → 2', () => {
    expect(effectiveRankFromGram(gramOf([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]]), 4)).toBeCloseTo(1, 6);
    expect(effectiveRankFromGram(gramOf([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), 4)).toBeCloseTo(4, 6);
    expect(effectiveRankFromGram(gramOf([[1, 0], [1, 0], [0, 1], [0, 1]]), 4)).toBeCloseTo(2, 6);
  });
});

describe('calibration', () => {
  it('perfect predictions: slope 1, correlation 1; constant predictions: no slope', () => {
    const t = [0, 0.25, 0.5, 0.75, 1, 0.1, 0.9];
    const c = calibration(t, t);
    expect(c.slope).toBeCloseTo(1, 9);
    expect(c.correlation).toBeCloseTo(1, 9);
    expect(c.bins.reduce((s, b) => s + b.count, 0)).toBe(7);
    for (const b of c.bins) if (b.count) expect(b.predicted).toBeCloseTo(b.observed, 9);
    expect(calibration([0.5, 0.5, 0.5], [0, 1, 0.5]).slope).toBeNaN();
    // Over-confident: predictions twice as spread as the truth → slope 0.5.
    expect(calibration([0, 0.4, 0.8], [0.2, 0.4, 0.6]).slope).toBeCloseTo(0.5, 9);
  });
});

describe('trends and diagnosis', () => {
  const noise = (i: number) => 0.05 * Math.sin(i * 12.9898);
  it('termTrend tells falling, flat, rising, diverging and too short apart', () => {
    expect(termTrend('loss', Array.from({ length: 50 }, (_, i) => 1 - i / 100 + noise(i))).state).toBe('falling');
    expect(termTrend('loss', Array.from({ length: 50 }, (_, i) => 1 + noise(i))).state).toBe('flat');
    expect(termTrend('inter', Array.from({ length: 50 }, (_, i) => 1 + i / 200 + noise(i))).state).toBe('rising');
    expect(termTrend('inter', Array.from({ length: 50 }, (_, i) => (i < 25 ? 0.2 : 3) + noise(i))).state).toBe('diverging');
    expect(termTrend('inter', [1, NaN, 1]).state).toBe('diverging');
    expect(termTrend('reg', [1, 2, 3]).state).toBe('too short');
  });

  const base = (over: Partial<StepHealth> = {}): StepHealth => ({
    studentStd: { min: 0.5, mean: 0.9 },
    teacherStd: { min: 0.5, mean: 0.9 },
    studentRank: 15,
    teacherRank: 14,
    rankMax: 22,
    agreement: 0.6,
    calibration: { bins: [], slope: 0.8, correlation: 0.7, pairs: 1000 },
    clippedShare: 0,
    gradNormMedian: 2,
    terms: [
      { term: 'loss', state: 'falling', before: 1, after: 0.8, z: -4 },
      { term: 'intra', state: 'falling', before: 0.8, after: 0.6, z: -4 },
      { term: 'inter', state: 'flat', before: 0.1, after: 0.1, z: 0 },
      { term: 'reg', state: 'flat', before: 0.1, after: 0.1, z: 0 },
    ],
    window: 50,
    diagnosis: [],
    ms: 0,
    ...over,
  });

  it('a healthy run gets one ok line; stuck, diverging, collapsed and clipped runs get advice', () => {
    const ok = diagnose(base(), 1e-4, 0);
    expect(ok).toHaveLength(1);
    expect(ok[0].level).toBe('ok');
    expect(ok[0].text).toMatch(/Learning: loss, intra falling/);

    const stuck = diagnose(base({ terms: [{ term: 'intra', state: 'flat', before: 1, after: 1, z: 0.1 }] }), 1e-4, 0);
    expect(stuck[0].level).toBe('warn');
    expect(stuck[0].text).toMatch(/position \(intra-volume\) loss is stuck.*higher learning rate/);

    const div = diagnose(base({ terms: [{ term: 'inter', state: 'diverging', before: 0.2, after: 3.8, z: 9 }] }), 1e-3, 0);
    expect(div[0].level).toBe('bad');
    expect(div[0].text).toMatch(/inter-volume consistency loss is diverging \(0\.200 → 3\.80.*Lower the learning rate/);

    const collapsed = diagnose(base({ studentStd: { min: 0, mean: 0.02 }, studentRank: 1.05 }), 1e-4, 0);
    expect(collapsed[0].level).toBe('bad');
    expect(collapsed[0].text).toMatch(/collapsing/);

    const clipped = diagnose(base({ clippedShare: 1, gradNormMedian: 8 }), 1e-4, 1);
    expect(clipped.some((d) => /100 % of recent steps were clipped/.test(d.text))).toBe(true);
  });

  // The default recipe's situation (docs/recipe.md): the position loss flat or rising while the argmax accuracy is
  // well above chance, because the predictions on non-overlapped base crops rise with the overlapped ones.
  const position = (accuracy: number, crops = 200) => ({
    accuracy, crops, chance: 1 / 9, predOn: 0.42, predOff: 0.34, steps: 300,
    start: { accuracy: 0.26, crops: 200, predOn: 0.26, predOff: 0.18, steps: 50 },
  });
  const flatIntra = [{ term: 'intra' as const, state: 'flat' as const, before: 0.74, after: 0.74, z: 0.3 }];
  const lowCorrelation = { bins: [], slope: 0.2, correlation: 0.11, pairs: 1800 };

  it('position loss flat but accuracy well above chance: learning, explained, not "stuck"', () => {
    const d = diagnose(base({ terms: flatIntra, calibration: lowCorrelation, position: position(0.4) }), 3e-4, 0);
    expect(d.every((x) => x.level === 'ok')).toBe(true);
    expect(d[0].text).toMatch(/Learning where crops sit: position accuracy on the training crops 0\.400 over the last 50 steps, up from 0\.260 over the run's first 50 \(chance 0\.111\)/);
    expect(d[0].text).toMatch(/position loss is flat \(0\.740\).*rose \(0\.180 → 0\.340\).*\(0\.260 → 0\.420\)/);
    expect(d.some((x) => /stuck/.test(x.text))).toBe(false);
    expect(d.some((x) => /not calibrated yet \(correlation 0\.110/.test(x.text))).toBe(true);
    // Rising, too: explained the same way rather than "lower the learning rate".
    const rising = diagnose(base({ terms: [{ term: 'intra', state: 'rising', before: 0.55, after: 0.74, z: 4 }], position: position(0.4) }), 3e-4, 0);
    expect(rising[0].text).toMatch(/position loss is rising \(0\.740\)/);
    expect(rising.some((x) => x.level !== 'ok')).toBe(false);
  });

  it('the clean probe alone can show learning (training crops flat), and only when it rose beyond 2 SE', () => {
    const probe = (accuracy: number) => ({ accuracy, step: 300, first: 0.09, firstStep: 0, crops: 32 });
    const d = diagnose(base({ terms: flatIntra, position: { ...position(0.3), probe: probe(0.62) } }), 3e-4, 0);
    expect(d[0].level).toBe('ok');
    expect(d[0].text).toMatch(/position accuracy on the probe's fixed clean crops 0\.620 at step 300, up from 0\.090 at step 0; on the augmented training crops 0\.300 over the last 50 steps \(0\.260 over the first 50\)/);
    expect(d.some((x) => /stuck/.test(x.text))).toBe(false);
    // 0.09 → 0.20 on 32 crops is within 2 SE (≈ 0.17): not evidence.
    const weak = diagnose(base({ terms: flatIntra, position: { ...position(0.3), probe: probe(0.2) } }), 3e-4, 0);
    expect(weak.some((x) => /stuck/.test(x.text))).toBe(true);
    expect(weak.some((x) => /Learning where crops sit/.test(x.text))).toBe(false);
    // A first probe of 0 (untrained: every relu-cosine 0) is no baseline: 0.22 is measured against chance (0.11),
    // within 2 SE on 32 crops (the second browser run of docs/recipe.md); 0.44 is beyond it (the first).
    const fromZero = (accuracy: number) => ({ ...probe(accuracy), first: 0 });
    expect(diagnose(base({ terms: flatIntra, position: { ...position(0.2), probe: fromZero(0.219) } }), 3e-4, 0).some((x) => /Learning where crops sit/.test(x.text))).toBe(false);
    expect(diagnose(base({ terms: flatIntra, position: { ...position(0.2), probe: fromZero(0.438) } }), 3e-4, 0)[0].text).toMatch(/clean crops 0\.438 at step 300, up from 0\.000 at step 0/);
  });

  it('position loss flat and accuracy not up from the start (or too few crops / steps to tell): still "stuck", with the calibration warning', () => {
    // 0.13: near chance. 0.30: above chance, as an untrained encoder can be, but within 2 SE of the start's 0.26.
    const early = { ...position(0.45), steps: 80 }; // the recent window still overlaps the first one
    for (const pos of [position(0.13), position(0.3), position(0.45, 20), early, undefined]) {
      const d = diagnose(base({ terms: flatIntra, calibration: lowCorrelation, position: pos }), 3e-4, 0);
      expect(d[0].level).toBe('warn');
      expect(d.some((x) => /position \(intra-volume\) loss is stuck/.test(x.text))).toBe(true);
      expect(d.some((x) => /do not yet follow the true overlaps/.test(x.text))).toBe(true);
      expect(d.some((x) => /Learning where crops sit/.test(x.text))).toBe(false);
    }
  });
});

describe('health on real training steps (cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('every healthEvery-th step carries a complete health record; the others none; clipping is counted', async () => {
    const volumes = loadTrainingVolumes();
    const cfg = { ...DEFAULT_RUN_CONFIG, volumeIds: ['abdomen', 'chest'], preset: 'tiny', cropSize: 8, backend: 'cpu' as const, checkpointEvery: 0, gradClip: 1e-3, seed: 4 };
    const trainer = await Trainer.create(cfg, volumes);
    trainer.healthEvery = 3;
    try {
      const ms: StepMetrics[] = [];
      for (let i = 0; i < 7; i++) ms.push(await trainer.step());
      expect(ms.map((m) => !!m.health)).toEqual([true, false, false, true, false, false, true]);
      const h = ms[6].health!;
      const rows = 2 * (9 + 2);
      expect(h.rankMax).toBe(rows);
      for (const r of [h.studentRank, h.teacherRank]) expect(r > 1 && r <= rows + 1e-6).toBe(true);
      for (const s of [h.studentStd, h.teacherStd]) {
        expect(s.min).toBeGreaterThanOrEqual(0);
        expect(s.mean).toBeGreaterThanOrEqual(s.min);
        expect(s.mean).toBeLessThan(5);
      }
      expect(h.agreement).toBeGreaterThan(-1);
      expect(h.agreement).toBeLessThanOrEqual(1 + 1e-6);
      expect(h.window).toBe(7);
      expect(h.calibration.pairs).toBe(7 * 2 * 2 * 9);
      // A clip of 1e-3 is below every gradient norm: every step was clipped.
      expect(h.clippedShare).toBe(1);
      expect(h.diagnosis.length).toBeGreaterThan(0);
      expect(h.terms.map((t) => t.term)).toEqual(['loss', 'intra', 'inter', 'reg']);
      // Health does not change the training itself: the same run without it gives the same losses.
      const plain = await Trainer.create(cfg, volumes);
      plain.healthEvery = 0;
      try {
        for (let i = 0; i < 7; i++) expect((await plain.step()).loss).toBe(ms[i].loss);
      } finally {
        plain.dispose();
      }
    } finally {
      trainer.dispose();
    }
  });

  it('HealthTracker: position accuracy and mean predictions over the window and over the run\'s first window', () => {
    const t = new HealthTracker(0, 4);
    // Two crops per step over 3 bases; label argmax is base 0. Steps 0–3 predict base 2 (wrong), later steps base 0.
    const m = (i: number, right: boolean): StepMetrics => ({
      step: i, loss: 1, intra: 1, inter: 0, reg: 0, lr: 1e-4, stepMs: 1, gradNorm: 1, regions: [],
      labels: [[[0.75, 0.25, 0], [0.75, 0.25, 0]]],
      predictions: right ? [[[0.9, 0.5, 0.3], [0.9, 0.5, 0.3]]] : [[[0.1, 0.1, 0.2], [0.1, 0.1, 0.2]]],
    });
    for (let i = 0; i < 10; i++) t.add(m(i, i >= 4));
    const dev = { studentStdMin: 1, studentStdMean: 1, teacherStdMin: 1, teacherStdMean: 1, studentGram: gramOf([[1, 0], [0, 1]]), teacherGram: gramOf([[1, 0], [0, 1]]), rows: 2, agreement: 0.5 };
    const p = t.report(dev, 0).position!;
    expect(p.accuracy).toBe(1);
    expect(p.crops).toBe(8);
    expect(p.chance).toBeCloseTo(1 / 3, 12);
    expect(p.predOn).toBeCloseTo(0.7, 6);
    expect(p.predOff).toBeCloseTo(0.3, 6);
    expect(p.steps).toBe(10);
    expect(p.start).toEqual({ accuracy: 0, crops: 8, predOn: expect.closeTo(0.1, 6), predOff: expect.closeTo(0.2, 6), steps: 4 });
  });

  it('HealthTracker keeps only the window', () => {
    const t = new HealthTracker(0, 4);
    const m = (i: number): StepMetrics => ({ step: i, loss: 1, intra: 1, inter: 0, reg: 0, lr: 1e-4, stepMs: 1, gradNorm: 1, labels: [[[1, 0]]], predictions: [[[0.9, 0.1]]], regions: [] });
    for (let i = 0; i < 10; i++) t.add(m(i));
    const dev = { studentStdMin: 1, studentStdMean: 1, teacherStdMin: 1, teacherStdMean: 1, studentGram: gramOf([[1, 0], [0, 1]]), teacherGram: gramOf([[1, 0], [0, 1]]), rows: 2, agreement: 0.5 };
    const h = t.report(dev, 0);
    expect(h.window).toBe(4);
    expect(h.calibration.pairs).toBe(8);
    expect(h.studentRank).toBeCloseTo(2, 6);
  });
});

describe('health series in the metrics history', () => {
  it('a health step fills the health columns, other steps leave NaN; files without them still load', async () => {
    const { MetricsHistory, metricRow, metricsToCsv, metricsFromCsv, CORE_METRIC_COLUMNS, HEALTH_METRIC_COLUMNS } = await import('../src/store/metricsHistory');
    const m: StepMetrics = { step: 0, loss: 1, intra: 1, inter: 0, reg: 0, lr: 1e-4, stepMs: 1, gradNorm: 3, labels: [[[1, 0]]], predictions: [[[0.9, 0.1]]], regions: [] };
    const h = new MetricsHistory();
    const health: StepHealth = {
      studentStd: { min: 0.2, mean: 0.8 }, teacherStd: { min: 0.3, mean: 0.7 }, studentRank: 9, teacherRank: 8, rankMax: 22, agreement: 0.4,
      calibration: { bins: [], slope: 0.6, correlation: 0.5, pairs: 10 }, clippedShare: 0.25, gradNormMedian: 3, terms: [], window: 10, diagnosis: [], ms: 1,
    };
    h.push(metricRow({ ...m, health }));
    h.push(metricRow({ ...m, step: 1 }));
    expect(Array.from(h.column('studentRank'))).toEqual([9, NaN]);
    expect(Array.from(h.column('calSlope'))).toEqual([0.6, NaN]);
    expect(Array.from(h.column('gradNorm'))).toEqual([3, 3]);
    // Every step: the mean prediction on overlapped and non-overlapped base crops.
    expect(Array.from(h.column('predOn'))).toEqual([0.9, 0.9]);
    expect(Array.from(h.column('predOff'))).toEqual([0.1, 0.1]);
    const back = metricsFromCsv(metricsToCsv(h.snapshot()));
    expect(Array.from(back.columns.agreement)).toEqual([0.4, NaN]);
    // A CSV of a run saved before the health series existed.
    const old = [CORE_METRIC_COLUMNS.join(','), CORE_METRIC_COLUMNS.map(() => '1').join(',')].join('\n');
    const snap = metricsFromCsv(old);
    for (const c of HEALTH_METRIC_COLUMNS) expect(Array.from(snap.columns[c])).toEqual([NaN]);
    const { columns } = snap;
    const partial = { length: 1, columns: Object.fromEntries(CORE_METRIC_COLUMNS.map((c) => [c, columns[c]])) } as unknown as Parameters<typeof MetricsHistory.fromSnapshot>[0];
    expect(Array.from(MetricsHistory.fromSnapshot(partial).column('teacherRank'))).toEqual([NaN]);
  });
});
