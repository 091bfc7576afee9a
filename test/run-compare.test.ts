import { describe, expect, it } from 'vitest';
import {
  alignMetric,
  chartColumns,
  comparedRun,
  comparisonCsv,
  comparisonJson,
  debiasedEma,
  differingSummary,
  formatNumber,
  markersFromSegments,
  mergeMarkers,
  metricNames,
  parseMetricsCsv,
  resultColumns,
  settingColumns,
  sortOrder,
  summarizeMetric,
  uniqueLabels,
  validMarkers,
  type ComparedRun,
} from '../src/store/runCompare';
import { emaSmooth, MetricsHistory } from '../src/store/metricsHistory';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';

const f64 = (a: number[]) => Float64Array.from(a);

function run(key: string, steps: number[], metrics: Record<string, number[]>, config: Record<string, unknown> | null = null, extra: Partial<ComparedRun> = {}): ComparedRun {
  return {
    key,
    label: key,
    origin: 'saved',
    config,
    volumes: null,
    steps: f64(steps),
    metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, f64(v)])),
    markers: [],
    ...extra,
  };
}

describe('debiased EMA', () => {
  it('is m_t / (1 − β^t) with m_t = β m_{t−1} + (1 − β) x_t', () => {
    const x = [2, 4, 1, 8, 3];
    const beta = 0.7;
    let m = 0;
    const want = x.map((v, i) => {
      m = beta * m + (1 - beta) * v;
      return m / (1 - beta ** (i + 1));
    });
    const got = debiasedEma(x, beta);
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 12));
    // The first point is the value itself (no pull towards 0), unlike the raw EMA (0.3·2 = 0.6).
    expect(got[0]).toBeCloseTo(2, 12);
    // Same numbers as the live charts' smoothing.
    const live = emaSmooth(x, beta);
    live.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
  });

  it('β = 0 is the raw series; a constant stays constant; gaps pass through without advancing t', () => {
    expect(Array.from(debiasedEma([3, 1, 2], 0))).toEqual([3, 1, 2]);
    for (const v of debiasedEma([5, 5, 5, 5], 0.99)) expect(v).toBeCloseTo(5, 10);
    const g = debiasedEma([1, NaN, 3], 0.5);
    expect(g[0]).toBe(1);
    expect(Number.isNaN(g[1])).toBe(true);
    // t = 2 at the third point: (0.5·0.5·1 + 0.5·3) / (1 − 0.25)
    expect(g[2]).toBeCloseTo((0.25 + 1.5) / 0.75, 12);
    expect(() => debiasedEma([1], 1)).toThrow(/β must be in \[0, 1\)/);
  });
});

