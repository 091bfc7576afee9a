// Similarity maps (src/eval/similarityMap.ts, src/eval/niftiExport.ts, src/worker/mapHandler.ts) on the CPU backend:
// the window grid, the map pipeline with a hand-made flip-invariant encoder, the NIfTI export read back by an
// independent parser, and the worker's map jobs on the shared abdomen CT (self-similarity, cancel, training waits).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { gunzipSync } from 'fflate';
import { readHeader, readImage, type NIFTI1 } from 'nifti-reader-js';
import {
  adaptBatch,
  computeSimilarityMaps,
  cosineMatrix,
  cropCentre,
  cropOriginNear,
  MapCancelledError,
  mapStats,
  mapToScan,
  sampleAt,
  slidingWindowGrid,
  upsampleToVolume,
  windowCount,
  windowCrops,
  windowOrigin,
  type MapEmbedder,
  type Vec3,
  mapGrid,
  tileAnchor,
} from '../src/eval/similarityMap';
import { mapNiftiBytes, mapNiftiGz } from '../src/eval/niftiExport';
import { sampleCropsCPU } from '../src/kernels/cropSampler';
import { packVolumes } from '../src/kernels/packVolumes';
import { Rng } from '../src/voco/rng';
import { TrainingHost } from '../src/worker/host';
import type { FromWorker, RunConfig, SimilarityMapResult, ToWorker } from '../src/worker/protocol';
import { voxelToWorld, worldToVoxel } from '../src/preprocess/geometry';
import type { PreprocessedVolume, Volume } from '../src/volume/volume';
import { ABDOMEN_CT, loadTrainingVolumes } from './helpers/trainingVolumes';
import { niftiVolume } from './helpers/niftiNode';

describe('sliding-window grid', () => {
  it('covers every voxel, contains the anchor window, and adds no needless window', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 300; trial++) {
      const r = rng.int(2, 40);
      const stride = rng.int(1, r + 1);
      const dims: Vec3 = [rng.int(1, 90), rng.int(1, 90), rng.int(1, 90)];
      const anchor: Vec3 = [0, 1, 2].map((a) => rng.int(-r + 1, dims[a])) as Vec3;
      const centred = trial % 5 === 0; // the default anchor: the volume's centre crop
      const grid = slidingWindowGrid(dims, r, stride, centred ? undefined : anchor);
      if (centred) for (let a = 0; a < 3; a++) anchor[a] = Math.floor((dims[a] - r) / 2);
      for (let a = 0; a < 3; a++) {
        const origins = Array.from({ length: grid.counts[a] }, (_, k) => grid.first[a] + k * stride);
        // Every voxel of the axis lies in some window.
        for (let x = 0; x < dims[a]; x++) expect(origins.some((o) => o <= x && x < o + r)).toBe(true);
        expect(origins).toContain(anchor[a]);
        // The first window touches voxel 0 (or is the anchor), the last reaches the end (or is the anchor).
        expect(origins[0] <= 0 && origins[0] > -stride || origins[0] === anchor[a]).toBe(true);
        const last = origins[origins.length - 1];
        expect(last + r >= dims[a]).toBe(true);
        if (origins.length > 1) expect(last - stride + r < dims[a] || last === anchor[a]).toBe(true);
      }
    }
  });

  it('numbers windows x fastest and builds plain crops', () => {
    const grid = slidingWindowGrid([20, 12, 9], 8, 4, [4, 0, 1]);
    expect(grid.first).toEqual([0, 0, -3]);
    expect(grid.counts).toEqual([4, 2, 2]); // z: origins −3 and 1 cover 0…8
    expect(windowCount(grid)).toBe(16);
    expect(windowOrigin(grid, 1)).toEqual([4, 0, -3]);
    expect(windowOrigin(grid, 4)).toEqual([0, 4, -3]);
    expect(windowOrigin(grid, 8)).toEqual([0, 0, 1]);
    const crops = windowCrops(grid, 2, 7, 9);
    expect(crops).toEqual([
      { volume: 2, origin: [12, 4, -3], flip: [false, false, false], rot90: 0, shift: 0 },
      { volume: 2, origin: [0, 0, 1], flip: [false, false, false], rot90: 0, shift: 0 },
    ]);
  });

  it('refuses a stride that leaves gaps, and bad dims', () => {
    expect(() => slidingWindowGrid([10, 10, 10], 4, 5)).toThrow(/stride 5 is larger than the crop size 4/);
    expect(() => slidingWindowGrid([10, 0, 10], 4, 2)).toThrow(/dims/);
  });

  it('puts the query crop centre nearest to a clicked point', () => {
    expect(cropOriginNear([10, 10.4, 9.6], 16)).toEqual([3, 3, 2]); // centre 10.5, 10.5, 9.5
    expect(cropCentre([3, 3, 2], 16)).toEqual([10.5, 10.5, 9.5]);
    expect(cropOriginNear([10, 10, 10], 5)).toEqual([8, 8, 8]);
  });
});

