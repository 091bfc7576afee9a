// The training worker's message handling (TrainingHost) under Node on the cpu backend: configure → ready,
// start → steps … done, pause/resume between steps, checkpoints on request and on schedule, load-checkpoint,
// embed, and errors that name the problem.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/backends';
import { TrainingHost } from '../src/worker/host';
import type { FromWorker, RunConfig, TrainerState } from '../src/worker/protocol';
import type { PreprocessedVolume } from '../src/volume/volume';
import { loadTrainingVolumes } from './helpers/trainingVolumes';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';

const config: RunConfig = {
  ...DEFAULT_RUN_CONFIG,
  volumeIds: ['abdomen', 'chest'],
  preset: 'tiny',
  gridN: 2,
  cropSize: 8,
  randomCrops: 1,
  warmupSteps: 1,
  totalSteps: 6,
  seed: 3,
  backend: 'cpu',
  checkpointEvery: 0,
};

let volumes: PreprocessedVolume[];
beforeAll(() => {
  volumes = loadTrainingVolumes();
});

/** A host with a message log and a way to wait for a message. */
function harness() {
  const log: FromWorker[] = [];
  const waiters: { pred: (m: FromWorker) => boolean; resolve: (m: FromWorker) => void }[] = [];
  const host = new TrainingHost({
    post: (msg) => {
      log.push(msg);
      for (const w of [...waiters]) {
        if (w.pred(msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
    },
    initBackend: (choice) => initBackend(choice, { useStore: false }),
  });
  const next = <T extends FromWorker>(pred: (m: FromWorker) => m is T, timeoutMs = 60_000): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; log: ${log.map((m) => m.type).join(',')}`)), timeoutMs);
      waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m as T)) });
    });
  const is = <K extends FromWorker['type']>(type: K) => (m: FromWorker): m is Extract<FromWorker, { type: K }> => m.type === type;
  const state = (s: string) => (m: FromWorker): m is Extract<FromWorker, { type: 'state' }> => m.type === 'state' && m.state === s;
  return { host, log, next, is, state };
}

describe('TrainingHost (cpu)', () => {
  it('configures, trains to totalSteps, pauses and resumes between steps, and checkpoints', async () => {
    const { host, log, next, is, state } = harness();
    await host.handle({ type: 'configure', config, volumes });
    const ready = log.find(is('ready'))!;
    expect(ready.backend.name).toBe('cpu');
    expect(ready.paramCount).toBeGreaterThan(0);
    expect(ready.paramCounts!.total).toBe(ready.paramCount);
    expect(ready.embedDim).toBe(96); // tiny: 3 taps × 32
    expect(tf.getBackend()).toBe('cpu');

    const firstStep = next(is('step'));
    await host.handle({ type: 'start' });
    expect((await firstStep).metrics.step).toBe(0);
    const paused = next(state('paused'));
    await host.handle({ type: 'pause' });
    expect((await paused).step).toBeGreaterThanOrEqual(1);
    const stepsWhenPaused = log.filter(is('step')).length;
    // A checkpoint while paused.
    const ckpt = next(is('checkpoint'));
    await host.handle({ type: 'checkpoint-request', requestId: 41 });
    const c = await ckpt;
    expect(c.requestId).toBe(41);
    expect(c.reason).toBe('request');
    expect(c.state.step).toBe(stepsWhenPaused);
    await new Promise((r) => setTimeout(r, 50));
    expect(log.filter(is('step')).length).toBe(stepsWhenPaused); // really paused

    const done = next(state('done'));
    await host.handle({ type: 'resume' });
    await done;
    const steps = log.filter(is('step')).map((m) => m.metrics.step);
    expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
    expect(log.filter(is('state')).map((m) => m.state)).toEqual(['idle', 'running', 'paused', 'running', 'done']);
    expect(log.some(is('error'))).toBe(false);
    await host.dispose();
  });

  it('autosaves every checkpointEvery steps, loads a checkpoint and continues identically', async () => {
    const { host, log, next, is, state } = harness();
    await host.handle({ type: 'configure', config: { ...config, checkpointEvery: 2 }, volumes });
    const done = next(state('done'));
    await host.handle({ type: 'start' });
    await done;
    const autos = log.filter(is('checkpoint'));
    expect(autos.map((c) => [c.reason, c.requestId, c.state.step])).toEqual([
      ['auto', null, 2],
      ['auto', null, 4],
      ['auto', null, 6],
    ]);
    const reference = log.filter(is('step')).map((m) => m.metrics.loss);

    // Back to step 2 and train the rest again: the same losses.
    const saved: TrainerState = structuredClone(autos[0].state);
    const loaded = next(is('checkpoint-loaded'));
    await host.handle({ type: 'load-checkpoint', requestId: 7, state: saved });
    expect((await loaded).step).toBe(2);
    const before = log.length;
    const done2 = next(state('done'));
    await host.handle({ type: 'start' });
    await done2;
    const again = log.slice(before).filter(is('step')).map((m) => m.metrics.loss);
    expect(again).toEqual(reference.slice(2));
    await host.dispose();
  });

  it('set-total-steps extends a finished run; stop ends the loop', async () => {
    const { host, log, next, is, state } = harness();
    await host.handle({ type: 'configure', config: { ...config, totalSteps: 2 }, volumes });
    const done = next(state('done'));
    await host.handle({ type: 'start' });
    await done;
    await host.handle({ type: 'set-total-steps', totalSteps: 50 });
    const step3 = next((m): m is Extract<FromWorker, { type: 'step' }> => m.type === 'step' && m.metrics.step === 3);
    await host.handle({ type: 'start' });
    await step3;
    const stopped = next(state('stopped'));
    await host.handle({ type: 'stop' });
    await stopped;
    const n = log.filter(is('step')).length;
    expect(n).toBeGreaterThanOrEqual(4);
    expect(n).toBeLessThan(50);
    await host.dispose();
  });

  it('answers embed requests with count × dim floats', async () => {
    const { host, log, is } = harness();
    await host.handle({ type: 'configure', config, volumes });
    await host.handle({
      type: 'embed',
      requestId: 5,
      crops: [
        { volumeId: 'chest', origin: [10, 10, 10] },
        { volumeId: 'abdomen', origin: [0, 0, 0], flip: [true, false, false], rot90: 1, shift: 0.05 },
      ],
    });
    const e = log.find(is('embedding'))!;
    expect(e.requestId).toBe(5);
    expect(e.count).toBe(2);
    expect(e.dim).toBe(96);
    expect(e.data.length).toBe(192);
    expect(e.data.every(Number.isFinite)).toBe(true);
    await host.handle({ type: 'embed', requestId: 6, crops: [{ volumeId: 'liver', origin: [0, 0, 0] }] });
    const err = log.find(is('error'))!;
    expect(err).toMatchObject({ requestId: 6, fatal: false });
    expect(err.message).toMatch(/"liver" is not part of the run/);
    await host.dispose();
  });

  it('reports configuration problems as fatal errors that name them', async () => {
    const { host, log, is } = harness();
    await host.handle({ type: 'configure', config: { ...config, volumeIds: ['abdomen', 'nowhere'] }, volumes });
    expect(log.find(is('error'))).toMatchObject({ fatal: true, message: expect.stringMatching(/nowhere/) });
    await host.handle({ type: 'start' });
    expect(log.filter(is('error'))[1].message).toMatch(/configure/);
    await host.handle({ type: 'configure', config: { ...config, preset: 'XXL' }, volumes });
    expect(log.filter(is('error'))[2].message).toMatch(/unknown model preset "XXL"/);
    await host.dispose();
  });

  it('passes the half-precision opt-in to initBackend, and starts the backend again only when it changes', async () => {
    const calls: unknown[] = [];
    const host = new TrainingHost({
      post: () => undefined,
      initBackend: (c, o) => (calls.push([c, o]), initBackend(c, { useStore: false })),
    });
    await host.handle({ type: 'configure', config, volumes });
    await host.handle({ type: 'configure', config: { ...config, halfPrecisionMatmul: true }, volumes });
    await host.handle({ type: 'configure', config: { ...config, halfPrecisionMatmul: true }, volumes });
    expect(calls).toEqual([[config.backend, { halfPrecisionMatmul: false }], [config.backend, { halfPrecisionMatmul: true }]]);
    await host.dispose();
  });

  it('a non-finite loss is reported as a recoverable error and pauses the run', async () => {
    let trainerRef: import('../src/worker/trainer').Trainer | null = null;
    const log: FromWorker[] = [];
    const { Trainer } = await import('../src/worker/trainer');
    const host = new TrainingHost({
      post: (m) => log.push(m),
      initBackend: (c) => initBackend(c, { useStore: false }),
      createTrainer: async (cfg, vols) => (trainerRef = await Trainer.create(cfg, vols)),
    });
    await host.handle({ type: 'configure', config, volumes });
    trainerRef!.poisonNextStep = true;
    await host.handle({ type: 'start' });
    for (let i = 0; i < 200 && !log.some((m) => m.type === 'state' && m.state === 'paused'); i++) await new Promise((r) => setTimeout(r, 25));
    const err = log.find((m) => m.type === 'error') as Extract<FromWorker, { type: 'error' }>;
    expect(err.fatal).toBe(false);
    expect(err.message).toMatch(/not finite.*update was skipped/);
    expect(host.trainingState).toBe('paused');
    expect(log.filter((m) => m.type === 'step')).toHaveLength(0);
    await host.dispose();
  });
});
