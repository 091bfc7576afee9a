// The recipe experiment (docs/recipe.md): trains the studio's Trainer under Node on the bundled CTs with one
// configuration, and scores it on a scan held out from training — position-prediction accuracy, and similarity-map
// AUCs (src/eval/mapAuc) for clicks inside labelled structures of the abdomen CT — against the same model untrained
// and the raw-intensity baseline. One JSON line per evaluation point on stdout and in --out.
//
//   RECIPE_ARGS='--name base --train chest --steps 200 --eval 0,100,200 --set {"preset":"S","lr":3e-4}' npm run recipe
//
// (Runs under Vitest, which loads tfjs's wasm backend in Node the way the unit tests do; the arguments come in
// RECIPE_ARGS, split on spaces — write --set JSON without spaces. Options: --train chest|abdomen|both,
// --heldout abdomen|chest, --steps N, --eval a,b,c, --set JSON (RunConfig fields), --seed S, --split k,
// --backend wasm|cpu, --regions R (held-out position regions), --map-stride s, --no-maps, --out file.)
//
// The training volumes: `chest`, `abdomen` or `both`; `--split k` cuts each training scan into k slabs along z
// (more distinct volumes for the inter-volume term, from fewer patients). Budget runs in steps; docs/recipe.md
// converts steps to the 5-minute target with the measured browser step time.
import { test } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerBackends } from '../src/backend/backends';
import { Trainer, healthTensor } from '../src/worker/trainer';
import { HealthTracker } from '../src/voco/health';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import { preprocessVolume } from '../src/preprocess/preprocess';
import { worldToVoxel } from '../src/preprocess/geometry';
import { PRESETS, VocoModel } from '../src/model';
import { packVolumes } from '../src/kernels/packVolumes';
import { sampleCrops } from '../src/kernels/cropSampler';
import { planBatch, type CropSpec } from '../src/voco/cropPlan';
import { positionLogits } from '../src/voco/losses';
import { Rng } from '../src/voco/rng';
import { trainingVolume } from '../src/voco/wholeVolume';
import { cosineToQuery, cropOriginNear, mapToScan, plainCrop, slidingWindowGrid, windowCount, windowCrops } from '../src/eval/similarityMap';
import { mapAuc, structureClick } from '../src/eval/mapAuc';
import { runBenchmark } from '../src/eval/benchmark';
import type { BenchmarkOptions } from '../src/worker/protocol';
import { argmaxAccuracy } from '../src/eval/metrics';
import { PROBE_EVERY } from '../src/voco/probe';
import { niftiVolume } from '../test/helpers/niftiNode';
import { slicePicture } from './slicePicture';
import type { RunConfig, StepMetrics } from '../src/worker/protocol';
import type { PreprocessedVolume, Volume } from '../src/volume/volume';
import { argsFrom, optionReader, root, DATA, ABDOMEN, ABDOMEN_SEG, STRUCTURES, CHEST } from './recipeData';

const argv = argsFrom('RECIPE_ARGS');
const opt = optionReader(argv);

const name = opt('name', 'run')!;
const trainOn = opt('train', 'chest')!;
const heldOut = opt('heldout', trainOn === 'chest' ? 'abdomen' : trainOn === 'abdomen' ? 'chest' : 'abdomen')!;
const steps = Number(opt('steps', '100'));
const evalAt = (opt('eval', `0,${steps}`) ?? '').split(',').map(Number).filter((v) => v >= 0 && v <= steps);
const split = Number(opt('split', '1'));
const backend = opt('backend', 'wasm')!;
const mapStride = Number(opt('map-stride', '0'));
const out = resolve(root, opt('out', `artifacts/recipe/${name}.jsonl`)!);
const overrides = JSON.parse(opt('set', '{}')!) as Partial<RunConfig>;
const positionRegions = Number(opt('regions', '24'));

const config: RunConfig = {
  ...DEFAULT_RUN_CONFIG,
  backend: backend as RunConfig['backend'],
  checkpointEvery: 0,
  ...overrides,
  volumeIds: [],
};
// The schedule (warmup, cosine decay) spans the run unless --total says otherwise.
config.totalSteps = Number(opt('total', String(steps)));
if (opt('seed')) config.seed = Number(opt('seed'));

