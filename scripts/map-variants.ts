// Map definitions compared on the same weights (docs/recipe.md, "What the map is computed from"): for weights saved
// by the recipe experiment (--save-weights) and the same preset's untrained weights (same seed), every 16³ window of
// the labelled abdomen CT is embedded once, and each map definition — which features (the multi-depth embedding,
// one tap, the student/teacher projection) and how they are compared (raw cosine, cosine after centring on the
// scan's mean window, after per-dimension standardisation) — is scored by the recipe's map AUC (src/eval/mapAuc:
// 7 clicks, structure vs rest of body) for trained and untrained alike. One JSON line per weights file.
//
//   RECIPE_ARGS='--name mv-chest-s42 --train chest --steps 300 --eval 300 --save-weights artifacts/maps3/w-chest-s42' npm run recipe
//   MAPV_ARGS='--weights artifacts/maps3/w-chest-s42,artifacts/maps3/w-both-s42 --out artifacts/maps3/variants.jsonl' npm run map-variants
import { test } from 'vitest';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerBackends } from '../src/backend/backends';
import { preprocessVolume } from '../src/preprocess/preprocess';
import { worldToVoxel } from '../src/preprocess/geometry';
import { PRESETS, VocoModel } from '../src/model';
import { packVolumes } from '../src/kernels/packVolumes';
import { sampleCrops } from '../src/kernels/cropSampler';
import type { CropSpec } from '../src/voco/cropPlan';
import { cropOriginNear, mapToScan, plainCrop, slidingWindowGrid, windowCount, windowCrops } from '../src/eval/similarityMap';
import { mapAuc, structureClick, BODY_HU } from '../src/eval/mapAuc';
import { mapValues, MAP_DEFINITIONS, type MapDefinition } from '../src/eval/mapDefinition';
import { niftiVolume } from '../test/helpers/niftiNode';
import { slicePicture } from './slicePicture';
import { Rng } from '../src/voco/rng';
import { cosineToQuery } from '../src/eval/similarityMap';
import { writeFileSync } from 'node:fs';
import type { PreprocessedVolume, Volume } from '../src/volume/volume';
import { argsFrom, optionReader, root, DATA, ABDOMEN, ABDOMEN_SEG, STRUCTURES } from './recipeData';

const argv = argsFrom('MAPV_ARGS');
const opt = optionReader(argv);

interface Saved {
  meta: { name: string; seed: number; preset: string; cropSize: number; steps: number; train: string; config: { spacing: [number, number, number]; huWindow: [number, number]; gridN: number } };
  weights: { name: string; shape: number[]; data: Float32Array }[];
}

/**
 * Weights saved by `npm run recipe -- --save-weights FILE`: FILE.json ({ config, steps, index: [name, shape, offset,
 * length] }) beside FILE.bin (float32). Also reads this round's first files ({ name, seed, …, weights: [name, shape,
 * offset] }).
 */
