// Every downstream task end-to-end on the cpu backend with the 'tiny' preset on small synthetic labelled volumes:
// finite scores in range, learning curves, the same crops for every weights set, the scaling sweep and the
// worker handler's messages.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { runBenchmark, validateBenchmarkRequest } from '../src/eval/benchmark';
import { TASK_CATALOG, taskInfo } from '../src/eval/tasks/catalog';
import { PRESETS, VocoModel } from '../src/model';
import { BenchmarkHandler } from '../src/worker/benchmarkHandler';
import { sampleCrops } from '../src/kernels/cropSampler';
import { packVolumes } from '../src/kernels/packVolumes';
import type { BenchmarkEvent, BenchmarkOptions, BenchmarkRequest, BenchmarkResult, FromWorker, RunConfig } from '../src/worker/protocol';
import { SYNTHETIC_NAMES, syntheticLabelledVolume } from './helpers/syntheticLabelled';
import { Rng } from '../src/voco/rng';
import type { PreprocessedVolume } from '../src/volume/volume';

const R = 16;

function options(over: Partial<BenchmarkOptions> = {}): BenchmarkOptions {
  return {
    seed: 5,
    cropSize: R,
    gridN: 3,
    maxStructures: 3,
    minStructureVoxels: 50,
    cropsPerStructure: 6,
    testShare: 0.3,
    position: { regionsPerVolume: 2, randomCrops: 2 },
    probe: { iterations: 60, l2: 1e-3 },
    segmentation: { shots: 4, testCrops: 4, iterations: 12, fineTune: false, lr: 0.01, hidden: 16 },
    retrieval: { k: 3 },
    ...over,
  };
}

const TRAIN: Omit<RunConfig, 'volumeIds' | 'preset' | 'totalSteps'> = {
  gridN: 3,
  cropSize: R,
  spacing: [3, 3, 3],
  huWindow: [-175, 250],
  batchVolumes: 2,
  randomCrops: 2,
  lr: 1e-3,
  warmupSteps: 0,
  weightDecay: 0.01,
  gradClip: 1,
  seed: 11,
  backend: 'cpu',
  checkpointEvery: 0,
};

const volumes = [syntheticLabelledVolume('syn-a', 1), syntheticLabelledVolume('syn-b', 2), syntheticLabelledVolume('syn-c', 3)];

function request(over: Partial<BenchmarkRequest> = {}): BenchmarkRequest {
  return {
    tasks: TASK_CATALOG.map((t) => t.id),
    options: options(),
    volumes,
    evalVolumeIds: ['syn-a', 'syn-b'],
    pretrainVolumeIds: ['syn-c'],
    labelNames: SYNTHETIC_NAMES,
    weights: [{ id: 'init', label: 'tiny · random init', preset: 'tiny', cropSize: R, seed: 11, step: 0, source: 'initial' }],
    backend: 'cpu',
    ...over,
  };
}

const quietHooks = (events: BenchmarkEvent[] = []) => ({
  emit: (e: BenchmarkEvent) => events.push(e),
  cancelled: () => false,
  yield: () => Promise.resolve(),
});

function expectScoresInRange(result: BenchmarkResult, weightsIds: string[]) {
  for (const w of weightsIds) {
    for (const task of TASK_CATALOG) {
      for (const m of task.metrics) {
        const s = result.scores.find((x) => x.weightsId === w && x.task === task.id && x.metric === m.key);
        expect(s, `${w} ${task.id} ${m.key}`).toBeDefined();
        expect(Number.isFinite(s!.value), `${w} ${task.id} ${m.key} = ${s!.value}`).toBe(true);
        expect(s!.value).toBeGreaterThanOrEqual(m.range[0]);
        expect(s!.value).toBeLessThanOrEqual(m.range[1]);
        expect(s!.n).toBeGreaterThan(0);
      }
    }
  }
}

