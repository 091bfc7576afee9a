import { describe, expect, it } from 'vitest';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { RunFileError, decodeRunFile, encodeRunFile, readRunFileSummary, runFileName, runFileWeights } from '../src/persist/runFile';
import { fingerprintVolume, matchVolumes } from '../src/persist/fingerprint';
import type { SavedRun } from '../src/persist/savedRun';
import { PRESETS, type EncoderPreset } from '../src/model/presets';
import { MetricsHistory, METRIC_COLUMNS } from '../src/store/metricsHistory';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import type { TrainerState } from '../src/worker/protocol';

function randomFloats(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 ** ((s % 40) - 20);
  }
  return a;
}

function makeRun(): SavedRun {
  const config = { ...DEFAULT_RUN_CONFIG, volumeIds: ['vol-a', 'vol-b'], preset: 'tiny', cropSize: 16, totalSteps: 50 };
  const weights = [
    // Names that a JS object would reorder (integer-like) check that the manifest keeps the model's order.
    { name: 'patch_embed.weight', shape: [64, 32], data: randomFloats(64 * 32, 1) },
    { name: '10', shape: [3], data: new Float32Array([-0, Infinity, -Infinity]) },
    { name: 'head.teacher.0.bias', shape: [64], data: randomFloats(64, 2) },
  ];
  // A NaN with a payload survives as bits.
  new Uint32Array(weights[2].data.buffer)[5] = 0x7fc01234;
  const state: TrainerState = {
    format: 'voco-trainer-state',
    version: 1,
    config,
    step: 5,
    weights,
    optimizer: { step: 5, tensors: { 'patch_embed.weight/m': randomFloats(2048, 3), 'patch_embed.weight/v': randomFloats(2048, 4) } },
    rng: [1, 2, 3, 4],
    volumeOrder: [1, 0],
    volumeCursor: 1,
    dropoutRng: [9, 8, 7, 6],
  };
  const h = new MetricsHistory();
  for (let s = 0; s < 5; s++) {
    h.push({ step: s, loss: Math.fround(Math.random() * 4), intra: 1 / 3, inter: Math.PI, reg: 1e-30, lr: 1e-4 * s, stepMs: 123.456, accuracy: 0.5, mae: 0.1 + s });
  }
  const fp = (id: string, sha: string) => ({ id, name: `${id}.nii.gz`, dims: [10, 10, 10] as [number, number, number], spacing: [3, 3, 3] as [number, number, number], sha256: sha });
  return {
    meta: {
      id: 'run-x', name: 'tiny run', createdAt: Date.UTC(2025, 0, 2, 3, 4), savedAt: Date.UTC(2025, 0, 2, 3, 5), step: 5, config,
      volumes: [fp('vol-a', 'aa'), fp('vol-b', 'bb')], lastLoss: 3.2, backend: 'webgpu (SwiftShader)', origin: 'trained',
    },
    state,
    metrics: h.snapshot(),
  };
}

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('.voco run file', () => {
  it('round-trips weights, optimizer, sampling state, config and metrics bit for bit', () => {
    const run = makeRun();
    const file = encodeRunFile(run, PRESETS.tiny);
    const back = decodeRunFile(file, 'run.voco', PRESETS);
    expect(back.state.weights.map((w) => w.name)).toEqual(run.state.weights.map((w) => w.name));
    back.state.weights.forEach((w, i) => {
      expect(w.shape).toEqual(run.state.weights[i].shape);
      expect(bytesOf(w.data).equals(bytesOf(run.state.weights[i].data))).toBe(true);
    });
    for (const [k, v] of Object.entries(run.state.optimizer.tensors)) expect(bytesOf(back.state.optimizer.tensors[k]).equals(bytesOf(v))).toBe(true);
    expect(back.state.optimizer.step).toBe(5);
    expect({ ...back.state, weights: [], optimizer: null }).toEqual({ ...run.state, weights: [], optimizer: null });
    expect(back.meta).toEqual(run.meta);
    for (const c of METRIC_COLUMNS) expect(bytesOf(new Float32Array(back.metrics.columns[c].buffer)).equals(bytesOf(new Float32Array(run.metrics.columns[c].buffer)))).toBe(true);
    // Encoding the decoded run gives the same weights file.
    expect(Buffer.from(runFileWeights(encodeRunFile(back, PRESETS.tiny))).equals(Buffer.from(runFileWeights(file)))).toBe(true);
    expect(runFileName(run.meta)).toBe('voco-tiny-n3r16-step5-202501020304.voco');
  });

  it('refuses files that are not runs, naming the file and the problem', () => {
    const expectReject = (bytes: Uint8Array, re: RegExp) => {
      let err: unknown;
      try {
        decodeRunFile(bytes, 'x.voco', PRESETS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RunFileError);
      expect((err as Error).message).toMatch(re);
    };
    expectReject(strToU8('hello, I am a text file'), /^x.voco is not a VoCo run file \(it is not a zip archive\)/);
    expectReject(zipSync({ 'readme.txt': strToU8('hi') }), /no voco-run.json inside/);
    const good = unzipSync(encodeRunFile(makeRun(), PRESETS.tiny));
    const rezip = (patch: Record<string, Uint8Array | null>) => {
      const files = { ...good, ...patch };
      for (const k of Object.keys(patch)) if (patch[k] === null) delete files[k];
      return zipSync(files as Record<string, Uint8Array>);
    };
    expectReject(rezip({ 'voco-run.json': strToU8(JSON.stringify({ format: 'other' })) }), /format "other"/);
    expectReject(rezip({ 'metrics.csv': null }), /metrics.csv is missing/);
    expectReject(rezip({ 'weights.safetensors': good['weights.safetensors'].subarray(0, 100) }), /is damaged: x.voco: weights.safetensors/);
    expectReject(rezip({ 'config.json': strToU8('{"preset": 3}') }), /bad configuration/);
  });

  it("refuses a run whose preset is missing here or defined differently", () => {
    const file = encodeRunFile(makeRun(), PRESETS.tiny);
    const changed: Record<string, EncoderPreset> = { ...PRESETS, tiny: { ...PRESETS.tiny, dim: 48 } };
    expect(() => decodeRunFile(file, 'x.voco', changed)).toThrow(/uses a different preset "tiny" than this studio: dim 32 ≠ 48/);
    const { tiny: _gone, ...without } = PRESETS;
    expect(() => decodeRunFile(file, 'x.voco', without)).toThrow(/model preset "tiny", which this studio does not have/);
    expect(() => encodeRunFile(makeRun(), PRESETS.S)).toThrow(/uses preset tiny/);
  });
});

describe('run file markers (runs continued elsewhere)', () => {
  it('round-trips markers in the manifest; a file without them reads as before', () => {
    const run = makeRun();
    expect(decodeRunFile(encodeRunFile(run, PRESETS.tiny), 'a.voco', PRESETS).meta).not.toHaveProperty('markers');
    run.meta.markers = [{ step: 3, label: 'torchrun' }];
    const back = decodeRunFile(encodeRunFile(run, PRESETS.tiny), 'a.voco', PRESETS);
    expect(back.meta.markers).toEqual([{ step: 3, label: 'torchrun' }]);
  });

  it('reads a source column of metrics.csv as markers; the history keeps its numeric columns', () => {
    const good = unzipSync(encodeRunFile(makeRun(), PRESETS.tiny));
    const lines = Buffer.from(good['metrics.csv']).toString().trim().split('\n');
    const sources = ['studio', 'studio', 'studio', 'torchrun', 'torchrun'];
    const csv = [`${lines[0]},source,effRank`, ...lines.slice(1).map((l, i) => `${l},${sources[i]},${i + 1}`)].join('\n') + '\n';
    const file = zipSync({ ...good, 'metrics.csv': strToU8(csv) });
    const back = decodeRunFile(file, 'cluster.voco', PRESETS);
    expect(back.meta.markers).toEqual([{ step: 3, label: 'torchrun' }]);
    expect(back.metrics.length).toBe(5);
    // The comparison's reader keeps every column, also ones the studio's history does not have.
    const summary = readRunFileSummary(file, 'cluster.voco');
    expect(summary.config?.preset).toBe('tiny');
    expect(Array.from(summary.metrics.metrics.effRank)).toEqual([1, 2, 3, 4, 5]);
    expect(summary.meta.markers).toEqual([{ step: 3, label: 'torchrun' }]);
    // Bad markers are refused with the file's name.
    const manifest = JSON.parse(Buffer.from(good['voco-run.json']).toString());
    manifest.meta.markers = [{ step: 'late' }];
    const bad = zipSync({ ...good, 'voco-run.json': strToU8(JSON.stringify(manifest)) });
    expect(() => decodeRunFile(bad, 'bad.voco', PRESETS)).toThrow(/bad.voco is damaged: bad.voco: voco-run.json: marker 1/);
    expect(() => readRunFileSummary(bad, 'bad.voco')).toThrow(/marker 1/);
    expect(() => readRunFileSummary(strToU8('nope'), 'n.voco')).toThrow(/n.voco is not a VoCo run file/);
  });
});

describe('volume fingerprints', () => {
  it('match the same content under a new id and differ for other content', async () => {
    const data = new Int16Array(40 * 30 * 20).map((_, i) => (i * 7919) % 3000 - 1000);
    const a = await fingerprintVolume({ id: 's1-a', name: 'a.nii', dims: [40, 30, 20], spacing: [1, 1, 2], data });
    const again = await fingerprintVolume({ id: 's2-a', name: 'a.nii', dims: [40, 30, 20], spacing: [1, 1, 2], data });
    const moved = await fingerprintVolume({ id: 's2-b', name: 'a.nii', dims: [40, 30, 20], spacing: [1, 1, 2.5], data });
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(again.sha256).toBe(a.sha256);
    expect(moved.sha256).not.toBe(a.sha256);
    expect(matchVolumes([a, moved], [again])).toEqual(['s2-a', null]);
    expect(matchVolumes([a], [moved, again])).toEqual(['s2-a']);
  });
});