// ---- a hand-made encoder that cannot tell a crop from its mirror image along x ----------------------------------

const P = 4; // patch edge
const FEATURES = 12;

/**
 * Patch embedding + ReLU + global average pool over tokens, with weights W[voxel-in-patch → feature] that are
 * symmetric under dx → P−1−dx when `symmetric`. Flipping a crop along x moves token (tx, ty, tz) to (g−1−tx, ty, tz)
 * and mirrors each patch along x; with symmetric W each token keeps its feature vector, and the mean over tokens
 * is unchanged: the embedding is exactly invariant to the flip. With random W it is not (the negative control).
 */
function gapEncoder(volume: { dims: Vec3; data: Float32Array }, r: number, symmetric: boolean, seed = 11): MapEmbedder & { calls: number } {
  const { data, layout } = packVolumes([volume]);
  const rng = new Rng(seed);
  const v = P ** 3;
  const W = new Float32Array(v * FEATURES);
  for (let dz = 0; dz < P; dz++)
    for (let dy = 0; dy < P; dy++)
      for (let dx = 0; dx < P; dx++)
        for (let f = 0; f < FEATURES; f++) {
          const k = (dz * P + dy) * P + dx;
          const mirror = (dz * P + dy) * P + (P - 1 - dx);
          W[k * FEATURES + f] = symmetric && dx >= P / 2 ? W[mirror * FEATURES + f] : rng.uniform(-1, 1);
        }
  const bias = Float32Array.from({ length: FEATURES }, () => rng.uniform(-0.5, 0.5));
  const enc = {
    calls: 0,
    async embed(crops: Parameters<MapEmbedder['embed']>[0]) {
      enc.calls++;
      const tokens = sampleCropsCPU(data, layout, crops, r, P);
      const T = (r / P) ** 3;
      const out = new Float32Array(crops.length * FEATURES);
      for (let c = 0; c < crops.length; c++)
        for (let t = 0; t < T; t++) {
          const base = (c * T + t) * v;
          for (let f = 0; f < FEATURES; f++) {
            let s = bias[f];
            for (let k = 0; k < v; k++) s += tokens[base + k] * W[k * FEATURES + f];
            out[c * FEATURES + f] += Math.max(0, s) / T;
          }
        }
      return out;
    },
  };
  return enc;
}

/** A volume whose x-half [N/2, N) is the mirror image of [0, N/2): V[x, y, z] = V[N−1−x, y, z]. */
function mirroredVolume(dims: Vec3, seed: number): { dims: Vec3; data: Float32Array } {
  const [nx, ny, nz] = dims;
  const rng = new Rng(seed);
  const data = new Float32Array(nx * ny * nz);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx / 2; x++) {
        const v = rng.next() * (0.5 + 0.5 * Math.sin(y / 3 + z / 5)); // some structure besides noise
        data[x + nx * (y + ny * z)] = v;
        data[nx - 1 - x + nx * (y + ny * z)] = v;
      }
  return { dims, data };
}

