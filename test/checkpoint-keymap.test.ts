// Key mapping to the authors' VoCoHead layout and the report made before anything is used: the layout against
// the fixture key lists, the fixture checkpoints, and synthetic variants of the full fixture weights
// (DDP / torch.compile prefixes, swin_vit naming, backbone-only, MONAI SwinUNETR with a decoder, VoComni,
// missing / extra / wrong-shape keys, wrong index buffers), written as real .pt files by the studio's writer.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../src/model/checkpoints/byteSource';
import { float32Bytes, int64Bytes, toFloat32 } from '../src/model/checkpoints/dtypes';
import { planImport, type CheckpointListing } from '../src/model/checkpoints/keyMap';
import { relativePositionIndex, vocoHeadLayout } from '../src/model/checkpoints/layout';
import { inspectCheckpoint, readMappedWeights } from '../src/model/checkpoints/open';
import { openSafetensors, type RawTensor } from '../src/model/checkpoints/safetensors';
import { writeTorchCheckpoint } from '../src/model/checkpoints/torchWrite';
import { concatBytes } from '../src/model/checkpoints/zip';
import { VOCO_SWIN_FIXTURE } from './helpers/paths';

const fixture = (name: string) => new Uint8Array(readFileSync(resolve(VOCO_SWIN_FIXTURE, name)));
const swinJson = JSON.parse(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8')) as { weights: Record<string, number[]>; config: { feature_size: number; head_width: number } };
const vocoB = JSON.parse(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'voco-b-keys.json'), 'utf8')) as Record<string, [string, number[]]>;

/** The fixture's full weights (float16 → float32), keyed as VoCoHead, plus the int64 index buffers. */
let cached: RawTensor[] | null = null;
async function fixtureTensors(): Promise<RawTensor[]> {
  cached ??= await loadFixtureTensors();
  return cached.map((t) => ({ ...t }));
}
async function loadFixtureTensors(): Promise<RawTensor[]> {
  const f = await openSafetensors(bytesSource(fixture('swin-fs12.safetensors'), 'swin-fs12.safetensors'));
  const byName = new Map(f.entries.map((e) => [e.name, e]));
  const out: RawTensor[] = [];
  for (const [key, shape] of Object.entries(swinJson.weights)) {
    if (key.endsWith('relative_position_index')) out.push({ name: key, dtype: 'int64', shape, bytes: int64Bytes(relativePositionIndex()) });
    else {
      const e = byName.get(key)!;
      out.push({ name: key, dtype: 'float32', shape, bytes: float32Bytes(toFloat32(await f.read(e), e.dtype)) });
    }
  }
  return out;
}

const pt = (tensors: RawTensor[], name: string, wrap = true) =>
  bytesSource(concatBytes(writeTorchCheckpoint(tensors, wrap ? { top: { global_step: 42 }, wrapKey: 'state_dict' } : {})), name);
const rename = (ts: RawTensor[], f: (k: string) => string | null) =>
  ts.flatMap((t) => {
    const n = f(t.name);
    return n === null ? [] : [{ ...t, name: n }];
  });

describe('the authors layout', () => {
  it('feature size 48 with 1024-wide heads is voco-b-keys.json: every key, dtype and shape, in order', () => {
    const ours = vocoHeadLayout(48, 1024);
    expect(ours.map((e) => e.key)).toEqual(Object.keys(vocoB));
    for (const e of ours) expect([e.dtype, e.shape], e.key).toEqual(vocoB[e.key]);
  });
  it('feature size 12 with 128-wide heads is swin-fs12.json, in order', () => {
    const ours = vocoHeadLayout(swinJson.config.feature_size, swinJson.config.head_width);
    expect(ours.map((e) => e.key)).toEqual(Object.keys(swinJson.weights));
    for (const e of ours) expect(e.shape, e.key).toEqual(swinJson.weights[e.key]);
  });
  it('refuses feature sizes SwinUNETR cannot build', () => {
    expect(() => vocoHeadLayout(50)).toThrow(/not divisible by 12/);
  });
});

