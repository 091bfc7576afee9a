// Studio ↔ Python package parity: the same run state gives the same crop plans, dropout rows, loss, gradients and
// updated weights in the studio (tfjs cpu backend) and in python/vocostudio (PyTorch, /usr/bin/python3), and a
// .voco passes through the package byte for byte. Fails (never skips) when Debian's torch is missing.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Trainer } from '../src/worker/trainer';
import { decodeRunFile, encodeRunFile } from '../src/persist/runFile';
import { PRESETS } from '../src/model/presets';
import { VocoModel } from '../src/model/vocoModel';
import { fromSafetensors, toSafetensors, type NamedTensorData } from '../src/model/weights';
import { MetricsHistory, metricRow } from '../src/store/metricsHistory';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import { Rng } from '../src/voco/rng';
import { trainingVolume } from '../src/voco/wholeVolume';
import { planBatch, batchCrops, REFERENCE_AUGMENT } from '../src/voco/cropPlan';
import type { RunConfig, StepMetrics, TrainerState } from '../src/worker/protocol';
import type { SavedRun } from '../src/persist/savedRun';
import type { PreprocessedVolume } from '../src/volume/volume';
import { ABDOMEN_CT, CHEST_CT, loadTrainingVolumes } from './helpers/trainingVolumes';
import { PYTHON, PYTHON_DIR, pythonEnv, requireTorch, runChecked } from './helpers/python';

const config: RunConfig = {
  ...DEFAULT_RUN_CONFIG,
  dataMode: 'region', // the Python twin cuts random regions only
  volumeIds: ['abdomen', 'chest'],
  preset: 'tiny',
  gridN: 2,
  cropSize: 8,
  warmupSteps: 2,
  totalSteps: 50,
  lr: 1e-3,
  seed: 11,
  backend: 'cpu',
  checkpointEvery: 0,
};