describe('tiles layout (coarse maps for the reference encoder)', () => {
  it('⌈n/r⌉ non-overlapping r³ tiles per axis, centred, covering every voxel; the stride is ignored', () => {
    const dims = [122, 101, 112];
    expect(tileAnchor(dims, 64)).toEqual([-3, -13, -8]);
    const g = mapGrid(dims, 64, 'tiles', 16, [10, 10, 10]);
    expect(g.counts).toEqual([2, 2, 2]);
    expect(g.stride).toBe(64);
    expect(g.first).toEqual([-3, -13, -8]);
    for (let a = 0; a < 3; a++) {
      expect(g.first[a]).toBeLessThanOrEqual(0);
      expect(g.first[a] + g.counts[a] * 64).toBeGreaterThanOrEqual(dims[a]);
    }
    expect(mapGrid([128, 128, 64], 64, 'tiles', 16).counts).toEqual([2, 2, 1]);
    expect(mapGrid([192, 130, 65], 64, 'tiles', 16).counts).toEqual([3, 3, 2]);
    // The sliding layout at the default stride on the same volume: the query is one of many windows.
    expect(mapGrid(dims, 64, 'sliding', 16, [29, 18, 24]).counts.reduce((p, q) => p * q)).toBeGreaterThan(100);
  });
});