function loadSaved(file: string): Saved {
  const raw = JSON.parse(readFileSync(`${file}.json`, 'utf8'));
  const buf = readFileSync(`${file}.bin`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const entries: { name: string; shape: number[]; offset: number }[] = raw.index ?? raw.weights;
  const weights = entries.map((w) => ({ name: w.name, shape: w.shape, data: all.subarray(w.offset, w.offset + w.shape.reduce((a, b) => a * b, 1)) }));
  if (raw.index) {
    const c = raw.config;
    const ids: string[] = c.volumeIds ?? [];
    const train = ids.length > 1 && new Set(ids.map((id) => id.split('#')[0])).size > 1 ? 'both' : (ids[0]?.split('#')[0] ?? '?');
    return { meta: { name: basename(file), seed: c.seed, preset: c.preset, cropSize: c.cropSize, steps: raw.steps, train, config: c }, weights };
  }
  return { meta: raw, weights };
}

/** Features of crops: the embedding (all taps), and the student and teacher projections of it. */
async function features(model: VocoModel, packed: tf.Tensor1D, layout: ReturnType<typeof packVolumes>['layout'], crops: CropSpec[], r: number) {
  const dim = model.embedDim;
  const out = model.preset.headOut;
  const emb = new Float32Array(crops.length * dim);
  const stu = new Float32Array(crops.length * out);
  const tea = new Float32Array(crops.length * out);
  const batch = 64;
  for (let i = 0; i < crops.length; i += batch) {
    const [e, s, t] = tf.tidy(() => {
      const e = model.embed(sampleCrops(packed, layout, crops.slice(i, i + batch), r, model.preset.patch));
      return [e, model.student(e, false), model.teacher(e)];
    });
    emb.set((await e.data()) as Float32Array, i * dim);
    stu.set((await s.data()) as Float32Array, i * out);
    tea.set((await t.data()) as Float32Array, i * out);
    tf.dispose([e, s, t]);
  }
  return { emb, stu, tea };
}

/**
 * Experiment only ("all but the top"): rows and query centred on the windows' mean, with the top k principal
 * directions of the windows removed (covariance in float64, deflated power iteration).
 */
const topCache = new WeakMap<Float32Array, Map<number, { rows: Float32Array; mean: Float64Array; us: Float64Array[] }>>();
function removeTop(rows: Float32Array, dim: number, query: Float32Array, k: number): { rows: Float32Array; query: Float32Array } {
  const hit = topCache.get(rows)?.get(k);
  if (hit) {
    const q = new Float32Array(dim);
    projectOut(Array.from(query, (x, d) => x - hit.mean[d]), hit.us, dim, q, 0);
    return { rows: hit.rows, query: q };
  }
  const n = rows.length / dim;
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += rows[i * dim + d] / n;
  const X = new Float64Array(rows.length);
  for (let o = 0; o < rows.length; o++) X[o] = rows[o] - mean[o % dim];
  const C = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let a = 0; a < dim; a++) {
      const xa = X[o + a];
      if (!xa) continue;
      for (let b = a; b < dim; b++) C[a * dim + b] += xa * X[o + b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) C[a * dim + b] = C[b * dim + a];
  const us: Float64Array[] = [];
  const rng = new Rng(5);
  for (let t = 0; t < k; t++) {
    let u = Float64Array.from({ length: dim }, () => rng.next() - 0.5);
    for (let it = 0; it < 100; it++) {
      const v = new Float64Array(dim);
      for (let a = 0; a < dim; a++) {
        let sum = 0;
        for (let b = 0; b < dim; b++) sum += C[a * dim + b] * u[b];
        v[a] = sum;
      }
      for (const w of us) {
        let dot = 0;
        for (let a = 0; a < dim; a++) dot += v[a] * w[a];
        for (let a = 0; a < dim; a++) v[a] -= dot * w[a];
      }
      const norm = Math.hypot(...v) || 1;
      u = v.map((x) => x / norm);
    }
    us.push(u);
  }
  const outRows = new Float32Array(rows.length);
  for (let i = 0; i < n; i++) projectOut(X.subarray(i * dim, (i + 1) * dim), us, dim, outRows, i * dim);
  const q = new Float32Array(dim);
  projectOut(Array.from(query, (x, d) => x - mean[d]), us, dim, q, 0);
  if (!topCache.has(rows)) topCache.set(rows, new Map());
  topCache.get(rows)!.set(k, { rows: outRows, mean, us });
  return { rows: outRows, query: q };
}

function projectOut(x: Float64Array | number[], us: Float64Array[], dim: number, out: Float32Array, o: number) {
  const y = Float64Array.from(x);
  for (const w of us) {
    let dot = 0;
    for (let a = 0; a < dim; a++) dot += y[a] * w[a];
    for (let a = 0; a < dim; a++) y[a] -= dot * w[a];
  }
  for (let a = 0; a < dim; a++) out[o + a] = y[a];
}

/** Columns [c0, c1) of a row-major count × dim matrix. */
function columns(rows: Float32Array, dim: number, c0: number, c1: number): Float32Array {
  const n = rows.length / dim;
  const w = c1 - c0;
  const out = new Float32Array(n * w);
  for (let i = 0; i < n; i++) out.set(rows.subarray(i * dim + c0, i * dim + c1), i * w);
  return out;
}

async function main() {
  registerBackends({ wasmThreads: 1 });
  await tf.setBackend(opt('backend', 'wasm')!);
  await tf.ready();
  const files = opt('weights', '')!.split(',').filter(Boolean);
  const out = resolve(root, opt('out', 'artifacts/maps3/variants.jsonl')!);
  const scan: Volume = niftiVolume(ABDOMEN, { id: 'abdomen', labelsPath: ABDOMEN_SEG });
  for (const file of files) {
    const saved = loadSaved(resolve(root, file));
    const { meta } = saved;
    const r = meta.cropSize;
    const n = meta.config.gridN;
    // --spacing a,b,c: cut the map's windows from the scan resampled to this spacing instead of the run's (experiment).
    const spacing = (opt('spacing')?.split(',').map(Number) ?? meta.config.spacing) as [number, number, number];
    const v: PreprocessedVolume = preprocessVolume(scan, { spacing, huWindow: meta.config.huWindow, minSize: [n * r, n * r, r] });
    const stride = Number(opt('stride', String(Math.max(2, Math.round(r / 2)))));
    const grid = slidingWindowGrid(v.dims, r, stride);
    const crops = windowCrops(grid, 0, 0, windowCount(grid));
    const { data, layout } = packVolumes([{ dims: v.dims, data: v.data }]);
    const packed = tf.tensor1d(data);
    const trained = VocoModel.create(PRESETS[meta.preset], r, meta.seed);
    trained.loadWeights(saved.weights);
    const untrained = VocoModel.create(PRESETS[meta.preset], r, meta.seed);
    // Body windows (no labels): at least half of the crop's voxels above the HU window's floor (preprocessed > 0).
    const body = crops.map((c) => {
      let inside = 0;
      const [nx, ny, nz] = v.dims;
      for (let z = c.origin[2]; z < c.origin[2] + r; z++)
        for (let y = c.origin[1]; y < c.origin[1] + r; y++)
          for (let x = c.origin[0]; x < c.origin[0] + r; x++)
            if (x >= 0 && y >= 0 && z >= 0 && x < nx && y < ny && z < nz && v.data[x + nx * (y + ny * z)] > 0) inside++;
      return inside >= r ** 3 / 2;
    });
    process.stderr.write(`[map-variants ${meta.name}] ${body.filter(Boolean).length} of ${body.length} windows in the body\n`);
    const clicks = STRUCTURES.map(([id, label]) => {
      const click = structureClick(scan.labels!, scan.dims, id)!;
      const mm = [0, 1, 2].map((a) => scan.affine[a][0] * click[0] + scan.affine[a][1] * click[1] + scan.affine[a][2] * click[2] + scan.affine[a][3]);
      return { id, label, click, origin: cropOriginNear(worldToVoxel(v.affine, mm), r) };
    });
    const result: Record<string, Record<string, { perStructure: Record<string, number>; mean: number; medianBody: number }>> = {};
    const intensity: Record<string, number> = {};
    // --png DIR: untrained | trained pictures of the embedding's maps under each definition, for these clicks.
    const pngDir = opt('png') ? resolve(root, opt('png')!) : null;
    const pictured = (opt('png-clicks', 'liver,spleen') ?? '').split(',');
    const pictures: Record<string, Float32Array> = {};
    for (const [kind, model] of [['trained', trained], ['untrained', untrained]] as const) {
      const win = await features(model, packed, layout, crops, r);
      const q = await features(model, packed, layout, clicks.map((c) => plainCrop(0, c.origin)), r);
      const dim = model.embedDim;
      const D = model.preset.dim;
      const taps = dim / D;
      const sets: [string, Float32Array, Float32Array, number][] = [
        ['embed', win.emb, q.emb, dim],
        ['student', win.stu, q.stu, model.preset.headOut],
        ['teacher', win.tea, q.tea, model.preset.headOut],
      ];
      const wanted = opt('features', 'embed,student,tap4')!.split(',');
      for (let t = 0; t < taps; t++) sets.push([`tap${t}`, columns(win.emb, dim, t * D, (t + 1) * D), columns(q.emb, dim, t * D, (t + 1) * D), D]);
      if (taps > 1) sets.push(['taps1+', columns(win.emb, dim, D, dim), columns(q.emb, dim, D, dim), dim - D]);
      if (taps > 3) sets.push(['taps3+', columns(win.emb, dim, 3 * D, dim), columns(q.emb, dim, 3 * D, dim), dim - 3 * D]);
      const defs: [string, MapDefinition, ArrayLike<boolean> | undefined][] = [
        ...(MAP_DEFINITIONS as readonly MapDefinition[]).map((d) => [d, d, undefined] as [string, MapDefinition, undefined]),
        ...(opt('top') ? opt('top')!.split(',').map((k) => [`top${k}`, 'centred', undefined] as [string, MapDefinition, undefined]) : []),
        ...(argv.includes('--body') ? ([['centred-body', 'centred', body], ['standardised-body', 'standardised', body]] as [string, MapDefinition, ArrayLike<boolean>][]) : []),
      ];
      const defsWanted = opt('defs')?.split(',');
      for (const [fname, rows, qrows, fdim] of sets.filter((s) => wanted.includes(s[0]))) {
        for (const [dname, def, use] of defs.filter((d) => !defsWanted || defsWanted.includes(d[0]))) {
          const key = `${fname}/${dname}`;
          const per: Record<string, number> = {};
          const medians: number[] = [];
          for (let c = 0; c < clicks.length; c++) {
            const qc = qrows.subarray(c * fdim, (c + 1) * fdim);
            let values: Float32Array;
            if (dname.startsWith('top')) {
              const t = removeTop(rows, fdim, qc, Number(dname.slice(3)));
              values = cosineToQuery(t.rows, fdim, t.query);
            } else values = mapValues(rows, fdim, qc, def, undefined, use);
            const { scan: onScan } = mapToScan(values, grid, v, { dims: scan.dims, affine: scan.affine });
            const a = mapAuc({ map: onScan, labels: scan.labels!, hu: scan.data, dims: scan.dims, click: clicks[c].click });
            if (!a.ok) throw new Error(`${clicks[c].label}: ${a.reason}`);
            per[clicks[c].label] = +a.auc.toFixed(4);
            if (pngDir && fname === 'embed' && pictured.includes(clicks[c].label)) pictures[`${kind}|${dname}|${clicks[c].label}`] = onScan;
            if (kind === 'trained' && fname === 'embed' && def === 'cosine') intensity[clicks[c].label] = +a.intensityAuc.toFixed(4);
            const inBody = new Float32Array(onScan.length);
            let nb = 0;
            for (let i = 0; i < onScan.length; i++) if (scan.data[i] > BODY_HU && Number.isFinite(onScan[i])) inBody[nb++] = onScan[i];
            const sorted = inBody.subarray(0, nb).sort();
            medians.push(sorted[Math.floor(nb / 2)]);
          }
          const vals = Object.values(per);
          ((result[kind] ??= {})[key] = { perStructure: per, mean: +(vals.reduce((x, y) => x + y, 0) / vals.length).toFixed(4), medianBody: +(medians.reduce((x, y) => x + y, 0) / medians.length).toFixed(3) });
        }
      }
      process.stderr.write(`[map-variants ${meta.name}] ${kind} done (${crops.length} windows)\n`);
    }
    if (pngDir) {
      mkdirSync(pngDir, { recursive: true });
      for (const c of clicks.filter((c) => pictured.includes(c.label)))
        for (const def of MAP_DEFINITIONS) {
          const u = pictures[`untrained|${def}|${c.label}`];
          const t = pictures[`trained|${def}|${c.label}`];
          if (u && t) writeFileSync(resolve(pngDir, `maps-${meta.name}-${def}-${c.label}.png`), slicePicture(scan, u, t, c.click, c.id));
        }
    }
    packed.dispose();
    trained.dispose();
    untrained.dispose();
    const iv = Object.values(intensity);
    const line = JSON.stringify({
      name: meta.name + (opt('spacing') ? `@${opt('spacing')}` : ''), spacing, seed: meta.seed, train: meta.train, steps: meta.steps, stride, windows: crops.length,
      intensity: { perStructure: intensity, mean: +(iv.reduce((x, y) => x + y, 0) / iv.length).toFixed(4) },
      trained: result.trained, untrained: result.untrained, load: loadavg().map((x) => +x.toFixed(2)),
    });
    mkdirSync(dirname(out), { recursive: true });
    appendFileSync(out, line + '\n');
    const keys = Object.keys(result.trained);
    for (const k of keys) process.stderr.write(`${meta.name} ${k.padEnd(22)} trained ${result.trained[k].mean.toFixed(3)} untrained ${result.untrained[k].mean.toFixed(3)} gain ${(result.trained[k].mean - result.untrained[k].mean).toFixed(3)}  median ${result.trained[k].medianBody} / ${result.untrained[k].medianBody}\n`);
  }
}

test('map variants', main, 24 * 3600_000);