function log(msg: string) {
  process.stderr.write(`[recipe ${name}] ${msg}\n`);
}

function emit(rec: Record<string, unknown>) {
  const line = JSON.stringify({ name, ...rec });
  console.log(line);
  mkdirSync(dirname(out), { recursive: true });
  appendFileSync(out, line + '\n');
}

/** Cuts a preprocessed volume into k slabs along z (each at least r deep, padded by the preprocessing). */
function slabs(v: PreprocessedVolume, k: number, minDepth: number): PreprocessedVolume[] {
  if (k <= 1) return [v];
  const [nx, ny, nz] = v.dims;
  const depth = Math.max(minDepth, Math.floor(nz / k));
  const outVols: PreprocessedVolume[] = [];
  for (let s = 0; s < k; s++) {
    const z0 = Math.min(nz - depth, Math.round((s * (nz - depth)) / Math.max(1, k - 1)));
    const data = v.data.slice(z0 * nx * ny, (z0 + depth) * nx * ny);
    const affine = v.affine.map((row) => [...row]);
    for (let a = 0; a < 3; a++) affine[a][3] += v.affine[a][2] * z0;
    outVols.push({ ...v, id: `${v.id}#${s}`, name: `${v.name} slab ${s}`, dims: [nx, ny, depth], data, affine, labels: undefined });
  }
  return outVols;
}

/**
 * --time B:32,S:16,tiny:16: step times of several presets/crop sizes, interleaved in one process (so machine load
 * hits all alike), with and without the training-health record; prints the median ms per step of each and its
 * ratio to the first (the browser-measured reference converts these to the 5-minute budget).
 */
async function timing(spec: string) {
  registerBackends({ wasmThreads: Number(opt('threads', '1')) });
  await tf.setBackend(backend);
  await tf.ready();
  const reps = Number(opt('reps', '5'));
  const combos = spec.split(',').map((c) => {
    const [preset, r] = c.split(':');
    return { preset, r: Number(r) };
  });
  const trainers: { label: string; trainer: Trainer; health: boolean; ms: number[] }[] = [];
  for (const c of combos) {
    const minSize: [number, number, number] = [3 * c.r, 3 * c.r, c.r];
    const settings = { spacing: config.spacing, huWindow: config.huWindow, minSize };
    const vols = [preprocessVolume(niftiVolume(ABDOMEN, { id: 'abdomen' }), settings), preprocessVolume(niftiVolume(CHEST, { id: 'chest' }), settings)];
    for (const health of [false, true]) {
      const t = await Trainer.create({ ...config, preset: c.preset, cropSize: c.r, volumeIds: ['abdomen', 'chest'], totalSteps: 1000 }, vols);
      t.healthEvery = health ? 1 : 0;
      await t.step(); // warm-up (kernel set-up, first allocations)
      trainers.push({ label: `${c.preset} r=${c.r}${health ? ' +health every step' : ''}`, trainer: t, health, ms: [] });
    }
  }
  const healthMs: number[] = [];
  // The device part of health alone (reductions + Gram matrices of the projections, read back) and the pure part,
  // timed between the steps on projections of a step's shape: its cost per step is this ÷ healthEvery.
  const probe: Record<string, number[]> = {};
  const probeMs: Record<string, number[]> = {};
  const tracker = new HealthTracker(0);
  for (let k = 0; k < reps; k++) {
    for (const t of trainers) {
      const m = await t.trainer.step();
      t.ms.push(m.stepMs);
      tracker.add(m);
      if (m.health) healthMs.push(m.health.ms);
      if (t.health) continue;
      const p = PRESETS[t.trainer.preset.name];
      const rows = config.batchVolumes * (config.gridN ** 2 + config.randomCrops);
      const s0 = tf.randomNormal([rows, p.headOut]) as tf.Tensor2D;
      const t0 = tf.randomNormal([rows, p.headOut]) as tf.Tensor2D;
      await s0.data();
      await t0.data();
      const a = performance.now();
      const h = healthTensor(s0, t0);
      const v = (await h.data()) as Float32Array;
      tracker.report({ studentStdMin: v[0], studentStdMean: v[1], teacherStdMin: v[2], teacherStdMean: v[3], agreement: v[4], studentGram: v.slice(5, 5 + rows * rows), teacherGram: v.slice(5 + rows * rows), rows }, 0);
      (probe[t.label] ??= []).push(performance.now() - a);
      tf.dispose([s0, t0, h]);
      // The clean position probe (Trainer.positionProbe), which the studio runs every PROBE_EVERY steps.
      const pa = performance.now();
      await t.trainer.positionProbe();
      (probeMs[t.label] ??= []).push(performance.now() - pa);
    }
  }
  const ref = median(trainers[0].ms);
  const rows = trainers.map((t) => ({ label: t.label, medianMs: Math.round(median(t.ms)), ratio: +(median(t.ms) / ref).toFixed(3) }));
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const healthOnly = median(probe[rows[i].label] ?? []);
    emit({
      timing: rows[i].label, medianMs: rows[i].medianMs, ratioToFirst: rows[i].ratio, withHealthEveryStepMs: rows[i + 1].medianMs,
      healthMs: +healthOnly.toFixed(2), healthShareEvery1: +(healthOnly / rows[i].medianMs).toFixed(4), healthShareEvery5: +(healthOnly / 5 / rows[i].medianMs).toFixed(4),
      probeMs: Math.round(median(probeMs[rows[i].label] ?? [])), probeSharePerStep: +(median(probeMs[rows[i].label] ?? []) / PROBE_EVERY / rows[i].medianMs).toFixed(4),
      reps, load: loadavg().map((x) => +x.toFixed(2)),
    });
  }
  emit({ healthPureMsMedian: +median(healthMs).toFixed(2) });
  trainers.forEach((t) => t.trainer.dispose());
}