describe('map pipeline with a flip-invariant encoder', () => {
  const dims: Vec3 = [48, 20, 18];
  const r = 16;
  const stride = 4;
  // Off the mirror plane on purpose: its mirror window (origin 48 − 16 − 24 = 8) is another window of the grid.
  const origin: Vec3 = [24, 2, 1];

  it('gives a map that mirrors like the volume, with 1 at the query and at its mirror image', async () => {
    const vol = mirroredVolume(dims, 5);
    const enc = gapEncoder(vol, r, true);
    const { grid, maps } = await computeSimilarityMaps({ volume: 0, dims, r, stride, origin, dim: FEATURES, batch: 7, embedders: [enc] });
    const [cx, cy, cz] = grid.counts;
    expect(grid.first[0] + grid.first[0] + (cx - 1) * stride).toBe(dims[0] - r); // the grid itself is mirror-symmetric
    const values = maps[0].values;
    expect(values.length).toBe(cx * cy * cz);
    let asym = 0;
    for (let k = 0; k < cz; k++)
      for (let j = 0; j < cy; j++)
        for (let i = 0; i < cx; i++) asym = Math.max(asym, Math.abs(values[i + cx * (j + cy * k)] - values[cx - 1 - i + cx * (j + cy * k)]));
    expect(asym).toBeLessThan(1e-5);

    const at = (o: Vec3) => values[(o[0] - grid.first[0]) / stride + cx * ((o[1] - grid.first[1]) / stride + cy * ((o[2] - grid.first[2]) / stride))];
    expect(at(origin)).toBeCloseTo(1, 6);
    expect(at([dims[0] - r - origin[0], origin[1], origin[2]])).toBeCloseTo(1, 5);
    expect(maps[0].querySelf).toBeCloseTo(1, 6);
    for (const v of values) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    // Not trivially constant: the map has contrast.
    const s = mapStats(values);
    expect(s.max - s.min).toBeGreaterThan(0.01);

    // On voxels: mirrored about the volume's middle too, and 1 at the query crop's geometric centre.
    const pre = upsampleToVolume(values, grid, dims);
    let voxAsym = 0;
    for (let z = 0; z < dims[2]; z++)
      for (let y = 0; y < dims[1]; y++)
        for (let x = 0; x < dims[0]; x++) {
          const i = x + dims[0] * (y + dims[1] * z);
          voxAsym = Math.max(voxAsym, Math.abs(pre[i] - pre[dims[0] - 1 - x + dims[0] * (y + dims[1] * z)]));
        }
    expect(voxAsym).toBeLessThan(1e-5);
    // The query's value sits at its geometric centre, between voxels: the 8 voxels around it are within half a voxel.
    const c = cropCentre(origin, r);
    for (let k = 0; k < 8; k++) {
      const v = [Math.floor(c[0]) + (k & 1), Math.floor(c[1]) + ((k >> 1) & 1), Math.floor(c[2]) + ((k >> 2) & 1)];
      expect(pre[v[0] + dims[0] * (v[1] + dims[1] * v[2])]).toBeGreaterThan(0.99);
    }
    expect(mapStats(pre).max).toBeLessThanOrEqual(1);
  });

  it('(negative control) is not symmetric with an encoder that can tell left from right', async () => {
    const vol = mirroredVolume(dims, 5);
    const enc = gapEncoder(vol, r, false);
    const { grid, maps } = await computeSimilarityMaps({ volume: 0, dims, r, stride, origin, dim: FEATURES, batch: 64, embedders: [enc] });
    const [cx, cy, cz] = grid.counts;
    let asym = 0;
    for (let k = 0; k < cz; k++)
      for (let j = 0; j < cy; j++)
        for (let i = 0; i < cx; i++) asym = Math.max(asym, Math.abs(maps[0].values[i + cx * (j + cy * k)] - maps[0].values[cx - 1 - i + cx * (j + cy * k)]));
    expect(asym).toBeGreaterThan(1e-3);
  });

  it('adapts the batch (powers of two) without changing the map', async () => {
    expect(adaptBatch(1000, 10, 64)).toBe(64);
    expect(adaptBatch(1000, 100, 64)).toBe(8);
    expect(adaptBatch(1000, 5000, 64)).toBe(1);
    const vol = mirroredVolume(dims, 5);
    const fixed = await computeSimilarityMaps({ volume: 0, dims, r, stride, origin, dim: FEATURES, batch: 32, embedders: [gapEncoder(vol, r, false)] });
    const sizes: number[] = [];
    const enc = gapEncoder(vol, r, false);
    const slow: MapEmbedder = {
      async embed(crops) {
        sizes.push(crops.length);
        return enc.embed(crops);
      },
    };
    const adaptive = await computeSimilarityMaps({ volume: 0, dims, r, stride, origin, dim: FEATURES, batch: 32, targetBatchMs: 5, embedders: [slow] });
    expect(Array.from(adaptive.maps[0].values)).toEqual(Array.from(fixed.maps[0].values));
    const windowBatches = sizes.slice(1, -1); // the query, and the last (partial) batch aside
    expect(windowBatches[0]).toBe(8);
    for (const n of windowBatches) expect(Number.isInteger(Math.log2(n)) && n <= 32).toBe(true);
  });

  it('stops between batches when cancelled', async () => {
    const vol = mirroredVolume(dims, 5);
    const enc = gapEncoder(vol, r, true);
    let batches = 0;
    const progress: number[] = [];
    const job = computeSimilarityMaps({
      volume: 0, dims, r, stride, origin, dim: FEATURES, batch: 10, embedders: [enc, enc],
      cancelled: () => batches >= 3,
      onProgress: (done) => {
        batches++;
        progress.push(done);
      },
    });
    await expect(job).rejects.toBeInstanceOf(MapCancelledError);
    await job.catch((e: MapCancelledError) => {
      expect(e.done).toBe(30);
      expect(e.total).toBe(2 * windowCount(slidingWindowGrid(dims, r, stride, origin)));
    });
    expect(progress).toEqual([10, 20, 30]);
    expect(enc.calls).toBe(4); // the query + 3 batches, nothing after the cancel
  });
});

describe('cosine helpers', () => {
  it('cosineMatrix is symmetric with a unit diagonal', () => {
    const rng = new Rng(1);
    const rows = Float32Array.from({ length: 5 * 7 }, () => rng.uniform(-1, 1));
    const m = cosineMatrix(rows, 7);
    for (let i = 0; i < 5; i++) {
      expect(m[i * 5 + i]).toBeCloseTo(1, 6);
      for (let j = 0; j < 5; j++) expect(m[i * 5 + j]).toBeCloseTo(m[j * 5 + i], 6);
    }
  });
});

// ---- NIfTI export ---------------------------------------------------------------------------------------------

function parse(bytes: Uint8Array): { header: NIFTI1; data: Float32Array } {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const header = readHeader(buf) as NIFTI1;
  return { header, data: new Float32Array(readImage(header, buf)) };
}