describe('series of several runs', () => {
  it('lists every metric any run has, known ones first, and aligns runs on the union of steps', () => {
    const a = run('a', [0, 1, 2], { loss: [3, 2, 1], effRank: [5, 6, 7] });
    const b = run('b', [1, 3], { loss: [9, 8], lr: [1e-4, 2e-4], accuracy: [0.1, 0.2] });
    expect(metricNames([a, b])).toEqual(['loss', 'accuracy', 'lr', 'effRank']);
    const al = alignMetric([a, b], 'loss');
    expect(al.x).toEqual([0, 1, 2, 3]);
    expect(al.ys).toEqual([
      [3, 2, 1, null],
      [null, 9, null, 8],
    ]);
    // A run without the metric contributes only nulls; the transform runs per run.
    const lr = alignMetric([a, b], 'lr', (v) => v.map((x) => x * 10));
    expect(lr.x).toEqual([1, 3]);
    expect(lr.ys[0]).toEqual([null, null]);
    expect(lr.ys[1][0]).toBeCloseTo(1e-3, 15);
  });

  it('chart columns: per run a faint raw curve then its debiased EMA; nulls where nothing is drawable', () => {
    const a = run('a', [0, 1, 2], { loss: [4, NaN, 1] });
    const b = run('b', [1, 2], { loss: [2, -1] });
    const c = chartColumns([a, b], 'loss', 0.5, false);
    expect(c.x).toEqual([0, 1, 2]);
    expect(c.kinds).toEqual(['raw', 'smooth', 'raw', 'smooth']);
    expect(c.columns[0]).toEqual([4, null, 1]);
    expect(c.columns[1][0]).toBe(4);
    expect(c.columns[1][2]).toBeCloseTo((0.25 * 4 + 0.5 * 1) / 0.75, 12); // NaN did not advance t
    expect(c.columns[2]).toEqual([null, 2, -1]);
    // Raw only without smoothing; a log axis drops values ≤ 0.
    const r = chartColumns([a, b], 'loss', 0, true);
    expect(r.kinds).toEqual(['smooth', 'smooth']);
    expect(r.columns).toEqual([
      [4, null, 1],
      [null, 2, null],
    ]);
  });

  it('long histories: per bucket the raw min and max (spikes kept) and the EMA computed on every point', () => {
    const n = 1000;
    const steps = Array.from({ length: n }, (_, i) => i);
    const loss = steps.map((i) => (i === 437 ? 50 : 1 + (i % 7) / 100));
    const a = run('a', steps, { loss });
    const c = chartColumns([a], 'loss', 0.9, false, 100);
    expect(c.x).toHaveLength(100); // 50 buckets × (first, last step)
    expect(c.x[0]).toBe(0);
    expect(c.x[1]).toBe(19);
    expect(c.x[99]).toBe(999);
    const raw = c.columns[0] as number[];
    expect(Math.max(...raw)).toBe(50); // the spike survives
    expect(Math.min(...raw)).toBe(1);
    // The smoothed curve's last value is the EMA of all 1000 points.
    const full = debiasedEma(Float64Array.from(loss), 0.9);
    expect(c.columns[1][99]).toBeCloseTo(full[999], 12);
    expect(c.columns[1][0]).toBeCloseTo(full[0], 12);
    // Unsorted or repeated steps (a hand-made CSV) are put in order; the later value of a step wins.
    const u = run('u', [2, 0, 1, 1], { loss: [3, 1, 5, 2] });
    expect(chartColumns([u], 'loss', 0, false)).toEqual({ x: [0, 1, 2], columns: [[1, 2, 3]], kinds: ['smooth'] });
  });

  it('final and best values follow the metric direction and skip NaN', () => {
    const r = run('r', [0, 1, 2, 3], { loss: [3, 1, 2, NaN], accuracy: [0.2, 0.9, 0.5, 0.4], lr: [1, 2, 3, 4] });
    expect(summarizeMetric(r, 'loss')).toEqual({ final: 2, finalStep: 2, best: 1, bestStep: 1 });
    expect(summarizeMetric(r, 'accuracy')).toEqual({ final: 0.4, finalStep: 3, best: 0.9, bestStep: 1 });
    expect(summarizeMetric(r, 'lr')).toEqual({ final: 4, finalStep: 3, best: null, bestStep: null });
    expect(summarizeMetric(r, 'missing').final).toBeNull();
  });

  it('builds a run from any stored history, keeping every column (also ones added later)', () => {
    const h = new MetricsHistory();
    h.push({ step: 0, loss: 1, intra: 0.5, inter: 0.4, reg: 0.1, lr: 1e-4, stepMs: 100, accuracy: 0.3, mae: 0.2 });
    h.push({ step: 1, loss: 0.9, intra: 0.5, inter: 0.3, reg: 0.1, lr: 2e-4, stepMs: 90, accuracy: 0.4, mae: 0.2 });
    const snap = h.snapshot();
    const withHealth = { columns: { ...snap.columns, effectiveRank: f64([3, 4]), neverRecorded: f64([NaN, NaN]) }, length: 2 };
    const r = comparedRun({ key: 'k', label: 'L', origin: 'current', config: { ...DEFAULT_RUN_CONFIG, volumeIds: ['v1'] }, volumes: [{ name: 'a.nii', sha256: 'x' }], history: withHealth, markers: [{ step: 1, label: 'torchrun' }] });
    expect(Array.from(r.steps)).toEqual([0, 1]);
    // Every column with a value is a series; one never recorded (all NaN) is not.
    expect(Object.keys(r.metrics).sort()).toEqual(['accuracy', 'effectiveRank', 'inter', 'intra', 'loss', 'lr', 'mae', 'reg', 'stepMs']);
    expect(r.config).not.toHaveProperty('volumeIds');
    expect(r.config).toHaveProperty('lr', DEFAULT_RUN_CONFIG.lr);
    expect(r.markers).toEqual([{ step: 1, label: 'torchrun' }]);
    expect(() => comparedRun({ key: 'x', label: 'no steps', origin: 'file', config: null, volumes: null, history: { columns: { loss: [1] }, length: 1 } })).toThrow(/no steps: .*no step column/);
  });
});

