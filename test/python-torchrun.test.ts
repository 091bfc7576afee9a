// The studio → cluster → studio path on this machine: a studio run (.voco, tiny preset) continues under
// `torchrun --nproc_per_node=2` (gloo on CPU) over the bundled CT scans for 3 steps; both ranks must agree (same
// losses, same weights), the loss must be finite, and the .voco that comes out must be accepted by the studio's
// importer, hold the browser's history followed by the cluster's with a marker where it moved, and continue
// training in the studio's Trainer. Fails (never skips) when Debian's torch is missing.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Trainer } from '../src/worker/trainer';
import { decodeRunFile, encodeRunFile } from '../src/persist/runFile';
import { PRESETS } from '../src/model/presets';
import { MetricsHistory, metricRow } from '../src/store/metricsHistory';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import type { RunConfig, TrainerState } from '../src/worker/protocol';
import type { SavedRun } from '../src/persist/savedRun';
import { loadTrainingVolumes, ABDOMEN_CT, CHEST_CT } from './helpers/trainingVolumes';
import { DATA } from './helpers/paths';
import { PYTHON, PYTHON_DIR, TORCHRUN, pythonEnv, requireTorch, runChecked } from './helpers/python';

const config: RunConfig = {
  ...DEFAULT_RUN_CONFIG, dataMode: 'region', volumeIds: ['abdomen', 'chest'], preset: 'tiny', gridN: 2, cropSize: 8,
  warmupSteps: 2, totalSteps: 40, lr: 1e-3, seed: 5, backend: 'cpu', checkpointEvery: 0,
};
const STUDIO_STEPS = 2;
const CLUSTER_STEPS = 3;

let dir: string;
let before: TrainerState;
let log: string;
/** The studio's own next steps from the exported state (what the package must reproduce on the same scans). */
let studioNext: { loss: number; intra: number; inter: number; reg: number }[] = [];

beforeAll(async () => {
  requireTorch();
  await tf.setBackend('cpu');
  const volumes = loadTrainingVolumes([16, 16, 8]);
  const trainer = await Trainer.create(config, volumes);
  const history = new MetricsHistory();
  try {
    for (let i = 0; i < STUDIO_STEPS; i++) history.push(metricRow(await trainer.step()));
    before = await trainer.exportState();
    for (let i = 0; i < CLUSTER_STEPS; i++) studioNext.push(await trainer.step());
  } finally {
    trainer.dispose();
  }
  dir = mkdtempSync(join(tmpdir(), 'voco-torchrun-'));
  const run: SavedRun = {
    meta: {
      id: 'run-cluster', name: 'tiny studio run', createdAt: Date.now(), savedAt: Date.now(), step: before.step, config,
      volumes: volumes.map((v) => ({ id: v.id, name: v.name, dims: v.dims, spacing: v.spacing, sha256: '00' })),
      lastLoss: history.last('loss') ?? null, backend: 'cpu', origin: 'trained',
    },
    state: before,
    metrics: history.snapshot(),
  };
  writeFileSync(join(dir, 'run.voco'), encodeRunFile(run, PRESETS.tiny));
  // The authors' datalist format, over the bundled CTs (the abdomen twice: full and the small resampled copy).
  const small = resolve(DATA, 'ct-abdomen-totalseg/example_ct_sm.nii.gz');
  writeFileSync(join(dir, 'datalist.json'), JSON.stringify({ training: [ABDOMEN_CT, CHEST_CT, small].map((image) => ({ image })) }));
  // Debian's torch 1.13 under Python 3.11: torchrun's default --redirects/--tee "0" hit an enum bug; "1" works.
  const r = runChecked(TORCHRUN, [
    '--nproc_per_node=2', '--redirects', '1', '--tee', '1', '--master_port', String(29400 + (process.pid % 500)),
    '-m', 'vocostudio.train', '--from', join(dir, 'run.voco'), '--data', join(dir, 'datalist.json'),
    '--steps', String(CLUSTER_STEPS), '--out', join(dir, 'out'), '--workers', '1', '--threads', '1',
  ], { cwd: PYTHON_DIR, env: pythonEnv(), timeoutMs: 240_000 });
  log = r.stdout + r.stderr;
}, 600_000);