describe('NIfTI export', () => {
  it('writes the scan grid and affine (sform and qform) and the values, read back by nifti-reader-js', () => {
    const scan = niftiVolume(ABDOMEN_CT);
    const n = scan.dims[0] * scan.dims[1] * scan.dims[2];
    const data = Float32Array.from({ length: n }, (_, i) => (i % 977 === 0 ? NaN : Math.sin(i / 1000)));
    const gz = mapNiftiGz({ dims: scan.dims, affine: scan.affine, data, description: 'VoCo similarity map', calRange: [0.5, 1] });
    expect(gz[0]).toBe(0x1f); // gzip magic
    const { header, data: back } = parse(gunzipSync(gz));
    expect(header.dims.slice(0, 4)).toEqual([3, ...scan.dims]);
    expect(header.datatypeCode).toBe(16);
    expect(header.numBitsPerVoxel).toBe(32);
    expect(header.sform_code).toBe(1);
    expect(header.qform_code).toBe(1);
    expect(header.description).toBe('VoCo similarity map');
    expect(header.cal_min).toBe(0.5);
    expect(header.cal_max).toBe(1);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(header.affine[r][c]).toBeCloseTo(scan.affine[r][c], 4);
    const q = header.getQformMat();
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(q[r][c]).toBeCloseTo(scan.affine[r][c], 3);
    expect(back.length).toBe(n);
    for (let i = 0; i < n; i += 101) {
      if (Number.isNaN(data[i])) expect(Number.isNaN(back[i])).toBe(true);
      else expect(back[i]).toBe(data[i]);
    }
  });

  it('keeps an oblique, mirrored affine in the qform', () => {
    const c = Math.cos(0.3), s = Math.sin(0.3);
    const affine = [
      [-0.8 * c, 1.1 * s, 0, 12.5],
      [0.8 * s, 1.1 * c, 0, -40],
      [0, 0, 2.5, 7],
      [0, 0, 0, 1],
    ];
    const { header } = parse(mapNiftiBytes({ dims: [3, 4, 5], affine, data: new Float32Array(60) }));
    expect(header.pixDims[0]).toBe(-1); // qfac: a left-handed grid
    const q = header.getQformMat();
    for (let r = 0; r < 3; r++) for (let k = 0; k < 4; k++) expect(q[r][k]).toBeCloseTo(affine[r][k], 4);
  });

  it('names the problem with bad input', () => {
    expect(() => mapNiftiBytes({ dims: [2, 2, 2], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data: new Float32Array(7) })).toThrow(
      /7 values for a 2×2×2 grid/,
    );
  });
});

// ---- the worker's map jobs (TrainingHost under Node, cpu backend, the shared abdomen CT) ---------------------------

function tinyRun(over: Partial<RunConfig> = {}): RunConfig {
  return {
    volumeIds: ['abdomen', 'chest'], preset: 'tiny', gridN: 3, cropSize: 16, spacing: [3, 3, 3], huWindow: [-175, 250],
    batchVolumes: 2, randomCrops: 2, lr: 1e-3, warmupSteps: 0, totalSteps: 1000, weightDecay: 0.01, gradClip: 1,
    seed: 9, backend: 'cpu', checkpointEvery: 0, ...over,
  };
}

function harness() {
  const messages: FromWorker[] = [];
  const listeners: ((m: FromWorker) => void)[] = [];
  const host = new TrainingHost({
    post: (m) => {
      messages.push(m);
      for (const l of listeners) l(m);
    },
    initBackend: async () => {
      await tf.setBackend('cpu');
      return { name: 'cpu', software: true, reason: 'test' };
    },
  });
  const next = <T extends FromWorker['type']>(type: T, requestId?: number) =>
    new Promise<Extract<FromWorker, { type: T }>>((resolve, reject) => {
      const l = (m: FromWorker) => {
        if (m.type === 'error' && (requestId === undefined || m.requestId === requestId)) reject(new Error(m.message));
        if (m.type === type && (requestId === undefined || (m as { requestId?: number }).requestId === requestId)) resolve(m as Extract<FromWorker, { type: T }>);
      };
      listeners.push(l);
    });
  const send = (m: ToWorker) => void host.handle(m);
  return { host, messages, next, send, listeners };
}

