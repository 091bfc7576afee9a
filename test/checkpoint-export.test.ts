// Checkpoints out, in the authors' layout: the imported fixture weights re-export bit for bit (.pt and
// .safetensors), the .pt is laid out as torch.save lays it out, and torch.load (Debian's python3-torch via
// /usr/bin/python3) reads it with exactly the keys, dtypes and shapes of the fixture key lists, values equal.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../src/model/checkpoints/byteSource';
import { float32Bytes } from '../src/model/checkpoints/dtypes';
import { exportReferencePt, exportReferenceSafetensors, referenceStateDict } from '../src/model/checkpoints/export';
import { inspectCheckpoint, openCheckpoint, readMappedWeights, type ImportedWeight } from '../src/model/checkpoints/open';
import { vocoHeadLayout } from '../src/model/checkpoints/layout';
import { writeTorchCheckpoint } from '../src/model/checkpoints/torchWrite';
import { concatBytes, entryDataOffset, readZipDirectory } from '../src/model/checkpoints/zip';
import { VOCO_SWIN_FIXTURE } from './helpers/paths';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const fixture = (name: string) => new Uint8Array(readFileSync(resolve(VOCO_SWIN_FIXTURE, name)));
const swinJson = JSON.parse(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8')) as { weights: Record<string, number[]>; config: { feature_size: number; head_width: number } };
const vocoB = JSON.parse(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'voco-b-keys.json'), 'utf8')) as Record<string, [string, number[]]>;
const tmp = mkdtempSync(join(tmpdir(), 'voco-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
function writePieces(path: string, pieces: Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of pieces) writeSync(fd, p);
  } finally {
    closeSync(fd);
  }
}

let imported: ImportedWeight[] | null = null;
async function importFixture(): Promise<ImportedWeight[]> {
  if (!imported) {
    const { report, opened } = await inspectCheckpoint(bytesSource(fixture('swin-fs12.safetensors'), 'swin-fs12.safetensors'));
    imported = await readMappedWeights(opened, report);
  }
  return imported;
}
const FS = swinJson.config.feature_size;
const HW = swinJson.config.head_width;