describe('torchrun --nproc_per_node=2 (gloo, CPU) continues a studio run', () => {
  it('both ranks agree on every loss and on the final weights; the losses are finite', () => {
    const ranks = [0, 1].map((k) => JSON.parse(readFileSync(join(dir, 'out', `rank${k}.json`), 'utf8')));
    expect(ranks.map((x) => x.world)).toEqual([2, 2]);
    expect(ranks[0].losses).toHaveLength(CLUSTER_STEPS);
    expect(ranks[1].losses).toEqual(ranks[0].losses);
    expect(ranks[1].weightsSha256).toBe(ranks[0].weightsSha256);
    expect(ranks[0].step).toBe(STUDIO_STEPS + CLUSTER_STEPS);
    for (const l of ranks[0].losses) expect(Number.isFinite(l)).toBe(true);
    expect(log).toContain(`continuing "tiny studio run" at step ${STUDIO_STEPS}`);
  });

  it("one process on the studio's own scans takes the steps the studio would have taken (≤ 1e-4)", () => {
    // The same two CTs in the studio's volume order: the package preprocesses them itself (nibabel), continues the
    // studio's volume order and generators, and must reproduce the studio's next losses.
    writeFileSync(join(dir, 'same.json'), JSON.stringify({ training: [ABDOMEN_CT, CHEST_CT].map((image) => ({ image })) }));
    const r = runChecked(PYTHON, ['-m', 'vocostudio.train', '--from', join(dir, 'run.voco'), '--data', join(dir, 'same.json'),
      '--steps', String(CLUSTER_STEPS), '--out', join(dir, 'same'), '--workers', '0', '--threads', '1'], { cwd: PYTHON_DIR, env: pythonEnv(), timeoutMs: 240_000 });
    expect(r.stdout).toContain("the studio's sampler state");
    const rank0 = JSON.parse(readFileSync(join(dir, 'same', 'rank0.json'), 'utf8'));
    expect(rank0.losses).toHaveLength(CLUSTER_STEPS);
    rank0.losses.forEach((l: number, i: number) => expect(Math.abs(l - studioNext[i].loss) / studioNext[i].loss, `step ${STUDIO_STEPS + i}`).toBeLessThan(1e-4));
    const run = decodeRunFile(new Uint8Array(readFileSync(join(dir, 'same', 'latest.voco'))), 'latest.voco', PRESETS);
    const csv = run.metrics.columns;
    for (let i = 0; i < CLUSTER_STEPS; i++) {
      for (const k of ['intra', 'inter', 'reg'] as const) {
        expect(Math.abs(csv[k][STUDIO_STEPS + i] - studioNext[i][k]), `${k} at step ${STUDIO_STEPS + i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(studioNext[i][k])));
      }
    }
  });

  it("writes a .voco that the studio's importer accepts, with the whole history and the move marked", () => {
    const file = join(dir, 'out', `run-step${STUDIO_STEPS + CLUSTER_STEPS}.voco`);
    expect(existsSync(file)).toBe(true);
    const run = decodeRunFile(new Uint8Array(readFileSync(file)), 'run.voco', PRESETS);
    expect(run.state.step).toBe(STUDIO_STEPS + CLUSTER_STEPS);
    expect(run.state.optimizer.step).toBe(STUDIO_STEPS + CLUSTER_STEPS);
    expect(Array.from(run.metrics.columns.step)).toEqual([0, 1, 2, 3, 4]);
    for (const v of run.metrics.columns.loss) expect(Number.isFinite(v)).toBe(true);
    const markers = (run.meta as unknown as { markers: { step: number; label: string }[] }).markers;
    expect(markers).toEqual([{ step: STUDIO_STEPS, label: 'cluster: torchrun ×2 (gloo, cpu)' }]);
    expect(run.state.weights.map((w) => w.name)).toEqual(before.weights.map((w) => w.name));
    let moved = 0;
    run.state.weights.forEach((w, i) => {
      expect(w.data.every(Number.isFinite)).toBe(true);
      if (w.data.some((v, k) => v !== before.weights[i].data[k])) moved++;
    });
    expect(moved).toBeGreaterThan(run.state.weights.length / 2);
  });

  it('continues in the studio: the imported state trains on', async () => {
    const run = decodeRunFile(new Uint8Array(readFileSync(join(dir, 'out', 'latest.voco'))), 'latest.voco', PRESETS);
    const trainer = await Trainer.create(run.state.config, loadTrainingVolumes([16, 16, 8]));
    try {
      trainer.importState(run.state);
      const m = await trainer.step();
      expect(m.step).toBe(STUDIO_STEPS + CLUSTER_STEPS);
      expect(Number.isFinite(m.loss)).toBe(true);
    } finally {
      trainer.dispose();
    }
  });
});