describe('worker map jobs (cpu, abdomen CT, tiny preset)', () => {
  let volumes: PreprocessedVolume[];
  let abdomen: PreprocessedVolume;
  let scan: Volume;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    volumes = loadTrainingVolumes([48, 48, 16]);
    abdomen = volumes[0];
    scan = niftiVolume(ABDOMEN_CT);
  });

  it('maps a crop to 1 at its own position, agrees with embedCrops, and lands on the scan at the query', async () => {
    const h = harness();
    h.send({ type: 'configure', config: tinyRun(), volumes });
    await h.next('ready');
    // The query: the preprocessed voxel under a scan voxel in the liver region.
    const scanVoxel: Vec3 = [40, 45, 60];
    const preVoxel = worldToVoxel(abdomen.affine, voxelToWorld(scan.affine, scanVoxel));
    const origin = cropOriginNear(preVoxel, 16);
    const answer = h.next('map-result', 1);
    h.send({ type: 'similarity-map', requestId: 1, request: { volumeId: 'abdomen', origin, stride: 16, weights: [{ kind: 'current' }, { kind: 'initial' }] } }); // adaptive batches
    const { result } = await answer;
    const { grid, maps } = result;
    expect(maps.map((m) => m.kind)).toEqual(['current', 'initial']);
    expect(maps[0].step).toBe(0);
    expect(windowCount(grid)).toBe(maps[0].values.length);
    const qIndex = windowIndexOf(result, origin);
    for (const m of maps) {
      expect(m.values[qIndex]).toBeCloseTo(1, 5);
      expect(m.querySelf).toBeCloseTo(1, 5);
      for (const v of m.values) expect(v >= -1 && v <= 1).toBe(true);
      expect(mapStats(m.values).max).toBeCloseTo(1, 5);
    }
    // Before any step the current weights ARE the initial weights of the seed.
    for (let i = 0; i < maps[0].values.length; i++) expect(maps[0].values[i]).toBeCloseTo(maps[1].values[i], 5);

    // Same numbers as the trainer's own embedding path for a few windows.
    const trainer = (h.host as unknown as { trainer: import('../src/worker/trainer').Trainer }).trainer;
    const probe = [0, 7, qIndex, windowCount(grid) - 1];
    const crops = probe.map((w) => ({ volume: 0, origin: windowOrigin(grid, w), flip: [false, false, false] as [boolean, boolean, boolean], rot90: 0, shift: 0 }));
    const rows = await trainer.embedCrops([{ volume: 0, origin, flip: [false, false, false], rot90: 0, shift: 0 }, ...crops]);
    const dim = trainer.embedDim;
    const q = rows.subarray(0, dim);
    probe.forEach((w, i) => {
      const e = rows.subarray((i + 1) * dim, (i + 2) * dim);
      let dot = 0, nq = 0, ne = 0;
      for (let d = 0; d < dim; d++) {
        dot += q[d] * e[d];
        nq += q[d] * q[d];
        ne += e[d] * e[d];
      }
      expect(maps[0].values[w]).toBeCloseTo(dot / Math.sqrt(nq * ne), 5);
    });

    // On the source scan: ≈ 1 at the query crop's centre, which is the map's maximum there.
    const onScan = mapToScan(maps[0].values, grid, abdomen, scan);
    expect(onScan.scan.length).toBe(scan.dims[0] * scan.dims[1] * scan.dims[2]);
    const centreOnScan = worldToVoxel(scan.affine, voxelToWorld(abdomen.affine, cropCentre(origin, 16)));
    const atQuery = sampleAt(onScan.scan, scan.dims, centreOnScan);
    const stats = mapStats(onScan.scan);
    expect(atQuery).toBeGreaterThan(0.97);
    expect(stats.max).toBeLessThanOrEqual(1 + 1e-6);
    expect(stats.max - atQuery).toBeLessThan(0.03);
    const maxAt = [stats.argmax % scan.dims[0], Math.floor(stats.argmax / scan.dims[0]) % scan.dims[1], Math.floor(stats.argmax / (scan.dims[0] * scan.dims[1]))];
    expect(Math.max(...maxAt.map((v, a) => Math.abs(v - centreOnScan[a])))).toBeLessThanOrEqual(1);
    await h.host.dispose();
  });

  it('cancel stops a job mid-way; training waits during a map and goes on after it', async () => {
    const h = harness();
    h.send({ type: 'configure', config: tinyRun({ cropSize: 8, totalSteps: 100000 }), volumes });
    await h.next('ready');
    h.send({ type: 'start' });
    await h.next('step');
    const origin: Vec3 = [20, 20, 20];
    // Cancel at the first progress report.
    const cancelled = h.next('map-cancelled', 2);
    h.listeners.push((m) => m.type === 'map-progress' && m.requestId === 2 && h.send({ type: 'cancel-map', requestId: 2 }));
    h.send({ type: 'similarity-map', requestId: 2, request: { volumeId: 'abdomen', origin, stride: 2, batch: 16, weights: [{ kind: 'current' }] } });
    const c = await cancelled;
    expect(c.done).toBeGreaterThan(0);
    expect(c.done).toBeLessThan(c.total / 10);
    expect(h.messages.some((m) => m.type === 'map-result')).toBe(false);

    // A full map while training: no step is taken between its first progress report and its result.
    const from = h.messages.length;
    const done = h.next('map-result', 3);
    h.send({ type: 'similarity-map', requestId: 3, request: { volumeId: 'chest', origin, stride: 8, batch: 64, weights: [{ kind: 'current' }] } });
    const { result } = await done;
    const during = h.messages.slice(from);
    const firstProgress = during.findIndex((m) => m.type === 'map-progress');
    const resultAt = during.findIndex((m) => m.type === 'map-result');
    expect(firstProgress).toBeGreaterThanOrEqual(0);
    expect(during.slice(firstProgress, resultAt).some((m) => m.type === 'step')).toBe(false);
    expect(result.maps[0].step).toBeGreaterThan(0);
    expect(result.maps[0].values[windowIndexOf(result, origin)]).toBeCloseTo(1, 5);
    const stepsBefore = h.messages.filter((m) => m.type === 'step').length;
    await h.next('step');
    expect(h.messages.filter((m) => m.type === 'step').length).toBeGreaterThan(stepsBefore);
    await h.host.dispose();
  });

  it('answers the cosine matrix of base crops, and names a volume that is not in the run', async () => {
    const h = harness();
    h.send({ type: 'configure', config: tinyRun(), volumes });
    await h.next('ready');
    const crops = [0, 1, 2, 3].map((k) => ({ volumeId: 'abdomen', origin: [20 + 16 * (k >> 1), 20 + 16 * (k & 1), 30] as Vec3 }));
    const answer = h.next('crop-similarity-result', 4);
    h.send({ type: 'crop-similarity', requestId: 4, crops, weights: [{ kind: 'current' }] });
    const { matrices, count } = await answer;
    expect(count).toBe(4);
    const m = matrices[0].values;
    for (let i = 0; i < 4; i++) expect(m[i * 5]).toBeCloseTo(1, 5);
    expect(m[1]).toBeCloseTo(m[4], 6);
    const failure = h.next('map-result', 5);
    h.send({ type: 'similarity-map', requestId: 5, request: { volumeId: 'nope', origin: [0, 0, 0], stride: 4, weights: [{ kind: 'current' }] } });
    await expect(failure).rejects.toThrow(/volume "nope" is not part of the run/);
    await h.host.dispose();
  });
});

function windowIndexOf(result: SimilarityMapResult, origin: readonly number[]): number {
  const { first, counts, stride } = result.grid;
  const ijk = [0, 1, 2].map((a) => (origin[a] - first[a]) / stride);
  expect(ijk.every((v, a) => Number.isInteger(v) && v >= 0 && v < counts[a])).toBe(true);
  return ijk[0] + counts[0] * (ijk[1] + counts[1] * ijk[2]);
}