/** torch.load in a subprocess: every tensor's dtype, shape and sha256 of its bytes, and the top-level keys. */
function torchDescribe(path: string): { top: string[]; globalStep: number | null; tensors: Record<string, [string, number[], string]> } {
  const script = `
import hashlib, json, sys, torch
obj = torch.load(sys.argv[1], map_location="cpu")
sd = obj["state_dict"] if "state_dict" in obj else obj
out = {"top": list(obj.keys()), "globalStep": obj.get("global_step"), "tensors": {}}
assert type(sd).__name__ == "OrderedDict", type(sd)
for k, v in sd.items():
    out["tensors"][k] = [str(v.dtype).replace("torch.", ""), list(v.shape), hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()]
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`torch.load failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('export in the authors layout', () => {
  it('the imported float16 fixture re-exports bit for bit as .safetensors and .pt, with the int64 index buffers, in their order', async () => {
    const weights = await importFixture();
    const layout = vocoHeadLayout(FS, HW);
    for (const [format, pieces] of [
      ['safetensors', exportReferenceSafetensors(weights, { featureSize: FS, headWidth: HW, globalStep: 5 })],
      ['pt', exportReferencePt(weights, { featureSize: FS, headWidth: HW, globalStep: 5 })],
    ] as const) {
      const name = `out.${format}`;
      const { report, opened } = await inspectCheckpoint(bytesSource(concatBytes(pieces), name));
      expect(report.usable, format).toBe(true);
      expect(report.globalStep).toBe(5);
      expect(report.keyRules).toEqual([]);
      const listed = opened.listing.groups.find((g) => g.path === report.container)!.tensors;
      expect(listed.map((t) => t.key)).toEqual(Object.keys(swinJson.weights));
      for (const t of listed) {
        expect(t.shape).toEqual(swinJson.weights[t.key]);
        expect(t.dtype).toBe(t.key.endsWith('relative_position_index') ? 'int64' : 'float32');
      }
      expect(report.buffers.every((b) => b.status === 'matches')).toBe(true);
      const back = await readMappedWeights(opened, report);
      expect(back.map((w) => w.name)).toEqual(layout.filter((e) => e.dtype === 'float32').map((e) => e.key));
      back.forEach((w, i) => expect(sha(float32Bytes(w.data)), w.name).toBe(sha(float32Bytes(weights[i].data))));
    }
  });

  it('the DDP .pt fixture: its storages re-export byte for byte, each entry 64-byte aligned like torch.save', async () => {
    const src = bytesSource(fixture('swin-fs12-subset.pt'), 'swin-fs12-subset.pt');
    const opened = await openCheckpoint(src);
    const group = opened.listing.groups.find((g) => g.path === 'state_dict')!;
    const raw = await Promise.all(group.tensors.map(async (t) => ({ name: t.key, ...(await opened.readRaw('state_dict', t.key)) })));
    const out = bytesSource(concatBytes(writeTorchCheckpoint(raw, { top: { global_step: 7 }, wrapKey: 'state_dict' })), 'again.pt');
    const again = await openCheckpoint(out);
    expect(again.listing.scalars).toEqual({ global_step: 7 });
    const g2 = again.listing.groups.find((g) => g.path === 'state_dict')!;
    expect(g2.tensors).toEqual(group.tensors);
    for (const t of raw) expect(sha((await again.readRaw('state_dict', t.name)).bytes), t.name).toBe(sha(t.bytes));
    // Storage entries of the original and of ours hold the same bytes.
    const origEntries = await readZipDirectory(src);
    const ourEntries = await readZipDirectory(out);
    for (const e of ourEntries) {
      const off = await entryDataOffset(out, e);
      expect(off % 64, e.name).toBe(0);
      const m = /data\/(\d+)$/.exec(e.name);
      if (!m) continue;
      // Our storage i is tensor i; find the original storage of the same tensor by its bytes' hash.
      const ours = await out.read(off, e.size);
      expect(origEntries.some((o) => o.crc === e.crc && o.size === e.size), e.name).toBe(true);
      expect(sha(ours)).toBe(sha(raw[Number(m[1])].bytes));
    }
    expect(ourEntries.map((e) => e.name)).toEqual(['archive/data.pkl', 'archive/byteorder', ...raw.map((_, i) => `archive/data/${i}`), 'archive/version']);
  });

  it('refuses to export weights that do not fill the layout', async () => {
    const weights = await importFixture();
    expect(() => referenceStateDict(weights.slice(1), { featureSize: FS, headWidth: HW })).toThrow(/'backbone\.swinViT\.patch_embed\.proj\.weight' is missing/);
    expect(() => referenceStateDict([...weights, { name: 'x', shape: [1], data: new Float32Array(1) }], { featureSize: FS, headWidth: HW })).toThrow(/'x' is not a key/);
    expect(() => referenceStateDict(weights, { featureSize: 24, headWidth: HW })).toThrow(/has shape/);
  });
});

describe('torch.load reads the exported .pt (Debian python3-torch; fails when it is missing)', () => {
  beforeAll(() => {
    if (!hasTorch) throw new Error(`${PYTHON} cannot import torch: install python3-torch (apt-get install python3-torch)`);
  });
  it('feature size 12: keys, dtypes, shapes of swin-fs12.json, values equal, {"global_step", "state_dict"}', async () => {
    const weights = await importFixture();
    const path = join(tmp, 'fs12.pt');
    writePieces(path, exportReferencePt(weights, { featureSize: FS, headWidth: HW, globalStep: 11 }));
    const d = torchDescribe(path);
    expect(d.top).toEqual(['global_step', 'state_dict']);
    expect(d.globalStep).toBe(11);
    expect(Object.keys(d.tensors)).toEqual(Object.keys(swinJson.weights));
    const ours = referenceStateDict(weights, { featureSize: FS, headWidth: HW });
    for (const t of ours) expect(d.tensors[t.name], t.name).toEqual([t.dtype, t.shape, sha(t.bytes)]);
  });

  it('VoCo-B (feature size 48): exactly the keys, dtypes and shapes of voco-b-keys.json; also bare and zip64', async () => {
    // Distinct values per tensor without 212 MB of distinct memory: views of one random buffer.
    const layout = vocoHeadLayout(48, 1024).filter((e) => e.dtype === 'float32');
    const biggest = Math.max(...layout.map((e) => e.shape.reduce((a, b) => a * b, 1)));
    const pool = new Float32Array(biggest + layout.length);
    for (let i = 0; i < pool.length; i++) pool[i] = Math.sin(i) * 0.01;
    const weights = layout.map((e, i) => ({ name: e.key, shape: e.shape, data: pool.subarray(i, i + e.shape.reduce((a, b) => a * b, 1)) }));
    const path = join(tmp, 'vocob.pt');
    writePieces(path, exportReferencePt(weights, { featureSize: 48, headWidth: 1024, globalStep: 3 }));
    const d = torchDescribe(path);
    expect(Object.keys(d.tensors)).toEqual(Object.keys(vocoB));
    for (const [k, [dtype, shape]] of Object.entries(vocoB)) expect(d.tensors[k].slice(0, 2), k).toEqual([dtype, shape]);
    const w0 = weights[0];
    expect(d.tensors[w0.name][2]).toBe(sha(float32Bytes(w0.data)));
    rmSync(path);

    const small = await importFixture();
    const bare = join(tmp, 'bare.pt');
    writePieces(bare, exportReferencePt(small, { featureSize: FS, headWidth: HW, globalStep: 0, wrap: false }));
    expect(torchDescribe(bare).top).toEqual(Object.keys(swinJson.weights));
    const z64 = join(tmp, 'z64.pt');
    writePieces(z64, writeTorchCheckpoint(referenceStateDict(small, { featureSize: FS, headWidth: HW }), { top: { global_step: 1 }, wrapKey: 'state_dict', forceZip64: true }));
    expect(Object.keys(torchDescribe(z64).tensors)).toHaveLength(Object.keys(swinJson.weights).length);
  });
});

describe('studio ViT presets as safetensors', () => {
  it('the documented key layout is exactly VocoModel.namedWeights() (names, shapes, order) and round-trips', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const { VocoModel } = await import('../src/model/vocoModel');
    const { PRESETS } = await import('../src/model/presets');
    const { vitKeyLayout, exportVitSafetensors } = await import('../src/model/checkpoints/vitLayout');
    const { fromSafetensors } = await import('../src/model/weights');
    for (const name of ['tiny', 'S']) {
      const m = VocoModel.create(PRESETS[name], 32, 3);
      const weights = await m.readWeights();
      m.dispose();
      expect(vitKeyLayout(PRESETS[name]).map((e) => [e.key, e.shape]), name).toEqual(weights.map((w) => [w.name, w.shape]));
      const file = concatBytes(exportVitSafetensors(weights, PRESETS[name], { step: 9, cropSize: 32 }));
      const back = fromSafetensors(file, 'vit.safetensors');
      expect(back.metadata).toMatchObject({ format: 'voco-studio-vit', global_step: '9', crop_size: '32' });
      expect(JSON.parse(back.metadata.preset)).toEqual(PRESETS[name]);
      back.tensors.forEach((t, i) => expect(sha(float32Bytes(t.data)), t.name).toBe(sha(float32Bytes(weights[i].data))));
      expect(() => exportVitSafetensors(weights.slice(1), PRESETS[name], { step: 0, cropSize: 32 })).toThrow(/is missing/);
    }
  });
});