async function main() {
  if (![ABDOMEN, CHEST].every(existsSync)) throw new Error(`test data missing under ${DATA}`);
  if (opt('time')) return timing(opt('time')!);
  registerBackends({ wasmThreads: Number(opt('threads', '1')) });
  await tf.setBackend(backend);
  await tf.ready();
  const load = loadavg();
  const n = config.gridN;
  const r = config.cropSize;
  const minSize: [number, number, number] = [n * r, n * r, r];
  const settings = { spacing: config.spacing, huWindow: config.huWindow, minSize };
  const abdomenScan: Volume = niftiVolume(ABDOMEN, { id: 'abdomen', labelsPath: ABDOMEN_SEG });
  const chestScan: Volume = niftiVolume(CHEST, { id: 'chest' });
  const pre: Record<string, PreprocessedVolume> = {
    abdomen: preprocessVolume(abdomenScan, settings),
    chest: preprocessVolume(chestScan, settings),
  };
  const trainScans = trainOn === 'both' ? ['abdomen', 'chest'] : [trainOn];
  const trainVols = trainScans.flatMap((id) => slabs(pre[id], split, r));
  // One scan split in one piece: the batch pairs it with itself (two regions of the same scan).
  config.volumeIds = trainVols.map((v) => v.id);
  if (config.batchVolumes > trainVols.length && trainVols.length < 2) log(`one training volume: each batch holds it ${config.batchVolumes} times`);
  log(`train on ${trainVols.map((v) => `${v.id} ${v.dims.join('×')}`).join(', ')}; held out ${heldOut}; ${steps} steps; ${backend}; load ${load.map((x) => x.toFixed(2)).join(' ')}`);
  log(`config ${JSON.stringify({ ...config, volumeIds: undefined })}`);

  // --bench-weights file: no training, only the label benchmark of weights saved by an earlier --save-weights run.
  if (opt('bench-weights')) {
    const model = VocoModel.create(PRESETS[config.preset], r, config.seed);
    try {
      model.loadWeights(loadWeights(resolve(root, opt('bench-weights')!)));
      const bench = await labelBenchmark(model, pre.abdomen);
      emit({ step: steps, bench, weightsFile: opt('bench-weights'), load: loadavg().map((x) => +x.toFixed(2)), config: { ...config, volumeIds: config.volumeIds }, train: trainOn, split, heldOut });
    } finally {
      model.dispose();
    }
    return;
  }

  const trainer = await Trainer.create(config, trainVols);
  const initial = VocoModel.create(PRESETS[config.preset], r, config.seed);
  const history: StepMetrics[] = [];
  const t0 = performance.now();
  let stepMsSum = 0;
  try {
    for (let s = 0; s <= steps; s++) {
      if (evalAt.includes(s)) {
        const te = performance.now();
        const state = await trainer.exportState();
        const model = VocoModel.create(PRESETS[config.preset], r, config.seed);
        model.loadWeights(state.weights);
        try {
          if (s === steps && opt('save-weights')) saveWeights(resolve(root, opt('save-weights')!), state.weights);
          const evals = await evaluate(model, initial, pre, abdomenScan, s === evalAt[0], s === steps);
          const last = history.slice(-Math.max(1, Math.floor(history.length / 3)));
          const first = history.slice(0, Math.max(1, Math.floor(history.length / 3)));
          const mean = (xs: StepMetrics[], k: keyof StepMetrics) => xs.reduce((a, m) => a + (m[k] as number), 0) / Math.max(1, xs.length);
          emit({
            step: s,
            ...evals,
            loss: history.length ? { first: mean(first, 'loss'), last: mean(last, 'loss'), intraLast: mean(last, 'intra'), interLast: mean(last, 'inter'), regLast: mean(last, 'reg') } : null,
            trainAccLast: history.length ? trainAccuracy(last) : null,
            gradNormMedian: history.length ? median(history.map((m) => m.gradNorm ?? NaN)) : null,
            stepMsMean: history.length ? stepMsSum / history.length : null,
            evalMs: Math.round(performance.now() - te),
            elapsedS: Math.round((performance.now() - t0) / 1000),
            load: loadavg().map((x) => +x.toFixed(2)),
            config: { ...config, volumeIds: config.volumeIds },
            train: trainOn,
            split,
            heldOut,
          });
        } finally {
          model.dispose();
        }
      }
      if (s === steps) {
        const r3 = (k: 'loss' | 'intra' | 'inter' | 'reg') => history.map((m) => +m[k].toFixed(3));
        const parts = history.map(positionParts);
        const r3p = (k: keyof ReturnType<typeof positionParts>) => parts.map((x) => +x[k].toFixed(3));
        emit({
          step: s,
          curves: {
            loss: r3('loss'), intra: r3('intra'), inter: r3('inter'), reg: r3('reg'),
            acc: r3p('acc'), intraPos: r3p('pos'), intraNeg: r3p('neg'), pPos: r3p('pPos'), pNeg: r3p('pNeg'), pTop: r3p('pTop'),
          },
        });
        break;
      }
      const m = await trainer.step();
      stepMsSum += m.stepMs;
      history.push(m);
      if (s % 25 === 0) log(`step ${s} loss ${m.loss.toFixed(3)} (intra ${m.intra.toFixed(3)} inter ${m.inter.toFixed(3)} reg ${m.reg.toFixed(3)}) ‖g‖ ${m.gradNorm?.toFixed(2)} ${m.stepMs.toFixed(0)} ms`);
    }
  } finally {
    trainer.dispose();
    initial.dispose();
  }
}

