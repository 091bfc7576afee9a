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
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerBackends } from '../src/backend/backends';
import { Trainer } from '../src/worker/trainer';
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
import { argmaxAccuracy } from '../src/eval/metrics';
import { niftiVolume } from '../test/helpers/niftiNode';
import type { RunConfig, StepMetrics } from '../src/worker/protocol';
import type { PreprocessedVolume, Volume } from '../src/volume/volume';

const argv = (process.env.RECIPE_ARGS ?? '').split(/\s+/).filter(Boolean);
const opt = (name: string, fallback?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const root = resolve(import.meta.dirname, '..');
const DATA = process.env.VOCO_TEST_DATA ?? resolve(root, 'test/data');
const ABDOMEN = resolve(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz');
const ABDOMEN_SEG = resolve(DATA, 'ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz');
const CHEST = resolve(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz');

/** Structures clicked for the map AUC (TotalSegmentator v2 ids). */
const STRUCTURES: [number, string][] = [
  [5, 'liver'],
  [1, 'spleen'],
  [2, 'kidney_right'],
  [3, 'kidney_left'],
  [52, 'aorta'],
  [31, 'vertebrae_L1'],
  [29, 'vertebrae_L3'],
];

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

async function main() {
  if (![ABDOMEN, CHEST].every(existsSync)) throw new Error(`test data missing under ${DATA}`);
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
          const evals = await evaluate(model, initial, pre, abdomenScan, s === 0);
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
      if (s === steps) break;
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

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
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
      for (const [k, m] of models) {
        const q = await embed(m, packed, layout, [plainCrop(0, origin)]);
        const values = cosineToQuery(rowsBy[k], m.embedDim, q);
        const { scan: onScan } = mapToScan(values, grid, v, { dims: scan.dims, affine: scan.affine });
        const a = mapAuc({ map: onScan, labels: scan.labels!, hu: scan.data, dims: scan.dims, click });
        if (!a.ok) throw new Error(`${label}: ${a.reason}`);
        aucs[k] = a.auc;
        intensity = a.intensityAuc;
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

async function evaluate(model: VocoModel, initial: VocoModel, pre: Record<string, PreprocessedVolume>, abdomenScan: Volume, first: boolean) {
  const held = await positionAccuracy(model, pre[heldOut]);
  const seen = trainOn === 'both' ? null : await positionAccuracy(model, pre[trainOn === 'chest' ? 'chest' : 'abdomen']);
  const maps = argv.includes('--no-maps') ? null : await mapAucs(model, initial, pre.abdomen, abdomenScan, first);
  return { heldOutAcc: held.acc, chance: held.chance, trainScanAcc: seen?.acc ?? null, maps };
}

test(`recipe experiment ${name}`, main, 24 * 3600_000);
