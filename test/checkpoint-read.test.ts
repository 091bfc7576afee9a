// Reading PyTorch (.pt zip + pickle) and safetensors checkpoints: real files written by torch (the VoCo
// fixture checkpoint and small ones made by test/fixtures/checkpoints/make_fixtures.py), refusals with
// reasons, and reads that stay within one tensor's bytes (large files are never read whole).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesSource, type ByteSource } from '../src/model/checkpoints/byteSource';
import { toFloat32, toIntegers } from '../src/model/checkpoints/dtypes';
import { openCheckpoint } from '../src/model/checkpoints/open';
import { PyDict, PyTuple, unpickle } from '../src/model/checkpoints/pickle';
import { openSafetensors } from '../src/model/checkpoints/safetensors';
import { openTorchCheckpoint, TensorRef } from '../src/model/checkpoints/torchFile';
import { concatBytes, readZipDirectory, writeZip } from '../src/model/checkpoints/zip';
import { relativePositionIndex } from '../src/model/checkpoints/layout';
import { VOCO_SWIN_FIXTURE } from './helpers/paths';

const FIX = resolve(import.meta.dirname, 'fixtures/checkpoints');
const file = (p: string) => new Uint8Array(readFileSync(p));
const src = (p: string, name = p.split('/').pop()!) => bytesSource(file(p), name);
const subsetPt = () => src(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12-subset.pt'));
const swinJson = () => JSON.parse(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8')) as { weights: Record<string, number[]> };

/** A source that records every read, to check that nothing reads the whole file. */
function counting(s: ByteSource) {
  const reads: number[] = [];
  return {
    reads,
    source: { name: s.name, size: s.size, read: (o: number, n: number) => (reads.push(n), s.read(o, n)) } as ByteSource,
  };
}

describe('pickle interpreter', () => {
  const g = { 'collections.OrderedDict': { qualname: 'collections.OrderedDict', call: () => new PyDict('collections.OrderedDict') } };
  it('reads protocol-2 values: dict, list, tuples, ints of every width, floats, strings, None/True/False, memo', () => {
    // {'a': [1, 300, 70000, -5, 2**40, -(2**70)], 'b': (1.5, 'x', None, True, False), 'c': <memo of 'b'>}
    const b = [0x80, 2, 0x7d, 0x71, 0, 0x28];
    const str = (s: string) => [0x58, s.length, 0, 0, 0, ...[...s].map((c) => c.charCodeAt(0))];
    b.push(...str('a'), 0x5d, 0x28, 0x4b, 1, 0x4d, 0x2c, 0x01, 0x4a, 0x70, 0x11, 0x01, 0x00, 0x4a, 0xfb, 0xff, 0xff, 0xff);
    b.push(0x8a, 6, 0, 0, 0, 0, 0, 1); // LONG1 2**40
    b.push(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0); // -(2**70)
    b.push(0x65); // APPENDS
    b.push(...str('b'), 0x28, 0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, ...str('x'), 0x4e, 0x88, 0x89, 0x74, 0x71, 1);
    b.push(...str('c'), 0x68, 1, 0x75, 0x2e);
    const v = unpickle(Uint8Array.from(b), { globals: g }) as PyDict;
    expect(v.get('a')).toEqual([1, 300, 70000, -5, 2 ** 40, -(2n ** 70n)]);
    const t = v.get('b') as PyTuple;
    expect(t.items).toEqual([1.5, 'x', null, true, false]);
    expect(v.get('c')).toBe(t);
  });
  it('refuses globals it does not know, by name, and never calls anything', () => {
    const bytes = Uint8Array.from([0x80, 2, 0x63, ...new TextEncoder().encode('os\nsystem\n'), 0x58, 2, 0, 0, 0, 0x6c, 0x73, 0x85, 0x52, 0x2e]);
    expect(() => unpickle(bytes, { globals: g, source: 'evil.pt' })).toThrow(/evil\.pt: refuses to load 'os\.system'/);
  });
  it('rejects truncated pickles and unknown opcodes', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 10, 0, 0, 0, 0x61]), { globals: g })).toThrow(/truncated/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0xff]), { globals: g })).toThrow(/unknown opcode 0xff/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x4e]), { globals: g })).toThrow(/truncated/);
  });
});