/** Weights as a JSON index (name, shape, offset) beside a raw little-endian Float32 file. */
function saveWeights(file: string, weights: { name: string; shape: number[]; data: Float32Array }[]) {
  mkdirSync(dirname(file), { recursive: true });
  let offset = 0;
  const index = weights.map((w) => {
    const e = { name: w.name, shape: w.shape, offset, length: w.data.length };
    offset += w.data.length;
    return e;
  });
  const all = new Float32Array(offset);
  weights.forEach((w, i) => all.set(w.data, index[i].offset));
  writeFileSync(`${file}.bin`, new Uint8Array(all.buffer));
  writeFileSync(`${file}.json`, JSON.stringify({ config: { ...config, volumeIds: config.volumeIds }, steps, index }));
  log(`weights saved to ${file}.{json,bin}`);
}

function loadWeights(file: string): { name: string; shape: number[]; data: Float32Array }[] {
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { config: RunConfig; index: { name: string; shape: number[]; offset: number; length: number }[] };
  if (meta.config.preset !== config.preset || meta.config.cropSize !== config.cropSize || meta.config.seed !== config.seed) {
    throw new Error(`${file}: saved for ${meta.config.preset} r=${meta.config.cropSize} seed ${meta.config.seed}, this run is ${config.preset} r=${config.cropSize} seed ${config.seed}`);
  }
  const buf = readFileSync(`${file}.bin`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return meta.index.map((e) => ({ name: e.name, shape: e.shape, data: all.slice(e.offset, e.offset + e.length) }));
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/**
 * One step's position prediction taken apart (the reference's ce, recomputed from the step's labels and
 * predictions): its two terms (over overlapped and over non-overlapped bases), the mean prediction on each, the
 * mean prediction on the most-overlapped base, and the argmax accuracy.
 */
function positionParts(m: StepMetrics): { pos: number; neg: number; pPos: number; pNeg: number; pTop: number; acc: number } {
  const EPS = 1e-6;
  let pos = 0, neg = 0, pPos = 0, nPos = 0, pNeg = 0, nNeg = 0, pTop = 0, hits = 0, crops = 0;
  const vols = m.labels.length;
  m.labels.forEach((vol, b) => {
    let num = 0, den = 0, numN = 0, denN = 0;
    vol.forEach((y, s) => {
      const p = m.predictions[b][s];
      let top = 0, best = 0;
      y.forEach((yk, k) => {
        if (yk > 0) { num -= yk * Math.log(1 - Math.abs(yk - p[k]) + EPS); den += yk; pPos += p[k]; nPos++; }
        else { numN -= Math.log(1 - p[k] + EPS); denN++; pNeg += p[k]; nNeg++; }
        if (yk > y[top]) top = k;
        if (p[k] > p[best]) best = k;
      });
      pTop += p[top];
      if (top === best) hits++;
      crops++;
    });
    pos += num / (den + EPS) / vols;
    neg += numN / (denN + EPS) / vols;
  });
  return { pos, neg, pPos: pPos / Math.max(1, nPos), pNeg: pNeg / Math.max(1, nNeg), pTop: pTop / Math.max(1, crops), acc: hits / Math.max(1, crops) };
}

function trainAccuracy(ms: StepMetrics[]): number {
  const preds: number[] = [];
  const truth: number[] = [];
  for (const m of ms)
    m.labels.forEach((vol, b) =>
      vol.forEach((l, s) => {
        truth.push(...l);
        preds.push(...m.predictions[b][s]);
      }),
    );
  return argmaxAccuracy(preds, truth, config.gridN ** 2);
}

/** Embeddings of crops of one packed volume, batched. */
async function embed(model: VocoModel, packed: tf.Tensor1D, layout: ReturnType<typeof packVolumes>['layout'], crops: CropSpec[]): Promise<Float32Array> {
  const dim = model.embedDim;
  const outRows = new Float32Array(crops.length * dim);
  const batch = Math.max(4, Math.floor(2 ** 19 / config.cropSize ** 3));
  for (let i = 0; i < crops.length; i += batch) {
    const e = tf.tidy(() => model.embed(sampleCrops(packed, layout, crops.slice(i, i + batch), config.cropSize, model.preset.patch)));
    outRows.set((await e.data()) as Float32Array, i * dim);
    e.dispose();
  }
  return outRows;
}

/** Position accuracy on a scan, planned as training plans it (mode-aware), no augmentation. */
async function positionAccuracy(model: VocoModel, v: PreprocessedVolume): Promise<{ acc: number; chance: number }> {
  const n = config.gridN;
  const r = config.cropSize;
  const sw = 4;
  const tv = trainingVolume(v.data, v.dims, config.dataMode ?? 'region', n, r);
  const { data, layout } = packVolumes([{ dims: tv.dims, data: tv.data }]);
  const packed = tf.tensor1d(data);
  const rng = new Rng(12345);
  const preds: number[] = [];
  const truth: number[] = [];
  try {
    for (let k = 0; k < positionRegions; k += 2) {
      const plan = planBatch(rng, [tv.dims], [0, 0], { n, r, sw, augment: null });
      const bases = plan.volumes.flatMap((p) => p.bases);
      const randoms = plan.volumes.flatMap((p) => p.randoms);
      const emb = await embed(model, packed, layout, [...bases, ...randoms]);
      const logits = tf.tidy(() => {
        const all = tf.tensor2d(emb, [bases.length + randoms.length, model.embedDim]);
        const [, xs] = tf.split(model.student(all, false), [bases.length, randoms.length], 0) as tf.Tensor2D[];
        const [bt] = tf.split(model.teacher(all), [bases.length, randoms.length], 0) as tf.Tensor2D[];
        return positionLogits(xs, bt);
      });
      const vals = (await logits.data()) as Float32Array;
      logits.dispose();
      const nb = n * n;
      plan.volumes.forEach((p, gi) => {
        for (let s = 0; s < sw; s++) {
          const row = gi * sw + s;
          for (let b = 0; b < nb; b++) preds.push(vals[row * bases.length + gi * nb + b]);
          truth.push(...p.labels[s]);
        }
      });
    }
  } finally {
    packed.dispose();
  }
  const nb = n * n;
  let chance = 0;
  for (let i = 0; i < truth.length / nb; i++) {
    const row = truth.slice(i * nb, (i + 1) * nb);
    const m = Math.max(...row);
    chance += row.filter((x) => x >= m - 1e-9).length / nb;
  }
  return { acc: argmaxAccuracy(preds, truth, nb), chance: chance / (truth.length / nb) };
}

let untrainedCache: Record<string, number> | null = null;
/** --png DIR: at the last evaluation, one picture per structure (untrained | trained map on the click's axial slice). */
let pngDir: string | null = null;

/** Similarity-map AUCs on the abdomen CT for clicks deep inside each structure: trained, untrained, intensity. */
async function mapAucs(model: VocoModel, initial: VocoModel, v: PreprocessedVolume, scan: Volume, withUntrained: boolean) {
  const r = config.cropSize;
  const stride = mapStride || Math.max(2, Math.round(r / 2));
  const grid = slidingWindowGrid(v.dims, r, stride);
  const { data, layout } = packVolumes([{ dims: v.dims, data: v.data }]);
  const packed = tf.tensor1d(data);
  const crops = windowCrops(grid, 0, 0, windowCount(grid));
  const models: [string, VocoModel][] = withUntrained || !untrainedCache ? [['trained', model], ['untrained', initial]] : [['trained', model]];
  const rowsBy: Record<string, Float32Array> = {};
  try {
    for (const [k, m] of models) rowsBy[k] = await embed(m, packed, layout, crops);
    const res: Record<string, { trained: number; untrained: number; intensity: number }> = {};
    for (const [id, label] of STRUCTURES) {
      const click = structureClick(scan.labels!, scan.dims, id);
      if (!click) continue;
      const mm = [0, 1, 2].map((a) => scan.affine[a][0] * click[0] + scan.affine[a][1] * click[1] + scan.affine[a][2] * click[2] + scan.affine[a][3]);
      const p = worldToVoxel(v.affine, mm);
      const origin = cropOriginNear(p, r);
      const aucs: Record<string, number> = {};
      let intensity = NaN;
      const pictures: Float32Array[] = [];
      for (const [k, m] of models) {
        const q = await embed(m, packed, layout, [plainCrop(0, origin)]);
        const values = cosineToQuery(rowsBy[k], m.embedDim, q);
        const { scan: onScan } = mapToScan(values, grid, v, { dims: scan.dims, affine: scan.affine });
        const a = mapAuc({ map: onScan, labels: scan.labels!, hu: scan.data, dims: scan.dims, click });
        if (!a.ok) throw new Error(`${label}: ${a.reason}`);
        aucs[k] = a.auc;
        intensity = a.intensityAuc;
        pictures.push(onScan);
      }
      if (pngDir && pictures.length === 2) {
        const file = resolve(pngDir, `maps-${name}-${label}.png`);
        writeFileSync(file, slicePicture(scan, pictures[1], pictures[0], click, id));
      }
      if (aucs.untrained === undefined) aucs.untrained = untrainedCache![label];
      res[label] = { trained: aucs.trained, untrained: aucs.untrained, intensity };
    }
    if (!untrainedCache) untrainedCache = Object.fromEntries(Object.entries(res).map(([k, x]) => [k, x.untrained]));
    const vals = Object.values(res);
    const mean = (f: (x: (typeof vals)[number]) => number) => vals.reduce((a, x) => a + f(x), 0) / vals.length;
    return { perStructure: res, mean: { trained: mean((x) => x.trained), untrained: mean((x) => x.untrained), intensity: mean((x) => x.intensity) }, windows: crops.length, stride };
  } finally {
    packed.dispose();
  }
}

async function evaluate(model: VocoModel, initial: VocoModel, pre: Record<string, PreprocessedVolume>, abdomenScan: Volume, first: boolean, last: boolean) {
  const held = await positionAccuracy(model, pre[heldOut]);
  const seen = trainOn === 'both' ? null : await positionAccuracy(model, pre[trainOn === 'chest' ? 'chest' : 'abdomen']);
  const png = opt('png');
  pngDir = png && last ? resolve(root, png) : null;
  if (pngDir) mkdirSync(pngDir, { recursive: true });
  const maps = argv.includes('--no-maps') ? null : await mapAucs(model, initial, pre.abdomen, abdomenScan, first || !!pngDir);
  const bench = argv.includes('--bench') && last ? await labelBenchmark(model, pre.abdomen) : null;
  return { heldOutAcc: held.acc, chance: held.chance, trainScanAcc: seen?.acc ?? null, maps, bench };
}

/**
 * The benchmark's label tasks (src/eval/benchmark.ts: organ probe, few-shot segmentation, retrieval) on the labelled
 * abdomen CT, trained weights vs the same preset's random initialisation, scored on the same --bench-splits repeated
 * splits (one runBenchmark call with options.splits; split seed --bench-seed). Returns, per task/metric and
 * weights, the per-split values (the paired analysis is scripts/bench-paired.py's). --bench-crops, --bench-structures
 * set the crops per structure and the largest structures considered.
 */
async function labelBenchmark(model: VocoModel, abdomen: PreprocessedVolume) {
  const state = model.namedWeights().map(({ name, tensor }) => ({ name, shape: [...tensor.shape], data: tensor.dataSync() as Float32Array }));
  const options: BenchmarkOptions = {
    seed: Number(opt('bench-seed', '1')),
    cropSize: config.cropSize,
    gridN: config.gridN,
    maxStructures: Number(opt('bench-structures', '24')),
    minStructureVoxels: 200,
    cropsPerStructure: Number(opt('bench-crops', '36')),
    testShare: 0.3,
    splits: Number(opt('bench-splits', '10')),
    oneVolumeSplit: (opt('bench-split-mode', 'blocks') as BenchmarkOptions['oneVolumeSplit']),
    position: { regionsPerVolume: 2, randomCrops: 2 },
    probe: { iterations: 200, l2: 1e-3 },
    segmentation: { shots: Number(opt('bench-shots', '24')), testCrops: Number(opt('bench-seg-test', '48')), iterations: Number(opt('bench-seg-iters', '100')), fineTune: false, lr: 0.01, hidden: 16 },
    retrieval: { k: 5 },
  };
  const t0 = performance.now();
  const result = await runBenchmark(
    {
      tasks: ['organ-probe', 'few-shot-seg', 'retrieval'],
      options,
      volumes: [abdomen],
      evalVolumeIds: [abdomen.id],
      pretrainVolumeIds: trainOn === 'chest' ? [] : [abdomen.id],
      labelNames: {},
      weights: [
        { id: 'random', label: 'random init', preset: config.preset, cropSize: config.cropSize, seed: config.seed, step: 0, source: 'initial' },
        { id: 'trained', label: 'trained', preset: config.preset, cropSize: config.cropSize, seed: config.seed, step: steps, source: 'run', weights: state },
      ],
    },
    { emit: () => {}, cancelled: () => false, yield: () => Promise.resolve() },
  );
  const out: Record<string, Record<string, number[]>> = {};
  const notes: Record<string, string[]> = {};
  for (const sc of result.scores) {
    const key = `${sc.task}/${sc.metric}`;
    (out[key] ??= {})[sc.weightsId] = sc.splitValues ?? [sc.value];
    notes[sc.task] ??= sc.notes;
    if (sc.chance !== undefined) (out[key][`chance-${sc.weightsId}`] = [sc.chance]);
    log(`benchmark ${sc.weightsId} ${key}: mean ${sc.value.toFixed(3)} over ${(sc.splitValues ?? [sc.value]).length} splits (${(sc.splitValues ?? []).map((v) => v.toFixed(2)).join(' ')}), n ${sc.n}`);
  }
  for (const sk of result.skipped) log(`benchmark skipped ${sk.task}: ${sk.reason}`);
  return { values: out, notes, skipped: result.skipped, options, ms: Math.round(performance.now() - t0) };
}

test(`recipe experiment ${name}`, main, 24 * 3600_000);