describe('a run exported as weights (persist/weightsExport)', () => {
  it('a run of the reference encoder: .pt and .safetensors in the authors layout, step = the run step; a ViT run: .safetensors only', async () => {
    const { exportRunWeights, weightsFormats } = await import('../src/persist/weightsExport');
    const { PRESETS } = await import('../src/model/presets');
    const { DEFAULT_RUN_CONFIG } = await import('../src/store/runConfig');
    const weights = (await importFixture()).map((w) => ({ name: w.name, shape: w.shape, data: w.data }));
    const run = (ws: typeof weights, preset: string, step: number) =>
      ({
        meta: { id: 'r', name: 'r', createdAt: 0, savedAt: 0, step, config: { ...DEFAULT_RUN_CONFIG, preset }, volumes: [], lastLoss: null, backend: null, origin: 'imported' },
        state: { format: 'voco-trainer-state', version: 1, config: { ...DEFAULT_RUN_CONFIG, preset }, step, weights: ws, optimizer: { step: 0, tensors: {} }, rng: [], volumeOrder: [], volumeCursor: 0, dropoutRng: [] },
        metrics: { columns: {}, length: 0 },
      }) as unknown as import('../src/persist/savedRun').SavedRun;
    const ref = run(weights, 'VoCo-custom', 17);
    expect(weightsFormats(ref, PRESETS)).toEqual(['pt', 'safetensors']);
    for (const format of ['pt', 'safetensors'] as const) {
      const { name, pieces } = exportRunWeights(ref, format, PRESETS);
      expect(name).toBe(`voco-VoCo-custom-step17-1970-01-01.${format}`);
      const { report } = await inspectCheckpoint(bytesSource(concatBytes(pieces), name));
      expect(report.usable).toBe(true);
      expect(report.globalStep).toBe(17);
      expect(report.mapped).toHaveLength(weights.length);
    }
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const { VocoModel } = await import('../src/model/vocoModel');
    const m = VocoModel.create(PRESETS.tiny, 16, 1);
    const vit = run(await m.readWeights(), 'tiny', 3);
    m.dispose();
    expect(weightsFormats(vit, PRESETS)).toEqual(['safetensors']);
    expect(exportRunWeights(vit, 'safetensors', PRESETS).name).toMatch(/^voco-tiny-step3-.*\.safetensors$/);
    expect(() => exportRunWeights(vit, 'pt', PRESETS)).toThrow(/exports as \.safetensors/);
  });
});