describe('fixture checkpoints', () => {
  it('the DDP training checkpoint subset: module. removed, global step 7, buffers checked, refused for its missing weights', async () => {
    const { report } = await inspectCheckpoint(bytesSource(fixture('swin-fs12-subset.pt'), 'swin-fs12-subset.pt'));
    expect(report.container).toBe('state_dict');
    expect(report.globalStep).toBe(7);
    expect(report.featureSize).toBe(12);
    expect(report.headWidth).toBe(128);
    expect(report.model).toBe('custom (feature size 12)');
    expect(report.keyRules).toEqual(["removed DDP prefix 'module.' (22 of 22 keys)"]);
    expect(report.mapped).toHaveLength(21);
    expect(report.mapped[0]).toMatchObject({ source: 'module.backbone.swinViT.patch_embed.proj.weight', target: 'backbone.swinViT.patch_embed.proj.weight', convert: null });
    expect(report.buffers).toEqual([expect.objectContaining({ target: 'backbone.swinViT.layers1.0.blocks.0.attn.relative_position_index', status: 'matches' })]);
    expect(report.freshHeads).toEqual(['teacher']);
    const learnable = Object.keys(swinJson.weights).filter((k) => !k.endsWith('relative_position_index'));
    expect(report.missing).toHaveLength(learnable.length - 21);
    expect(report.missing.filter((m) => m.fill === 'fresh').every((m) => m.target.startsWith('teacher.'))).toBe(true);
    expect(report.usable).toBe(false);
    expect(report.refusals[0]).toMatch(/^\d+ weights of the model are missing, e\.g\. 'backbone\.swinViT\.layers1\.0\.blocks\.1\./);
  });

  it('the float16 safetensors: usable, every learnable weight mapped and converted to float32, values exact', async () => {
    const { report, opened } = await inspectCheckpoint(bytesSource(fixture('swin-fs12.safetensors'), 'swin-fs12.safetensors'));
    expect(report.usable).toBe(true);
    expect(report.refusals).toEqual([]);
    expect(report.kind).toBe('VoCoHead (encoder + student and teacher heads)');
    expect(report.mapped).toHaveLength(Object.keys(swinJson.weights).length - 8);
    expect(report.mapped.every((m) => m.convert === 'float16 → float32' && m.source === m.target)).toBe(true);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.globalStep).toBeNull();
    const weights = await readMappedWeights(opened, report);
    expect(weights.map((w) => w.name)).toEqual(vocoHeadLayout(12, 128).filter((e) => e.dtype === 'float32').map((e) => e.key));
    const f = await openSafetensors(bytesSource(fixture('swin-fs12.safetensors')));
    const e = f.entries.find((x) => x.name === 'backbone.encoder10.layer.conv2.conv.weight')!;
    const got = weights.find((w) => w.name === e.name)!.data;
    const want = toFloat32(await f.read(e), 'float16');
    expect(got.length).toBe(want.length);
    expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
  });
});