/** ‖a − b‖ / ‖b‖ (0 when both are zero). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

export function savedRunOf(state: TrainerState, history: MetricsHistory, volumes: PreprocessedVolume[]): SavedRun {
  return {
    meta: {
      id: 'run-parity', name: 'parity', createdAt: Date.UTC(2026, 0, 1), savedAt: Date.UTC(2026, 0, 1, 0, 1), step: state.step,
      config: state.config,
      volumes: volumes.map((v) => ({ id: v.id, name: v.name, dims: v.dims, spacing: v.spacing, sha256: '00' })),
      lastLoss: history.last('loss') ?? null, backend: 'cpu', origin: 'trained',
    },
    state,
    metrics: history.snapshot(),
  };
}

let dir: string;
let volumes: PreprocessedVolume[];
let before: TrainerState;
let probe: Awaited<ReturnType<Trainer['probeGradients']>>;
let metrics: StepMetrics;
let after: TrainerState;
let runBytes: Uint8Array;

beforeAll(async () => {
  requireTorch();
  await tf.setBackend('cpu');
  volumes = loadTrainingVolumes([16, 16, 8]);
  const trainer = await Trainer.create(config, volumes);
  const history = new MetricsHistory();
  try {
    // Two steps first, so the AdamW moments and the amsgrad maxima are not zero.
    for (let i = 0; i < 2; i++) history.push(metricRow(await trainer.step()));
    before = await trainer.exportState();
    probe = await trainer.probeGradients();
    metrics = await trainer.step();
    after = await trainer.exportState();
  } finally {
    trainer.dispose();
  }
  dir = mkdtempSync(join(tmpdir(), 'voco-parity-'));
  runBytes = encodeRunFile(savedRunOf(before, history, volumes), PRESETS.tiny);
  writeFileSync(join(dir, 'run.voco'), runBytes);
  // Volumes as [z, y, x] arrays (x fastest, as the studio packs them).
  writeFileSync(join(dir, 'volumes.safetensors'), toSafetensors(volumes.map((v, i) => ({ name: `vol.${i}`, shape: [v.dims[2], v.dims[1], v.dims[0]], data: v.data }))));
  runChecked(PYTHON, [resolve(PYTHON_DIR, 'tests/parity_step.py'), dir], { env: pythonEnv(), timeoutMs: 300_000 });
}, 600_000);

const result = () => new Map(fromSafetensors(new Uint8Array(readFileSync(join(dir, 'result.safetensors')))).tensors.map((t) => [t.name, t.data]));

describe('Python package parity (tfjs cpu vs PyTorch)', () => {
  it('passes a studio .voco through the package byte for byte', () => {
    const back = readFileSync(join(dir, 'roundtrip.voco'));
    expect(back.length).toBe(runBytes.length);
    expect(Buffer.from(runBytes).equals(back)).toBe(true);
  });

  it('initialises the same weights from the same seed', async () => {
    const init = new Map(fromSafetensors(new Uint8Array(readFileSync(join(dir, 'init.safetensors')))).tensors.map((t) => [t.name, t.data]));
    const model = VocoModel.create(PRESETS.tiny, config.cropSize, config.seed);
    try {
      const ours = await model.readWeights();
      expect([...init.keys()]).toEqual(ours.map((w) => w.name));
      let differing = 0;
      for (const w of ours) {
        const theirs = init.get(w.name)!;
        for (let i = 0; i < w.data.length; i++) if (theirs[i] !== w.data[i]) differing++;
      }
      expect(differing).toBe(0);
    } finally {
      model.dispose();
    }
  });

  it('draws the same crops, augmentation and dropout rows from the run state', () => {
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    const studio = metrics.regions.flatMap((r) => r.crops.filter((c) => c.kind === 'base'));
    const randoms = metrics.regions.flatMap((r) => r.crops.filter((c) => c.kind === 'random'));
    const all = [...studio, ...randoms];
    expect(plan.crops).toHaveLength(all.length);
    plan.crops.forEach((c: { origin: number[]; flip: boolean[]; rot90: number; shift: number }, i: number) => {
      expect(c.origin).toEqual(all[i].origin);
      expect(c.flip).toEqual(all[i].flip);
      expect(c.rot90).toBe(all[i].rot90);
      expect(c.shift).toBe(all[i].intensityShift);
    });
    expect(plan.lr).toBe(metrics.lr);
    // The dropout stream continues from the saved state: the studio's next rows, drawn the same way.
    const rng = Rng.fromState(before.dropoutRng);
    const rows = Array.from({ length: all.length }, () => !rng.bool(0.2));
    expect(plan.rowKeep).toEqual(rows);
  });

  it('gives the same loss, intra predictions and gradients (≤ 1e-4 relative)', () => {
    const r = result();
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
    // probeGradients: the next batch without the teacher's EMA; the step itself: after it.
    for (const k of ['loss', 'intra', 'inter', 'reg'] as const) {
      expect(rel(r.get(`probe.${k}`)![0], probe[k]), `probe ${k}`).toBeLessThan(1e-4);
      expect(rel(r.get(k)![0], metrics[k]), `step ${k}`).toBeLessThan(1e-4);
    }
    expect(relErr(r.get('probe.logits')!, probe.logits)).toBeLessThan(1e-4);
    const predicted = metrics.predictions.flat(2);
    expect(relErr(r.get('logits')!, predicted)).toBeLessThan(1e-4);
    expect(probe.grads.length).toBeGreaterThan(10);
    // The biases in front of a BatchNorm get an exactly-zero gradient in exact arithmetic (the norm removes the
    // mean): both sides hold rounding noise there, so those are held to an absolute bound of 1e-6·‖g‖ instead.
    const global = Math.sqrt(probe.grads.reduce((s, g) => s + g.data.reduce((a, v) => a + v * v, 0), 0));
    let compared = 0;
    for (const g of probe.grads) {
      const theirs = r.get(`probe.grad.${g.name}`);
      expect(theirs, g.name).toBeDefined();
      const norm = Math.sqrt(g.data.reduce((a, v) => a + v * v, 0));
      if (norm < 1e-5 * global) {
        expect(g.name).toMatch(/^student\.(0|3)\.bias$/);
        expect(relErr(theirs!, g.data) * norm, g.name).toBeLessThan(1e-6 * global);
      } else {
        expect(relErr(theirs!, g.data), g.name).toBeLessThan(1e-4);
        compared++;
      }
    }
    expect(compared).toBe(probe.grads.length - 2);
  });

  it('applies the same AdamW update (weights, moments, amsgrad maxima; ≤ 1e-4 relative on the change)', () => {
    const r = result();
    const old = new Map(before.weights.map((w) => [w.name, w.data]));
    // student.0.bias and student.3.bias feed a BatchNorm: their gradient is rounding noise on both sides (see above),
    // and Adam turns noise into steps of about ±lr, so for them only the size of the step is compared.
    const noise = new Set(['student.0.bias', 'student.3.bias']);
    const bound = 3 * metrics.lr + 1e-7;
    // The key third of attention's qkv bias has an exactly-zero gradient too (softmax is unchanged by a per-row shift,
    // and q·b_k shifts each row of scores): rounding noise on both sides (measured: relative difference ~1 there,
    // ~2e-6 on the q and v thirds), so its steps are only bounded and the q and v thirds are compared.
    const keyBias = (name: string) => /attn\.qkv\.bias$/.test(name);
    const thirds = (a: ArrayLike<number>) => {
      const t = a.length / 3;
      const all = Array.from(a);
      return { qv: [...all.slice(0, t), ...all.slice(2 * t)], k: all.slice(t, 2 * t) };
    };
    let changed = 0;
    for (const w of after.weights) {
      const theirs = r.get(`weight.${w.name}`)!;
      const o = old.get(w.name)!;
      const dOurs = w.data.map((v, i) => v - o[i]);
      const dTheirs = theirs.map((v, i) => v - o[i]);
      if (relErr(dOurs, new Float32Array(dOurs.length)) > 0) changed++;
      if (noise.has(w.name)) {
        for (const d of [dOurs, dTheirs]) expect(Math.max(...d.map(Math.abs)), w.name).toBeLessThan(bound);
        continue;
      }
      if (keyBias(w.name)) {
        for (const d of [dOurs, dTheirs]) expect(Math.max(...thirds(d).k.map(Math.abs)), `${w.name} (key third)`).toBeLessThan(bound);
        expect(relErr(thirds(dTheirs).qv, thirds(dOurs).qv), `${w.name} (q and v thirds)`).toBeLessThan(1e-4);
        expect(relErr(thirds(theirs).qv, thirds(w.data).qv), `${w.name} (q and v thirds)`).toBeLessThan(1e-4);
        continue;
      }
      expect(relErr(dTheirs, dOurs), w.name).toBeLessThan(1e-4);
      expect(relErr(theirs, w.data), w.name).toBeLessThan(1e-4);
    }
    expect(changed).toBe(after.weights.length);
    const trainable = after.weights.map((w) => w.name).filter((n) => !n.startsWith('teacher.'));
    let slots = 0;
    for (const [k, v] of Object.entries(after.optimizer.tensors)) {
      const name = trainable[Number(k.split('.')[1])];
      if (noise.has(name)) continue;
      if (keyBias(name)) expect(relErr(thirds(r.get(`opt.${k}`)!).qv, thirds(v).qv), `${k} (q and v thirds)`).toBeLessThan(1e-4);
      else expect(relErr(r.get(`opt.${k}`)!, v), k).toBeLessThan(1e-4);
      slots++;
    }
    expect(slots).toBe(3 * (trainable.length - 2));
  });

  it("writes a continued .voco that the studio's importer reads: step, sampling state and history", () => {
    const run = decodeRunFile(new Uint8Array(readFileSync(join(dir, 'after.voco'))), 'after.voco', PRESETS);
    expect(run.state.step).toBe(after.step);
    expect(run.state.optimizer.step).toBe(after.optimizer.step);
    expect(run.state.rng).toEqual(after.rng);
    expect(run.state.dropoutRng).toEqual(after.dropoutRng);
    expect(run.state.volumeOrder).toEqual(after.volumeOrder);
    expect(run.state.volumeCursor).toBe(after.volumeCursor);
    expect(run.metrics.length).toBe(3);
    expect(Array.from(run.metrics.columns.step)).toEqual([0, 1, 2]);
    const w = new Map(after.weights.map((x) => [x.name, x.data]));
    const r = result();
    // Bit for bit what the package computed (the studio comparison is the test above).
    for (const x of run.state.weights) expect(Buffer.from(x.data.buffer).equals(Buffer.from(r.get(`weight.${x.name}`)!.buffer)), x.name).toBe(true);
    expect(run.state.weights.map((x) => x.name)).toEqual([...w.keys()]);
  });

  it('preprocesses the bundled CTs like the studio (RAS, 3 mm, HU window, foreground crop, pad)', () => {
    const out = join(dir, 'pre.safetensors');
    runChecked(PYTHON, ['-c', `
import sys
from vocostudio.preprocess import PreprocessSettings, preprocess_file
from vocostudio.persist.safetensors import write_safetensors
s = PreprocessSettings((3.0, 3.0, 3.0), (-175.0, 250.0), (16, 16, 8))
w = PreprocessSettings((3.0, 3.0, 3.0), (-175.0, 250.0), (16, 16, 8), mode='whole')
vols = [(f'vol.{i}', preprocess_file(p, s)) for i, p in enumerate(sys.argv[2:])]
vols += [(f'whole.{i}', preprocess_file(p, w)) for i, p in enumerate(sys.argv[2:])]
open(sys.argv[1], 'wb').write(write_safetensors(vols))
`, out, ABDOMEN_CT, CHEST_CT]);
    const theirs = new Map(fromSafetensors(new Uint8Array(readFileSync(out))).tensors.map((t) => [t.name, t]));
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let m = 0;
      for (let k = 0; k < b.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
      return m;
    };
    volumes.forEach((v, i) => {
      const t = theirs.get(`vol.${i}`)!;
      expect(t.shape).toEqual([v.dims[2], v.dims[1], v.dims[0]]);
      expect(maxDiff(t.data, v.data), v.name).toBeLessThan(1e-6);
      // Whole-volume data mode: the studio's resize of the same volume to the 16×16×8 region.
      const whole = trainingVolume(v.data, v.dims, 'whole', 2, 8);
      const w = theirs.get(`whole.${i}`)!;
      expect(w.shape).toEqual([8, 16, 16]);
      expect(maxDiff(w.data, whole.data), `${v.name} (whole)`).toBeLessThan(1e-6);
    });
  });

  it('plans the same batches as the studio for many seeds and volume shapes', () => {
    const dims: [number, number, number][] = [[40, 37, 20], [12, 50, 9], [96, 96, 32], [17, 17, 17]];
    const cases: { seed: number; n: number; r: number; sw: number; idx: number[]; augment: boolean; crops: unknown[] }[] = [];
    for (let seed = 0; seed < 24; seed++) {
      const n = 2 + (seed % 3);
      const r = 4 + 2 * (seed % 4);
      const sw = 1 + (seed % 3);
      const idx = [seed % 4, (seed + 1) % 4, (seed * 7) % 4];
      const augment = seed % 5 !== 0;
      const plan = planBatch(new Rng(seed * 7919), dims, idx, { n, r, sw, augment: augment ? REFERENCE_AUGMENT : null });
      cases.push({ seed: seed * 7919, n, r, sw, idx, augment, crops: batchCrops(plan) });
    }
    const file = join(dir, 'plans.json');
    writeFileSync(file, JSON.stringify({ dims, cases: cases.map(({ crops: _c, ...rest }) => rest) }));
    const out = runChecked(PYTHON, ['-c', `
import json, sys
from vocostudio.voco import Rng, plan_batch, batch_crops, REFERENCE_AUGMENT
d = json.load(open(sys.argv[1]))
res = []
for c in d['cases']:
    p = plan_batch(Rng(c['seed']), [tuple(x) for x in d['dims']], c['idx'], c['n'], c['r'], c['sw'], REFERENCE_AUGMENT if c['augment'] else None)
    res.append([x.to_json() for x in batch_crops(p)])
print(json.dumps(res))
`, file]);
    const theirs = JSON.parse(out.stdout);
    expect(theirs).toHaveLength(cases.length);
    cases.forEach((c, i) => expect(theirs[i]).toEqual(JSON.parse(JSON.stringify(c.crops))));
  });
});

export type { NamedTensorData };