describe('through the reference model (swin-tiny = feature size 12, 128-wide heads)', () => {
  it('fixture → saved run (model layout) → VocoModel.loadWeights → readWeights → .pt: bit for bit, and the model loads what the import made', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const { VocoModel } = await import('../src/model/vocoModel');
    const { PRESETS } = await import('../src/model/presets');
    const { DEFAULT_RUN_CONFIG } = await import('../src/store/runConfig');
    const { importedRun } = await import('../src/persist/importedRun');
    const { referenceModelKeys } = await import('../src/persist/referenceLayout');
    const { exportRunWeights } = await import('../src/persist/weightsExport');
    const preset = PRESETS['swin-tiny'];
    const { report, opened } = await inspectCheckpoint(bytesSource(fixture('swin-fs12.safetensors'), 'swin-fs12.safetensors'));
    const weights = await readMappedWeights(opened, report);
    const run = importedRun(report, weights, { preset: 'swin-tiny', base: DEFAULT_RUN_CONFIG, cropSize: 64, toModel: (w) => w, modelKeys: referenceModelKeys(preset) });
    const model = VocoModel.create(preset, 64, 1);
    try {
      expect(run.state.weights.map((w) => [w.name, w.shape])).toEqual(model.storedShapes().map((w) => [w.name, w.shape]));
      model.loadWeights(run.state.weights);
      const back = await model.readWeights();
      const { pieces } = exportRunWeights({ ...run, state: { ...run.state, weights: back } }, 'pt', PRESETS);
      const again = await inspectCheckpoint(bytesSource(concatBytes(pieces), 'again.pt'));
      expect(again.report.usable).toBe(true);
      const reread = await readMappedWeights(again.opened, again.report);
      expect(reread.map((w) => w.name)).toEqual(weights.map((w) => w.name));
      reread.forEach((w, i) => expect(sha(float32Bytes(w.data)), w.name).toBe(sha(float32Bytes(weights[i].data))));
    } finally {
      model.dispose();
    }
  });
});