describe('variants of the authors checkpoints', () => {
  it('DDP + a released SSL_head checkpoint: unwrapped, every key mapped, usable', async () => {
    const ts = await fixtureTensors();
    const { report } = await inspectCheckpoint(pt(rename(ts, (k) => `module.${k}`), 'ddp.pt'));
    expect(report.usable).toBe(true);
    expect(report.globalStep).toBe(42);
    expect(report.keyRules).toEqual([`removed DDP prefix 'module.' (${ts.length} of ${ts.length} keys)`]);
    expect(report.buffers.map((b) => b.status)).toEqual(Array(8).fill('matches'));
    expect(report.mapped.every((m) => m.convert === null)).toBe(true);
    // A bare state_dict (no wrapper) and torch.compile's prefix are read the same way.
    const bare = await inspectCheckpoint(pt(rename(ts, (k) => `_orig_mod.${k}`), 'bare.pt', false));
    expect(bare.report.container).toBe('');
    expect(bare.report.usable).toBe(true);
    expect(bare.report.globalStep).toBeNull();
  });

  it('backbone only, with swin_vit naming: heads initialised fresh', async () => {
    const ts = rename(await fixtureTensors(), (k) => (k.startsWith('backbone.') ? k.replace('swinViT', 'swin_vit') : null));
    const { report } = await inspectCheckpoint(pt(ts, 'backbone.pt'));
    expect(report.usable).toBe(true);
    expect(report.kind).toBe('encoder only (backbone)');
    expect(report.freshHeads).toEqual(['student', 'teacher']);
    expect(report.headWidth).toBe(1024); // the authors' width for fresh heads
    expect(report.missing.every((m) => m.fill === 'fresh')).toBe(true);
    expect(report.keyRules).toContain(`renamed 'swin_vit' to 'swinViT' (${ts.filter((t) => t.name.includes('swin_vit')).length} of ${ts.length} keys)`);
  });

  it('a MONAI SwinUNETR fine-tuning checkpoint (swinViT.*, encoder*, decoder*, out.*): decoder ignored, heads fresh', async () => {
    const ts = rename(await fixtureTensors(), (k) => (k.startsWith('backbone.') ? k.slice(9) : null));
    ts.push({ name: 'decoder1.transp_conv.conv.weight', dtype: 'float32', shape: [12, 12, 2, 2, 2], bytes: new Uint8Array(12 * 12 * 8 * 4) });
    ts.push({ name: 'out.conv.conv.weight', dtype: 'float32', shape: [14, 12, 1, 1, 1], bytes: new Uint8Array(14 * 12 * 4) });
    const { report } = await inspectCheckpoint(pt(ts, 'swinunetr.pt'));
    expect(report.usable).toBe(true);
    expect(report.kind).toBe('SwinUNETR (encoder + decoder)');
    expect(report.unexpected.map((u) => u.source)).toEqual(['decoder1.transp_conv.conv.weight', 'out.conv.conv.weight']);
    expect(report.unexpected[0].reason).toMatch(/decoder/);
    expect(report.keyRules[0]).toMatch(/added 'backbone\.'/);
  });

  it('VoComni (VoCoHead with a decoder in the backbone)', async () => {
    const ts = await fixtureTensors();
    ts.push({ name: 'backbone.decoder5.conv_block.conv1.conv.weight', dtype: 'float32', shape: [2, 2], bytes: new Uint8Array(16) });
    const { report } = await inspectCheckpoint(pt(ts, 'vocomni.pt'));
    expect(report.usable).toBe(true);
    expect(report.kind).toBe('SwinUNETR (encoder + decoder + heads, as VoComni)');
  });

  it('refuses missing encoder weights, wrong shapes, wrong index buffers, duplicates and other models, with reasons, and lists them', async () => {
    const ts = await fixtureTensors();
    const missing = await inspectCheckpoint(pt(rename(ts, (k) => (k.includes('encoder10') ? null : k)), 'missing.pt'));
    expect(missing.report.usable).toBe(false);
    expect(missing.report.missing.filter((m) => m.fill === 'required').map((m) => m.target)).toEqual([
      'backbone.encoder10.layer.conv1.conv.weight',
      'backbone.encoder10.layer.conv2.conv.weight',
    ]);

    const wrong = ts.map((t) => (t.name === 'backbone.encoder2.layer.conv1.conv.weight' ? { ...t, shape: [12, 12, 27], bytes: t.bytes } : t));
    wrong.push({ name: 'extra.thing', dtype: 'float32', shape: [1], bytes: new Uint8Array(4) });
    const ws = await inspectCheckpoint(pt(wrong, 'wrong.pt'));
    expect(ws.report.usable).toBe(false);
    expect(ws.report.wrongShape).toEqual([expect.objectContaining({ target: 'backbone.encoder2.layer.conv1.conv.weight', shape: [12, 12, 27], expected: [12, 12, 3, 3, 3] })]);
    expect(ws.report.unexpected).toEqual([expect.objectContaining({ source: 'extra.thing', reason: expect.stringMatching(/not a key/) })]);
    expect(ws.report.refusals.join(' ')).toMatch(/1 weights have the wrong shape or type, e\.g\. 'backbone\.encoder2/);

    const idx = Array.from(relativePositionIndex());
    idx[5] = 0;
    const badIdx = ts.map((t) => (t.name.endsWith('layers3.0.blocks.1.attn.relative_position_index') ? { ...t, bytes: int64Bytes(idx) } : t));
    const bi = await inspectCheckpoint(pt(badIdx, 'badidx.pt'));
    expect(bi.report.usable).toBe(false);
    expect(bi.report.buffers.filter((b) => b.status === 'differs').map((b) => b.target)).toEqual(['backbone.swinViT.layers3.0.blocks.1.attn.relative_position_index']);
    await expect(readMappedWeights(bi.opened, bi.report)).rejects.toThrow(/badidx\.pt cannot be used: .*relative_position_index/);

    const dup = [...ts, { ...ts[0], name: `module.${ts[0].name}` }];
    expect((await inspectCheckpoint(pt(dup, 'dup.pt'))).report.refusals[0]).toMatch(/both stand for 'backbone\.swinViT\.patch_embed\.proj\.weight'/);

    const fs50 = ts.map((t) => (t.name.endsWith('patch_embed.proj.weight') ? { ...t, shape: [50, 1, 2, 2, 2], bytes: new Uint8Array(50 * 8 * 4) } : t));
    expect((await inspectCheckpoint(pt(fs50, 'fs50.pt'))).report.refusals).toEqual(['feature size 50 is not divisible by 12 (SwinUNETR requires it)']);

    const mri = ts.map((t) => (t.name.endsWith('patch_embed.proj.weight') ? { ...t, shape: [12, 4, 2, 2, 2], bytes: new Uint8Array(12 * 4 * 8 * 4) } : t));
    expect((await inspectCheckpoint(pt(mri, 'mri.pt'))).report.refusals[0]).toMatch(/4 input channels/);
  });

  it('says what other files are: the studio ViT layout, an unrelated model, no tensors', () => {
    const listing = (keys: string[]): CheckpointListing => ({
      file: 'x.safetensors',
      format: 'safetensors',
      bytes: 1,
      groups: [{ path: '', tensors: keys.map((key) => ({ key, dtype: 'float32' as const, shape: [2] })) }],
      scalars: {},
      otherTopLevel: [],
    });
    expect(planImport(listing(['encoder.patch.weight', 'encoder.blocks.0.attn.qkv.weight', 'student.0.weight'])).refusals[0]).toMatch(/studio's ViT weights.*\.voco/);
    expect(planImport(listing(['conv1.weight', 'fc.bias'])).refusals[0]).toMatch(/not a VoCo or SwinUNETR checkpoint/);
    expect(planImport({ ...listing([]), groups: [] }).refusals).toEqual(['the file holds no tensors']);
  });

  it('prefers the containers the authors load() looks for and lists the others as ignored', async () => {
    const ts = await fixtureTensors();
    const listing: CheckpointListing = {
      file: 'multi.pt',
      format: 'torch-zip',
      bytes: 1,
      groups: [
        { path: 'ema', tensors: ts.map((t) => ({ key: t.name, dtype: t.dtype, shape: t.shape })) },
        { path: 'state_dict', tensors: ts.map((t) => ({ key: `module.${t.name}`, dtype: t.dtype, shape: t.shape })) },
      ],
      scalars: { global_step: 9, epoch: 2 },
      otherTopLevel: ['optimizer'],
    };
    const r = planImport(listing);
    expect(r.container).toBe('state_dict');
    expect(r.ignoredContainers).toEqual([`ema (${ts.length} tensors)`, 'optimizer']);
    expect(r.globalStep).toBe(9);
    expect(r.epoch).toBe(2);
  });
});

describe('an imported checkpoint as a saved run', () => {
  it('backbone-only: mapped weights + seeded fresh heads (torch nn.Linear init), step = global_step, no volumes', async () => {
    const { importedRun } = await import('../src/persist/importedRun');
    const { freshHeadWeights } = await import('../src/model/checkpoints/freshHeads');
    const { DEFAULT_RUN_CONFIG } = await import('../src/store/runConfig');
    const ts = rename(await fixtureTensors(), (k) => (k.startsWith('backbone.') ? `module.${k}` : null));
    const { report, opened } = await inspectCheckpoint(pt(ts, 'backbone.pt'));
    expect(report.freshHeads).toEqual(['student', 'teacher']);
    const weights = await readMappedWeights(opened, report);
    const layout = vocoHeadLayout(12, 1024).filter((e) => e.dtype === 'float32');
    const run = importedRun(report, weights, {
      preset: 'swin-test',
      base: { ...DEFAULT_RUN_CONFIG, volumeIds: ['v1'], seed: 5 },
      cropSize: 64,
      toModel: (w) => w,
      modelKeys: layout.map((e) => e.key),
      now: 1000,
    });
    expect(run.meta).toMatchObject({ step: 42, origin: 'imported', volumes: [], name: 'swin-test · backbone.pt (imported · student+teacher head fresh)' });
    expect(run.state.config).toMatchObject({ preset: 'swin-test', cropSize: 64, volumeIds: [], seed: 5 });
    expect(run.state.step).toBe(42);
    expect(run.state.weights.map((w) => [w.name, w.shape])).toEqual(layout.map((e) => [e.key, e.shape]));
    const head = run.state.weights.find((w) => w.name === 'student.layer1.0.weight')!;
    const bound = 1 / Math.sqrt(288);
    const maxAbs = head.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(maxAbs).toBeLessThanOrEqual(bound);
    expect(maxAbs).toBeGreaterThan(0.99 * bound);
    // Seeded: the same seed gives the same heads, another seed others; student and teacher differ.
    const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    expect(same(freshHeadWeights(12, 1024, 5, ['student'])[0].data, head.data)).toBe(true);
    expect(same(freshHeadWeights(12, 1024, 6, ['student'])[0].data, head.data)).toBe(false);
    expect(same(run.state.weights.find((w) => w.name === 'teacher.layer1.0.weight')!.data, head.data)).toBe(false);
    expect(() => importedRun(report, weights, { preset: 'x', base: DEFAULT_RUN_CONFIG, cropSize: 64, toModel: (w) => w, modelKeys: [...layout.map((e) => e.key), 'more'] })).toThrow(/also needs more/);
  });
});

describe('memory estimate for continuing pre-training of an imported model', () => {
  it('VoCo-B fits a wasm heap; VoCo-L only a GPU; VoCo-H nowhere (its largest conv exceeds a 2 GiB binding, its state 8 GiB)', async () => {
    const { trainingMemoryCheck } = await import('../src/persist/importedRun');
    const keys = (fs: number) => vocoHeadLayout(fs).filter((e) => e.dtype === 'float32').map((e) => ({ name: e.key, shape: e.shape }));
    const gpu = { maxStorageBufferBindingSize: 2 ** 31 - 4 };
    const b = trainingMemoryCheck(keys(48), 'wasm', null);
    expect(b.refusal).toBeNull();
    expect(b.stateBytes / 2 ** 30).toBeGreaterThan(1);
    expect(b.stateBytes / 2 ** 30).toBeLessThan(1.3);
    expect(trainingMemoryCheck(keys(96), 'wasm', null).refusal).toMatch(/about 4\.\d\d GiB .* at most 2\.00 GiB/);
    expect(trainingMemoryCheck(keys(96), 'webgpu', gpu).refusal).toBeNull();
    expect(trainingMemoryCheck(keys(96), 'webgpu', { maxStorageBufferBindingSize: 128 * 2 ** 20 }).refusal).toMatch(/backbone\.encoder10\.layer\.conv1\.conv\.weight alone is 0\.24 GiB/);
    expect(trainingMemoryCheck(keys(192), 'webgpu', gpu).refusal).toMatch(/about 1\d\.\d\d GiB .* more than the 8\.00 GiB assumed/);
  });
});