describe('settings table', () => {
  const cfg = (patch: Record<string, unknown>) => ({ ...DEFAULT_RUN_CONFIG, volumeIds: undefined, ...patch }) as Record<string, unknown>;

  it('has a column per config field, flags the ones that differ, and compares volumes by fingerprint', () => {
    const a = run('a', [0], { loss: [1] }, cfg({ lr: 1e-3 }), { volumes: [{ name: 'ct.nii.gz', sha256: 'aa' }] });
    const b = run('b', [0], { loss: [2] }, cfg({ lr: 1e-4, augment: true }), { volumes: [{ name: 'renamed.nii.gz', sha256: 'aa' }] });
    const cols = settingColumns([a, b]);
    const byKey = Object.fromEntries(cols.map((c) => [c.key, c]));
    // Every RunConfig field but the per-session ids is there, plus the volumes.
    for (const k of Object.keys(DEFAULT_RUN_CONFIG).filter((k) => k !== 'volumeIds')) expect(byKey[k], k).toBeDefined();
    expect(byKey.volumeIds).toBeUndefined();
    expect(cols[0].key).toBe('volumes');
    expect(byKey.volumes.differs).toBe(false); // same content, other file name
    expect(byKey.lr.differs).toBe(true);
    expect(byKey.lr.values.map((v) => v.text)).toEqual(['1e-3', '1e-4']);
    expect(byKey.seed.differs).toBe(false);
    expect(byKey.spacing.values[0].text).toBe('3 × 3 × 3');
    // An optional field set in one run only differs, unless its default is known.
    expect(byKey.augment.differs).toBe(true);
    expect(byKey.augment.values.map((v) => v.text)).toEqual(['—', 'yes']);
    expect(settingColumns([a, b], { augment: true }).find((c) => c.key === 'augment')!.differs).toBe(false);
    expect(differingSummary(cols, 0)).toBe('lr 1e-3 · augment —');
    // A run known only by its metrics (no settings, no volumes) adds no difference.
    const bare = run('csv', [0], { loss: [1] }, null);
    const withBare = settingColumns([a, a, bare]);
    expect(withBare.filter((c) => c.differs)).toEqual([]);
    expect(withBare.find((c) => c.key === 'lr')!.values.map((v) => v.text)).toEqual(['1e-3', '1e-3', '—']);
  });

  it('result columns carry final and best values; sorting puts empty cells last either way', () => {
    const a = run('a', [0, 1], { loss: [3, 2], lr: [1, 1] });
    const b = run('b', [0, 1, 2], { loss: [1, 0.5, 0.7] });
    const c = run('c', [0], {});
    const cols = resultColumns([a, b, c]);
    expect(cols.map((x) => x.key)).toEqual(['steps', 'final:loss', 'best:loss', 'final:lr']);
    const best = cols.find((x) => x.key === 'best:loss')!;
    expect(best.values.map((v) => v.value)).toEqual([2, 0.5, null]);
    expect(sortOrder(best, 'asc', 3)).toEqual([1, 0, 2]);
    expect(sortOrder(best, 'desc', 3)).toEqual([0, 1, 2]);
    const text = { key: 't', label: 't', group: 'setting' as const, differs: true, values: ['S', 'B', 'tiny'].map((v) => ({ value: v, text: v })) };
    expect(sortOrder(text, 'asc', 3)).toEqual([1, 0, 2]);
    expect(sortOrder(undefined, 'asc', 3)).toEqual([0, 1, 2]);
  });

  it('formats numbers short and exact enough; labels are made unique', () => {
    expect([0.001, 0.0003, 0.5, 12, 1e-4, 0.123456789, 2.5e7, 0].map(formatNumber)).toEqual(['1e-3', '3e-4', '0.5', '12', '1e-4', '0.12346', '2.5e7', '0']);
    expect(uniqueLabels(['x', 'x', 'y', 'x'])).toEqual(['x', 'x (2)', 'y', 'x (3)']);
  });
});