/** 96×96×48 voxels, two large textured boxes (labels 1, 2) spanning many 32³ blocks: room for a block split at r = 16. */
function blockyVolume(): PreprocessedVolume {
  const dims: [number, number, number] = [96, 96, 48];
  const [nx, ny, nz] = dims;
  const rng = new Rng(4);
  const data = new Float32Array(nx * ny * nz);
  const labels = new Uint8Array(nx * ny * nz);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        const l = x < 44 && y < 90 ? 1 : x >= 52 && y >= 6 ? 2 : 0;
        labels[i] = l;
        data[i] = l === 1 ? 0.7 + 0.1 * rng.next() : l === 2 ? ((x >> 1) % 2 ? 0.5 : 0.35) : 0.1 * rng.next();
      }
  return { id: 'syn-big', name: 'syn-big.nii.gz', dims, spacing: [3, 3, 3], affine: [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]], data, labels };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('downstream tasks on the tiny preset (cpu)', () => {
  it('per-token features average to the GAP embedding', () => {
    const model = VocoModel.create(PRESETS.tiny, R, 3);
    const { data, layout } = packVolumes([volumes[0]]);
    const packed = tf.tensor1d(data);
    try {
      const crops = [0, 8].map((o) => ({ volume: 0, origin: [o, o, 2] as [number, number, number], flip: [false, false, false] as [boolean, boolean, boolean], rot90: 0, shift: 0 }));
      const [gap, mean, shape] = tf.tidy(() => {
        const tokens = sampleCrops(packed, layout, crops, R, PRESETS.tiny.patch);
        const perToken = model.embedTokens(tokens);
        return [model.embed(tokens).arraySync(), tf.mean(perToken, 1).arraySync(), perToken.shape];
      });
      expect(shape).toEqual([2, (R / PRESETS.tiny.patch) ** 3, model.embedDim]);
      (gap as number[][]).forEach((row, i) => row.forEach((v, j) => expect((mean as number[][])[i][j]).toBeCloseTo(v, 4)));
    } finally {
      packed.dispose();
      model.dispose();
    }
  });

  it('runs all four tasks for random weights: finite scores in range, curves, chance levels, no leaked tensors', async () => {
    const before = tf.memory().numTensors;
    const events: BenchmarkEvent[] = [];
    const result = await runBenchmark(request(), quietHooks(events));
    expect(result.skipped).toEqual([]);
    expectScoresInRange(result, ['init']);
    for (const task of TASK_CATALOG) {
      const pts = result.curves.filter((c) => c.task === task.id && c.series === task.curve.main);
      expect(pts.length, `${task.id} curve`).toBeGreaterThan(0);
      for (const p of pts) expect(p.y).toBeGreaterThanOrEqual(0);
    }
    // Split by volume: two labelled volumes, one held out.
    const probe = result.scores.find((s) => s.task === 'organ-probe' && s.metric === 'macroF1')!;
    expect(probe.notes.join(' ')).toMatch(/split by volume/);
    expect(probe.chance).toBeGreaterThan(0);
    expect(Object.keys(probe.perStructure!).sort()).toEqual(['bright_ball', 'speckled_ball', 'striped_box']);
    const seg = result.scores.find((s) => s.task === 'few-shot-seg')!;
    expect(Object.keys(seg.perStructure!).length).toBeGreaterThan(0);
    // Position leaves the pre-training volume out.
    expect(result.scores.find((s) => s.task === 'position')!.notes.join(' ')).toMatch(/2 volume\(s\) not used for pre-training/);
    expect(result.structures.map((s) => s.name)).toHaveLength(3);
    // Events streamed as they came, ending with 'done'.
    expect(events.filter((e) => e.kind === 'scores').length).toBe(4);
    expect(events.at(-1)).toMatchObject({ kind: 'status', message: 'done' });
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('scores the same weights identically (same crops, seeded heads) and fine-tunes on a private copy', async () => {
    const fewIterations = { segmentation: { ...options().segmentation, iterations: 4 } };
    const req = request({ tasks: ['organ-probe', 'few-shot-seg', 'retrieval'], options: options(fewIterations) });
    const a = await runBenchmark(req, quietHooks());
    const b = await runBenchmark(req, quietHooks());
    expect(b.scores.map((s) => s.value)).toEqual(a.scores.map((s) => s.value));
    const ft = await runBenchmark(
      request({ tasks: ['few-shot-seg', 'retrieval'], options: options({ segmentation: { ...options().segmentation, iterations: 4, fineTune: true } }) }),
      quietHooks(),
    );
    expect(ft.scores).toHaveLength(2);
    for (const s of ft.scores) {
      expect(Number.isFinite(s.value)).toBe(true);
      expect(s.value).toBeGreaterThanOrEqual(0);
      expect(s.value).toBeLessThanOrEqual(1);
    }
    const seg = ft.scores.find((s) => s.task === 'few-shot-seg')!;
    expect(Number.isFinite(seg.value)).toBe(true);
    expect(seg.notes.join(' ')).toMatch(/fine-tuned/);
    // Retrieval runs after the fine-tuning task and must still see the untouched encoder.
    expect(ft.scores.find((s) => s.task === 'retrieval')!.value).toBe(a.scores.find((s) => s.task === 'retrieval')!.value);
  }, 120_000);

  it('one labelled volume, repeated splits: block split without shared voxels, per-split values, the mean, split 1 = the single split', async () => {
    const big = blockyVolume();
    const oneVolume = (over: Partial<BenchmarkOptions>) =>
      request({ tasks: ['organ-probe', 'retrieval'], volumes: [big], evalVolumeIds: ['syn-big'], pretrainVolumeIds: [], options: options({ cropsPerStructure: 10, ...over }) });
    const three = await runBenchmark(oneVolume({ splits: 3 }), quietHooks());
    expect(three.skipped).toEqual([]);
    const one = await runBenchmark(oneVolume({}), quietHooks());
    for (const s of three.scores) {
      expect(s.splitValues, `${s.task}/${s.metric}`).toHaveLength(3);
      expect(s.value).toBeCloseTo(s.splitValues!.reduce((a, x) => a + x, 0) / 3, 12);
      const single = one.scores.find((x) => x.task === s.task && x.metric === s.metric)!;
      expect(single.splitValues).toBeUndefined();
      expect(s.splitValues![0]).toBe(single.value);
    }
    // The splits differ (other crops), so the values are not all one number.
    const f1 = three.scores.find((s) => s.task === 'organ-probe' && s.metric === 'macroF1')!;
    expect(f1.notes.join(' ')).toMatch(/mean of 3 repeated splits/);
    expect(f1.notes.join(' ')).toMatch(/no test crop shares a voxel with a training crop/);
    expect(three.scores.find((s) => s.task === 'retrieval')!.notes.join(' ')).toMatch(/sharing a voxel with the query are not candidates/);
    expect(() => validateBenchmarkRequest(oneVolume({ splits: 0 }))).toThrow(/splits must be an integer ≥ 1/);
  }, 120_000);

  it('skips label tasks without labels, with the reason', async () => {
    const unlabelled = volumes.map((v) => ({ ...v, labels: undefined }));
    const result = await runBenchmark(request({ volumes: unlabelled }), quietHooks());
    expect(result.skipped.map((s) => s.task).sort()).toEqual(['few-shot-seg', 'organ-probe', 'retrieval']);
    expect(result.skipped[0].reason).toMatch(/no scored volume has a label map/);
    expect(result.scores.filter((s) => s.task === 'position').length).toBe(2);
  }, 60_000);

  it('refuses weights built for another crop size and unknown tasks', () => {
    expect(() =>
      validateBenchmarkRequest(request({ tasks: ['position', 'nope'], weights: [{ ...request().weights[0], cropSize: 32 }] })),
    ).toThrow(/unknown task "nope".*built for crops of 32 voxels, the benchmark uses 16/);
  });
});

describe('benchmark handler (worker messages) with a scaling sweep', () => {
  it('pre-trains the tiny preset, scores steps 0 and 2, streams progress and answers benchmark-result', async () => {
    const posted: FromWorker[] = [];
    const handler = new BenchmarkHandler({
      post: (m) => posted.push(m),
      initBackend: async (choice) => {
        await tf.setBackend('cpu');
        return { name: 'cpu', software: true, reason: `test (${choice})` };
      },
    });
    await handler.handle({
      type: 'benchmark-run',
      requestId: 7,
      request: request({ weights: [], tasks: ['position', 'retrieval'], sweep: { presets: ['tiny'], steps: [0, 2], train: TRAIN } }),
    });
    const errors = posted.filter((m) => m.type === 'error');
    expect(errors).toEqual([]);
    const result = posted.find((m) => m.type === 'benchmark-result');
    expect(result).toBeDefined();
    if (result?.type !== 'benchmark-result') return;
    expect(result.requestId).toBe(7);
    expect(result.result.weights.map((w) => [w.id, w.step, w.source])).toEqual([
      ['sweep:tiny:0', 0, 'sweep'],
      ['sweep:tiny:2', 2, 'sweep'],
    ]);
    expect(result.result.weights[0].encoderParams).toBeGreaterThan(0);
    for (const id of ['sweep:tiny:0', 'sweep:tiny:2']) {
      for (const task of ['position', 'retrieval']) {
        for (const m of taskInfo(task).metrics) {
          const s = result.result.scores.find((x) => x.weightsId === id && x.task === task && x.metric === m.key)!;
          expect(Number.isFinite(s.value)).toBe(true);
          expect(s.value).toBeGreaterThanOrEqual(m.range[0]);
          expect(s.value).toBeLessThanOrEqual(m.range[1]);
        }
      }
    }
    const progress = posted.filter((m) => m.type === 'benchmark-progress').map((m) => (m as { event: BenchmarkEvent }).event);
    expect(progress.some((e) => e.kind === 'pretrain' && e.step === 2)).toBe(true);
    // Two training steps change the weights: the position scores of step 2 are computed from other weights.
    const pos = (id: string) => result.result.scores.find((x) => x.weightsId === id && x.metric === 'mae')!.value;
    expect(pos('sweep:tiny:2')).not.toBe(pos('sweep:tiny:0'));
  }, 120_000);

  it('a cancel stops the run (here before its first task); a bad request is an error with its requestId', async () => {
    const posted: FromWorker[] = [];
    const handler = new BenchmarkHandler({ post: (m) => posted.push(m), initBackend: async () => ({ name: 'cpu', software: true, reason: 'test' }) });
    const run = handler.handle({ type: 'benchmark-run', requestId: 1, request: request() });
    await handler.handle({ type: 'benchmark-cancel', requestId: 1 });
    await run;
    expect(posted.some((m) => m.type === 'benchmark-cancelled' && m.requestId === 1)).toBe(true);
    await handler.handle({ type: 'benchmark-run', requestId: 2, request: request({ evalVolumeIds: ['missing'] }) });
    const err = posted.find((m) => m.type === 'error');
    expect(err).toMatchObject({ type: 'error', requestId: 2, fatal: false });
    expect((err as { message: string }).message).toMatch(/volumes not sent with the request: missing/);
  }, 60_000);
});