describe('torch zip checkpoints written by torch 1.13', () => {
  it('the VoCo fixture (DDP layout): global_step, 22 module.* tensors with the shapes of swin-fs12.json, float32 and int64', async () => {
    const ck = await openTorchCheckpoint(subsetPt());
    expect(ck.archive).toBe('swin-fs12-subset');
    expect(ck.version).toBe('3');
    const root = ck.root as PyDict;
    expect(root.get('global_step')).toBe(7);
    const sd = root.get('state_dict') as PyDict;
    const keys = sd.keys() as string[];
    expect(keys).toHaveLength(22);
    const shapes = swinJson().weights;
    for (const k of keys) {
      expect(k.startsWith('module.')).toBe(true);
      const t = sd.get(k) as TensorRef;
      expect(t.shape).toEqual(shapes[k.slice(7)]);
      expect(t.dtype).toBe(k.endsWith('relative_position_index') ? 'int64' : 'float32');
    }
    // The int64 buffer is MONAI's 7³-window index, and float values come back exactly (checked against the
    // float16 fixture, whose values these are).
    const idx = sd.get('module.backbone.swinViT.layers1.0.blocks.0.attn.relative_position_index') as TensorRef;
    expect(toIntegers(await ck.readTensor(idx), 'int64')).toEqual(Array.from(relativePositionIndex()));
    const st = await openSafetensors(src(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors')));
    for (const name of ['backbone.swinViT.patch_embed.proj.weight', 'student.layer1.0.weight', 'backbone.swinViT.layers1.0.blocks.0.attn.qkv.bias']) {
      const e = st.entries.find((x) => x.name === name)!;
      const fromPt = toFloat32(await ck.readTensor(sd.get(`module.${name}`) as TensorRef), 'float32');
      expect(Array.from(fromPt)).toEqual(Array.from(toFloat32(await st.read(e), e.dtype)));
    }
  });

  it('a real state_dict with plain values, float16/bfloat16/float64/int32/bool, views, a 0-dim tensor and a Parameter', async () => {
    const expected = JSON.parse(readFileSync(resolve(FIX, 'expected.json'), 'utf8'))['torch-variety.pt'];
    const ck = await openTorchCheckpoint(src(resolve(FIX, 'torch-variety.pt')));
    const root = ck.root as PyDict;
    for (const [k, v] of Object.entries(expected.scalars)) expect(root.get(k)).toEqual(v);
    expect(root.get('nothing')).toBeNull();
    expect(root.get('items')).toEqual([1, 2, 'three']);
    expect((root.get('pair') as PyTuple).items).toEqual([1, 'a']);
    const sd = root.get('state_dict') as PyDict;
    expect(sd.className).toBe('collections.OrderedDict');
    expect(sd.state).toBeInstanceOf(PyDict); // {'_metadata': …} from BUILD
    for (const group of ['state_dict', 'extra'] as const) {
      const d = root.get(group) as PyDict;
      expect(d.keys()).toEqual(Object.keys(expected[group]));
      for (const [k, e] of Object.entries(expected[group]) as [string, { dtype: string; shape: number[]; values: number[] }][]) {
        const t = d.get(k) as TensorRef;
        expect(t.dtype, k).toBe(e.dtype);
        expect(t.shape, k).toEqual(e.shape);
        const got = Array.from(toFloat32(await ck.readTensor(t), t.dtype));
        // float64 → float32 rounds; everything else is exact.
        if (e.dtype === 'float64') e.values.forEach((x, i) => expect(got[i]).toBeCloseTo(x, 6));
        else expect(got, k).toEqual(e.values.map((x) => Math.fround(x)));
      }
    }
  });

  it('refuses the legacy format, unknown globals, TorchScript, a truncated zip and files that are not checkpoints, by file name', async () => {
    await expect(openCheckpoint(src(resolve(FIX, 'legacy.pt')))).rejects.toThrow(/legacy\.pt: is in the legacy PyTorch format .*torch\.save\(torch\.load/);
    await expect(openCheckpoint(src(resolve(FIX, 'unknown-global.pt')))).rejects.toThrow(/unknown-global\.pt: .*refuses to load 'argparse\.Namespace'/);
    await expect(openCheckpoint(src(resolve(FIX, 'torchscript.pt')))).rejects.toThrow(/torchscript\.pt: is a TorchScript model/);
    const whole = file(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12-subset.pt'));
    await expect(openCheckpoint(bytesSource(whole.subarray(0, whole.length - 100), 'cut.pt'))).rejects.toThrow(/cut\.pt: .*(truncated|not a zip)/);
    await expect(openCheckpoint(bytesSource(whole.subarray(0, 600_000), 'half.pt'))).rejects.toThrow(/half\.pt: .*(truncated|not a zip)/);
    await expect(openCheckpoint(bytesSource(new TextEncoder().encode('hello, this is text'), 'notes.pt'))).rejects.toThrow(/notes\.pt: is not a PyTorch checkpoint/);
    await expect(openCheckpoint(bytesSource(new Uint8Array(0), 'empty.pt'))).rejects.toThrow(/empty\.pt: the file is empty/);
    const zipNoPkl = concatBytes(writeZip([{ name: 'x/readme.txt', data: [new TextEncoder().encode('hi')] }]));
    await expect(openCheckpoint(bytesSource(zipNoPkl, 'other.pt'))).rejects.toThrow(/other\.pt: is a zip archive but not a PyTorch checkpoint/);
    // A damaged storage (CRC is not checked for storages, but a missing one is named).
    const bad = whole.slice();
    const at = new TextDecoder('latin1').decode(bad).lastIndexOf('swin-fs12-subset/data/0');
    bad[at + 'swin-fs12-subset/data/'.length] = 'Q'.charCodeAt(0); // rename data/0 in the central directory
    await expect(openCheckpoint(bytesSource(bad, 'renamed.pt'))).rejects.toThrow(/renamed\.pt: .*storage data\/0 is missing/);
  });

  it('reads tensor by tensor: no read is larger than the biggest tensor, never the whole file', async () => {
    const c = counting(subsetPt());
    const opened = await openCheckpoint(c.source);
    const group = opened.listing.groups.find((g) => g.path === 'state_dict')!;
    for (const t of group.tensors) await opened.readRaw('state_dict', t.key);
    const biggest = Math.max(...group.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'int64' ? 8 : 4)));
    expect(Math.max(...c.reads)).toBeLessThanOrEqual(Math.max(biggest, 22 + 65535 + 20));
    expect(Math.max(...c.reads)).toBeLessThan(c.source.size);
  });
});

describe('zip directory', () => {
  it('reads zip64 archives and entries aligned to 64 bytes', async () => {
    const enc = new TextEncoder();
    const bytes = concatBytes(writeZip([{ name: 'a/data.pkl', data: [enc.encode('xyz')] }, { name: 'a/data/0', data: [new Uint8Array(100).fill(7)] }], { forceZip64: true }));
    const s = bytesSource(bytes, 'z64.zip');
    const entries = await readZipDirectory(s);
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ['a/data.pkl', 3],
      ['a/data/0', 100],
    ]);
    const { entryDataOffset } = await import('../src/model/checkpoints/zip');
    for (const e of entries) expect((await entryDataOffset(s, e)) % 64).toBe(0);
  });
});