describe('markers and metrics CSV of runs continued elsewhere', () => {
  it('puts a marker where the source changes', () => {
    expect(markersFromSegments([0, 1, 2, 3, 4], ['studio', 'studio', 'torchrun', 'torchrun', 'studio'])).toEqual([
      { step: 2, label: 'torchrun' },
      { step: 4, label: 'studio' },
    ]);
    expect(mergeMarkers([{ step: 5, label: 'b' }], [{ step: 1, label: 'a' }, { step: 5, label: 'b' }])).toEqual([
      { step: 1, label: 'a' },
      { step: 5, label: 'b' },
    ]);
    expect(validMarkers([{ step: 3, label: 'torchrun' }], 'f')).toEqual([{ step: 3, label: 'torchrun' }]);
    expect(validMarkers(undefined, 'f')).toEqual([]);
    expect(() => validMarkers([{ step: 'x' }], 'run.voco')).toThrow(/run.voco: marker 1/);
  });

  it('reads any numeric columns and a source column; refuses non-numbers naming row and column', () => {
    const csv = 'step,loss,source,effRank\n0,1.5,studio,3\n1,1.25,studio,\n2,1,torchrun,NaN\n3,0.75,torchrun,4\n';
    const p = parseMetricsCsv(csv, 'cluster.csv');
    expect(Array.from(p.steps)).toEqual([0, 1, 2, 3]);
    expect(Object.keys(p.metrics)).toEqual(['loss', 'effRank']);
    expect(Array.from(p.metrics.loss)).toEqual([1.5, 1.25, 1, 0.75]);
    expect(Number.isNaN(p.metrics.effRank[1])).toBe(true);
    expect(p.markers).toEqual([{ step: 2, label: 'torchrun' }]);
    expect(() => parseMetricsCsv('step,loss\n0,abc\n', 'x.csv')).toThrow('x.csv: row 2, column loss = "abc" is not a number');
    expect(() => parseMetricsCsv('loss\n1\n', 'x.csv')).toThrow(/no "step" column/);
    expect(() => parseMetricsCsv('step,loss\n0\n', 'x.csv')).toThrow(/row 2 has 1 cells, expected 2/);
    expect(() => parseMetricsCsv('', 'x.csv')).toThrow(/x.csv: empty/);
  });
});

describe('exports', () => {
  const a = run('lr "fast", 1e-3', [0, 1], { loss: [2, 1], accuracy: [0.1, NaN] }, { lr: 1e-3 }, { markers: [{ step: 1, label: 'torchrun' }] });
  const b = run('b', [0], { loss: [3] }, { lr: 1e-4 });

  it('CSV is long format run,step,metric,value with quoting', () => {
    const csv = comparisonCsv([a, b]);
    expect(csv.trim().split('\n')).toEqual([
      'run,step,metric,value',
      '"lr ""fast"", 1e-3",0,loss,2',
      '"lr ""fast"", 1e-3",1,loss,1',
      '"lr ""fast"", 1e-3",0,accuracy,0.1',
      '"lr ""fast"", 1e-3",1,accuracy,NaN',
      'b,0,loss,3',
    ]);
  });

  it('JSON carries configs, markers, summaries and series (NaN as null)', () => {
    const doc = JSON.parse(comparisonJson([a, b], { smoothing: 0.6 }));
    expect(doc.format).toBe('voco-studio-comparison');
    expect(doc.smoothing).toBe(0.6);
    expect(doc.runs).toHaveLength(2);
    expect(doc.runs[0].config).toEqual({ lr: 1e-3 });
    expect(doc.runs[0].markers).toEqual([{ step: 1, label: 'torchrun' }]);
    expect(doc.runs[0].metrics.accuracy).toEqual([0.1, null]);
    expect(doc.runs[0].summary.loss).toEqual({ final: 1, finalStep: 1, best: 1, bestStep: 1 });
    expect(doc.runs[1].steps).toEqual([0]);
  });
});
