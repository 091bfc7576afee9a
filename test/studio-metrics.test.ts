import { describe, expect, it } from 'vitest';
import {
  METRIC_COLUMNS,
  MetricsHistory,
  argmax,
  emaSmooth,
  IncrementalEma,
  metricRow,
  metricsFromCsv,
  metricsToCsv,
  positionSummary,
  type MetricRow,
} from '../src/store/metricsHistory';
import type { StepMetrics } from '../src/worker/protocol';

const row = (step: number, loss = 1 / (step + 1)): MetricRow => ({
  step,
  loss,
  intra: loss / 2,
  inter: loss / 3,
  reg: loss / 6,
  lr: 1e-4 * step,
  stepMs: 10 + (step % 7),
  accuracy: (step % 3) / 2,
  mae: 0.1,
});

describe('MetricsHistory', () => {
  it('keeps every point in order until the cap, as views without copies', () => {
    const h = new MetricsHistory(1000);
    for (let s = 0; s < 700; s++) h.push(row(s));
    expect(h.length).toBe(700);
    const steps = h.column('step');
    expect(steps.length).toBe(700);
    expect(steps[0]).toBe(0);
    expect(steps[699]).toBe(699);
    expect(h.column('loss')[10]).toBe(1 / 11);
    expect(h.last('lr')).toBe(1e-4 * 699);
  });

  it('thins older points when full, keeping the newest and staying under the cap', () => {
    const h = new MetricsHistory(64);
    const gen0 = h.generation;
    for (let s = 0; s < 1000; s++) h.push(row(s));
    expect(h.length).toBeLessThanOrEqual(64);
    expect(h.length).toBeGreaterThan(32);
    expect(h.last('step')).toBe(999);
    expect(h.generation).toBeGreaterThan(gen0);
    const steps = h.column('step');
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThan(steps[i - 1]);
    // Values stay attached to their step.
    for (let i = 0; i < steps.length; i++) expect(h.column('loss')[i]).toBe(1 / (steps[i] + 1));
  });

  it('drops points after a rewound step (resume from an older checkpoint)', () => {
    const h = new MetricsHistory();
    for (let s = 1; s <= 10; s++) h.push(row(s));
    h.push(row(6, 42));
    expect(Array.from(h.column('step'))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(h.last('loss')).toBe(42);
  });

  it('snapshots and reloads exactly', () => {
    const h = new MetricsHistory();
    for (let s = 0; s < 300; s++) h.push(row(s, Math.random()));
    const snap = h.snapshot();
    const g = MetricsHistory.fromSnapshot(structuredClone(snap));
    for (const c of METRIC_COLUMNS) expect(Array.from(g.column(c))).toEqual(Array.from(h.column(c)));
    // The snapshot is a copy: later pushes do not change it.
    h.push(row(300));
    expect(snap.length).toBe(300);
  });

  it('round-trips through CSV bit for bit and rejects malformed CSV', () => {
    const h = new MetricsHistory();
    for (let s = 0; s < 50; s++) h.push(row(s, Math.fround(Math.random() * 3) + 1e-17 * s));
    h.push({ ...row(50), accuracy: NaN });
    const snap = h.snapshot();
    const back = metricsFromCsv(metricsToCsv(snap));
    expect(back.length).toBe(snap.length);
    for (const c of METRIC_COLUMNS) {
      expect(Buffer.from(back.columns[c].buffer).equals(Buffer.from(snap.columns[c].buffer))).toBe(true);
    }
    expect(() => metricsFromCsv('')).toThrow(/empty/);
    expect(() => metricsFromCsv('step,loss\n1,2\n')).toThrow(/column "intra" is missing/);
    const csv = metricsToCsv(snap).replace(/\n1,/, '\nabc,');
    expect(() => metricsFromCsv(csv)).toThrow(/not a number/);
  });
});

describe('position summary', () => {
  it('computes argmax accuracy and mean absolute error over every random crop', () => {
    const labels = [
      [
        [0.5, 0.5, 0, 0],
        [0, 0, 1, 0],
      ],
      [[0.1, 0.2, 0.3, 0.4]],
    ];
    const predictions = [
      [
        [0.9, 0.1, 0, 0], // argmax 0 = truth argmax 0 (first of the tie)
        [0, 1, 0, 0], // wrong
      ],
      [[0.1, 0.2, 0.3, 0.8]], // right
    ];
    const { accuracy, mae } = positionSummary(labels, predictions);
    expect(accuracy).toBeCloseTo(2 / 3, 12);
    const abs = 0.4 + 0.4 + 0 + 0 + (0 + 1 + 1 + 0) + (0 + 0 + 0 + 0.4);
    expect(mae).toBeCloseTo(abs / 12, 12);
    expect(() => positionSummary(labels, [[[1, 0]]])).toThrow(/does not match/);
    expect(argmax([1, 3, 2])).toBe(1);
  });

  it('turns step metrics into a history row', () => {
    const m: StepMetrics = {
      step: 7, loss: 3, intra: 1, inter: 1.5, reg: 0.5, lr: 2e-4, stepMs: 120,
      labels: [[[1, 0, 0, 0]]], predictions: [[[0.2, 0.9, 0, 0]]], regions: [],
    };
    expect(metricRow(m)).toEqual({ step: 7, loss: 3, intra: 1, inter: 1.5, reg: 0.5, lr: 2e-4, stepMs: 120, accuracy: 0, mae: (0.8 + 0.9) / 4, predOn: 0.2, predOff: 0.3 });
  });
});

describe('EMA smoothing', () => {
  it('is debiased (a constant stays constant) and follows a step change', () => {
    const flat = emaSmooth([2, 2, 2, 2], 0.9);
    for (const v of flat) expect(v).toBeCloseTo(2, 12);
    const s = emaSmooth([0, 0, 10, 10, 10], 0.5);
    expect(s[0]).toBe(0);
    expect(s[2]).toBeGreaterThan(0);
    expect(s[2]).toBeLessThan(10);
    expect(s[4]).toBeGreaterThan(s[3]);
    // weight 0 is the identity
    expect(Array.from(emaSmooth([1, 5, 3], 0))).toEqual([1, 5, 3]);
  });

  it('incremental smoothing equals the full recomputation, and restarts on a new generation', () => {
    const h = new MetricsHistory(64);
    const ema = new IncrementalEma();
    for (let s = 0; s < 300; s++) {
      h.push(row(s, Math.sin(s) + 2));
      if (s % 7 === 0) {
        const inc = ema.update(h.column('loss'), 0.8, h.generation);
        expect(Array.from(inc)).toEqual(Array.from(emaSmooth(h.column('loss'), 0.8)));
      }
    }
    expect(Array.from(ema.update(h.column('loss'), 0.3, h.generation))).toEqual(Array.from(emaSmooth(h.column('loss'), 0.3)));
  });
});

describe('run store', async () => {
  const { useRunStore, ingestStep, flushSteps, runHistory, beginRun, etaSeconds, stepRate, formatDuration } = await import('../src/store/runStore');
  const { DEFAULT_RUN_CONFIG } = await import('../src/store/runConfig');
  const step = (i: number): StepMetrics => ({
    step: i, loss: 5 - i * 0.001, intra: 2, inter: 2, reg: 1 - i * 0.001, lr: 1e-4, stepMs: 5,
    labels: [[[1, 0, 0, 0]], [[0, 1, 0, 0]]], predictions: [[[0.9, 0, 0, 0]], [[0.8, 0.1, 0, 0]]], regions: [],
  });

  it('takes hundreds of steps between frames with one store update', () => {
    beginRun({ runId: 'r1', runName: 'test', config: { ...DEFAULT_RUN_CONFIG, totalSteps: 1000 }, step: 0, createdAt: 0, runVolumes: [] });
    const v0 = useRunStore.getState().historyVersion;
    let updates = 0;
    const unsub = useRunStore.subscribe(() => updates++);
    for (let i = 0; i < 500; i++) ingestStep(step(i), i * 2); // 500 steps/s
    expect(updates).toBe(0); // nothing published before the frame
    expect(runHistory.length).toBe(500);
    flushSteps();
    unsub();
    expect(updates).toBe(1);
    const s = useRunStore.getState();
    expect(s.historyVersion).toBe(v0 + 1);
    expect(s.latest?.step).toBe(499);
    expect(s.step).toBe(500);
    expect(s.stepsPerSecond).toBeCloseTo(500, 6);
    expect(etaSeconds(s)).toBeCloseTo(1, 6);
    expect(runHistory.last('accuracy')).toBe(0.5); // volume 0 right, volume 1 wrong
  });

  it('resumes with the saved history and drops points past the checkpoint', () => {
    const snap = runHistory.snapshot();
    beginRun({ runId: 'r1', runName: 'test', config: DEFAULT_RUN_CONFIG, step: 300, createdAt: 0, runVolumes: [], metrics: snap });
    expect(runHistory.length).toBe(300);
    expect(runHistory.last('step')).toBe(299);
    expect(useRunStore.getState().step).toBe(300);
    ingestStep(step(300));
    flushSteps();
    expect(runHistory.length).toBe(301);
  });

  it('formats rates and durations', () => {
    expect(stepRate([0])).toBeNull();
    expect(stepRate([0, 1000, 2000])).toBe(1);
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(125)).toBe('2m 05s');
    expect(formatDuration(7260)).toBe('2h 01m');
  });
});