describe('safetensors from a Blob, lazily', () => {
  it('reads the float16 fixture header only, then one tensor per read', async () => {
    const c = counting(src(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors')));
    const f = await openSafetensors(c.source);
    const shapes = swinJson().weights;
    const learnable = Object.keys(shapes).filter((k) => !k.endsWith('relative_position_index'));
    expect(f.entries.map((e) => e.name).sort()).toEqual(learnable.sort());
    expect(f.entries.every((e) => e.dtype === 'float16')).toBe(true);
    for (const e of f.entries) expect(e.shape).toEqual(shapes[e.name]);
    const headerReads = c.reads.length;
    expect(Math.max(...c.reads)).toBeLessThan(20_000);
    const e = f.entries[0];
    const raw = await f.read(e);
    expect(raw.length).toBe(e.end - e.begin);
    expect(c.reads.length).toBe(headerReads + 1);
  });
  it('works on a real Blob', async () => {
    const { blobSource } = await import('../src/model/checkpoints/byteSource');
    const bytes = file(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'));
    const f = await openSafetensors(blobSource(new Blob([bytes]), 'blob.safetensors'));
    const e = f.entries.find((x) => x.name === 'backbone.swinViT.patch_embed.proj.bias')!;
    expect(toFloat32(await f.read(e), 'float16')).toHaveLength(12);
    await expect(openSafetensors(blobSource(new Blob([bytes.subarray(0, 1000)]), 'cut.safetensors'))).rejects.toThrow(/cut\.safetensors: header length/);
  });
});

describe('safetensors from a Node Buffer', () => {
  it('decodes the same values as from a plain Uint8Array (Buffer.slice shares its pool)', async () => {
    const { fromSafetensors, toSafetensors } = await import('../src/model/weights');
    const bytes = toSafetensors([{ name: 'w', shape: [3], data: new Float32Array([1.5, -2, 3.25]) }]);
    const pooled = Buffer.from(bytes); // small Buffers live in Node's shared pool at an offset
    const a = fromSafetensors(new Uint8Array(bytes)).tensors[0].data;
    const b = fromSafetensors(pooled).tensors[0].data;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(a)).toEqual([1.5, -2, 3.25]);
  });
});
