// Ingest pipeline under Node (everything but DICOM, whose dcm2niix build needs a browser worker):
// format detection, NIfTI reading with its early checks, NVImage → Volume, label pairing, the NIfTI writer.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { detectFormat } from '../src/ingest/detect';
import { gridMapping, isNamedLabelMap, labelOverlap, labelsOnScanGrid, mergeLabels } from '../src/ingest/labels';
import { loadUnit } from '../src/ingest/loadUnit';
import { niftiBytes } from '../src/ingest/niftiWrite';
import { planRoots } from '../src/ingest/plan';
import { ctCheck, intensityStats, orientationCode } from '../src/ingest/volumeFacts';
import type { IngestRoot } from '../src/ingest/types';
import { DATA } from './helpers/paths';

const fileOf = (path: string, name = path.split('/').pop()!) => new File([readFileSync(path)], name);
const abdomen = () => fileOf(`${DATA}/ct-abdomen-totalseg/example_ct.nii.gz`);

function niftiFile(name: string, dims: [number, number, number], data: Int16Array | Uint8Array | Float32Array, gzip = false, extraDim?: number) {
  const buf = new Uint8Array(niftiBytes({ dims, spacing: [2, 2, 2], affine: [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], data }));
  if (extraDim) {
    const dv = new DataView(buf.buffer);
    dv.setInt16(40, 4, true);
    dv.setInt16(48, extraDim, true);
  }
  return new File([gzip ? gzipSync(buf) : buf], name);
}

async function loadOne(root: IngestRoot) {
  const plan = await planRoots([root]);
  expect(plan.units).toHaveLength(1);
  return loadUnit(plan.units[0], () => {});
}

describe('format detection', () => {
  it('recognises formats by name and by magic bytes', () => {
    const dicomHead = new Uint8Array(200);
    dicomHead.set([0x44, 0x49, 0x43, 0x4d], 128);
    expect(detectFormat('CT.1.3.12.2.1107.5.1.4.60064.300', dicomHead)).toEqual({ kind: 'image', format: 'dicom', gzip: false });
    expect(detectFormat('scan.nii.gz', new Uint8Array([0x1f, 0x8b]))).toMatchObject({ format: 'nifti', gzip: true });
    expect(detectFormat('mask.nrrd', new Uint8Array(4))).toMatchObject({ format: 'nrrd' });
    expect(detectFormat('LICENSE', new TextEncoder().encode('Apache License'))).toEqual({ kind: 'document' });
    expect(detectFormat('notes.bin', new TextEncoder().encode('hello'))).toMatchObject({ kind: 'unknown' });
    expect(detectFormat('archive.gz', new Uint8Array([0x1f, 0x8b]))).toMatchObject({ kind: 'unknown' });
  });
});

describe('NIfTI loading', () => {
  it('loads the abdomen CT: dims, spacing, RAS, HU', async () => {
    const { results } = await loadOne({ kind: 'file', label: 'example_ct.nii.gz', files: [{ path: 'example_ct.nii.gz', file: abdomen() }] });
    const { volume, facts } = results[0];
    expect(volume.dims).toEqual([122, 101, 112]);
    expect(volume.spacing).toEqual([3, 3, 3]);
    expect(facts.orientation).toBe('RAS');
    expect(volume.data).toBeInstanceOf(Int16Array); // int32 on disk, HU fit in int16
    expect([facts.min, facts.max]).toEqual([-1207, 3382]);
    expect(facts.ct.huLike).toBe(true);
    expect(volume.affine[0][3]).toBeCloseTo(-177.956, 2);
  });

  it('loads the chest CT as LPS with its anisotropic spacing', async () => {
    const f = fileOf(`${DATA}/ct-chest-elastix/chest_ct_derived_4x.nii.gz`);
    const { results } = await loadOne({ kind: 'file', label: f.name, files: [{ path: f.name, file: f }] });
    expect(results[0].volume.dims).toEqual([128, 128, 141]);
    expect(results[0].volume.spacing.map((s) => +s.toFixed(3))).toEqual([3.906, 3.906, 2]);
    expect(results[0].facts.orientation).toBe('LPS');
  });

  it('names a truncated .nii.gz as truncated', async () => {
    const full = readFileSync(`${DATA}/ct-abdomen-totalseg/example_ct.nii.gz`);
    const cut = new File([full.subarray(0, full.length >> 1)], 'cut.nii.gz');
    await expect(loadOne({ kind: 'file', label: 'cut.nii.gz', files: [{ path: 'cut.nii.gz', file: cut }] })).rejects.toThrow(/truncated|cut short/);
  });

  it('names an uncompressed NIfTI with missing voxels as truncated', async () => {
    const f = niftiFile('short.nii', [10, 10, 10], new Int16Array(1000));
    const short = new File([await f.slice(0, 352 + 500).arrayBuffer()], 'short.nii');
    await expect(loadOne({ kind: 'file', label: 'short.nii', files: [{ path: 'short.nii', file: short }] })).rejects.toThrow(/ends early/);
  });

  it('refuses 2-D images and keeps the first frame of 4-D series with a warning', async () => {
    const flat = niftiFile('slice.nii', [16, 16, 1], new Int16Array(256).fill(-1000));
    await expect(loadOne({ kind: 'file', label: 'slice.nii', files: [{ path: 'slice.nii', file: flat }] })).rejects.toThrow(/2-D image/);
    // Two frames: frame 0 = -1000, frame 1 = 500.
    const data = new Int16Array(2 * 512);
    data.fill(-1000, 0, 512);
    data.fill(500, 512);
    data[3] = 400;
    const fourD = niftiFile('perfusion.nii', [8, 8, 8], data.subarray(0, 512), false);
    const bytes = new Uint8Array(await fourD.arrayBuffer());
    const full = new Uint8Array(352 + data.byteLength);
    full.set(bytes.subarray(0, 352));
    full.set(new Uint8Array(data.buffer), 352);
    const dv = new DataView(full.buffer);
    dv.setInt16(40, 4, true);
    dv.setInt16(48, 2, true);
    const { results } = await loadOne({ kind: 'file', label: 'perfusion.nii', files: [{ path: 'perfusion.nii', file: new File([full], 'perfusion.nii') }] });
    expect(results[0].volume.data.length).toBe(512);
    expect(results[0].facts.max).toBe(400);
    expect(results[0].facts.warnings.join(' ')).toMatch(/4-D series with 2 frames/);
  });

  it('refuses a volume too large for the browser from its header alone', async () => {
    const hdr = new Uint8Array(niftiBytes({ dims: [4, 4, 4], spacing: [1, 1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data: new Int16Array(64) }));
    const dv = new DataView(hdr.buffer);
    [2048, 2048, 200].forEach((d, i) => dv.setInt16(42 + 2 * i, d, true));
    const f = new File([gzipSync(hdr)], 'huge.nii.gz');
    await expect(loadOne({ kind: 'file', label: 'huge.nii.gz', files: [{ path: 'huge.nii.gz', file: f }] })).rejects.toThrow(/too large for the browser: 2048×2048×200/);
  });

  it('loads an 8-bit volume with a non-HU warning', async () => {
    const data = new Uint8Array(4096);
    for (let i = 0; i < data.length; i++) data[i] = i % 256;
    const { results } = await loadOne({ kind: 'file', label: 'photo.nii', files: [{ path: 'photo.nii', file: niftiFile('photo.nii', [16, 16, 16], data) }] });
    expect(results[0].facts.ct.huLike).toBe(false);
    expect(results[0].facts.warnings.join(' ')).toMatch(/8-bit/);
  });
});

describe('DICOM headers', () => {
  it('reads the real series (uncompressed and JPEG 2000) as whole image slices of one series each', async () => {
    const { readdirSync } = await import('node:fs');
    const { inspectDicom, seriesGeometry } = await import('../src/ingest/dicomHeader');
    for (const [dir, n, ts] of [
      ['dicom-ct3slice-dcmqi/series', 3, '1.2.840.10008.1.2'], // implicit VR little endian
      ['dicom-abdomen-j2k-totalseg/series', 20, '1.2.840.10008.1.2.4.90'],
    ] as const) {
      const files = readdirSync(`${DATA}/${dir}`);
      expect(files).toHaveLength(n);
      const slices = [];
      for (const f of files) {
        const r = await inspectDicom(new Blob([readFileSync(`${DATA}/${dir}/${f}`)]));
        expect(r.ok, `${dir}/${f}: ${r.ok ? '' : r.reason}`).toBe(true);
        if (r.ok) slices.push(r.slice);
      }
      expect(new Set(slices.map((s) => s.seriesUid)).size).toBe(1); // (the JPEG 2000 set is anonymised: its UIDs are empty)
      expect(slices[0].modality).toBe('CT');
      expect(slices[0].transferSyntax).toBe(ts);
      expect([slices[0].rows, slices[0].columns]).toEqual([512, 512]);
      const geo = seriesGeometry(slices)!;
      expect(geo.tilt).toBe(0);
      expect(Math.max(...geo.gaps) - Math.min(...geo.gaps)).toBeLessThan(0.01);
    }
    // A JPEG 2000 slice cut inside its compressed frame is caught too.
    const j2k = readdirSync(`${DATA}/dicom-abdomen-j2k-totalseg/series`)[0];
    const whole = readFileSync(`${DATA}/dicom-abdomen-j2k-totalseg/series/${j2k}`);
    const cut = await inspectDicom(new Blob([whole.subarray(0, whole.length - 5000)]));
    expect(cut.ok).toBe(false);
    expect(!cut.ok && cut.reason).toMatch(/cut short inside its compressed pixel data/);
  });
});

describe('planning what was dropped', () => {
  it('reports an empty folder, a text file and skips documents inside folders', async () => {
    const plan = await planRoots([
      { kind: 'folder', label: 'empty', files: [] },
      { kind: 'file', label: 'notes.txt', files: [{ path: 'notes.txt', file: new File(['hello'], 'notes.txt') }] },
      {
        kind: 'folder',
        label: 'ct',
        files: [
          { path: 'ct/LICENSE', file: new File(['Apache'], 'LICENSE') },
          { path: 'ct/example_ct.nii.gz', file: abdomen() },
        ],
      },
    ]);
    expect(plan.problems.map((p) => p.message).join('\n')).toMatch(/folder "empty" is empty/);
    expect(plan.problems.find((p) => p.name === 'notes.txt')?.message).toMatch(/not an image file/);
    expect(plan.leftOut).toEqual([{ path: 'ct/LICENSE', reason: 'a document, not an image (left out on purpose)' }]);
    expect(plan.units.map((u) => u.name)).toEqual(['example_ct.nii.gz']);
  });
});

describe('label maps', () => {
  it('pairs the TotalSegmentator map with its scan, not with the 30-slice one', async () => {
    const seg = fileOf(`${DATA}/ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz`);
    const sm = fileOf(`${DATA}/ct-abdomen-totalseg/example_ct_sm.nii.gz`);
    const [{ results: s }, { results: ct }, { results: small }] = await Promise.all([
      loadOne({ kind: 'file', label: seg.name, files: [{ path: seg.name, file: seg }] }),
      loadOne({ kind: 'file', label: 'example_ct.nii.gz', files: [{ path: 'example_ct.nii.gz', file: abdomen() }] }),
      loadOne({ kind: 'file', label: sm.name, files: [{ path: sm.name, file: sm }] }),
    ]);
    expect(isNamedLabelMap(seg.name, s[0].facts)).toBe(true);
    expect(isNamedLabelMap('example_ct.nii.gz', ct[0].facts)).toBe(false);
    const g = gridMapping(s[0].volume, ct[0].volume);
    expect(g).toEqual({ perm: [0, 1, 2], flip: [false, false, false] });
    expect(gridMapping(s[0].volume, small[0].volume)).toBeNull();
    const labels = labelsOnScanGrid(s[0].volume.data, s[0].volume.dims, ct[0].volume.dims, g!);
    expect(Array.from(labels)).toEqual(Array.from(s[0].volume.data));
  });

  it('maps a label grid stored in another axis order (flipped x and y) voxel by voxel', () => {
    const scan = { dims: [3, 2, 2] as [number, number, number], affine: [[-1, 0, 0, 10], [0, -1, 0, 5], [0, 0, 1, 0], [0, 0, 0, 1]] };
    // The same grid seen from the other corner: x and y run the other way.
    const label = { dims: [3, 2, 2] as [number, number, number], affine: [[1, 0, 0, 8], [0, 1, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1]] };
    const g = gridMapping(label, scan);
    expect(g).toEqual({ perm: [0, 1, 2], flip: [true, true, false] });
    const data = new Uint8Array(12).map((_, i) => i);
    const out = labelsOnScanGrid(data, label.dims, scan.dims, g!);
    // scan voxel (0,0,0) = world (10,5,0) = label voxel (2,1,0) → index 2 + 1*3 = 5.
    expect(out[0]).toBe(5);
    expect(out[5]).toBe(0);
    // A shifted grid does not pair.
    expect(gridMapping({ ...label, affine: [[1, 0, 0, 9], [0, 1, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1]] }, scan)).toBeNull();
  });

  it('maps a label grid with swapped axes', () => {
    const scan = { dims: [2, 3, 2] as [number, number, number], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] };
    // Label voxel (i, j, k) sits at world (j, i, k): its first axis runs along the scan's y.
    const label = { dims: [3, 2, 2] as [number, number, number], affine: [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] };
    const g = gridMapping(label, scan);
    expect(g).toEqual({ perm: [1, 0, 2], flip: [false, false, false] });
    const data = new Uint8Array(12).map((_, i) => i);
    const out = labelsOnScanGrid(data, label.dims, scan.dims, g!);
    for (let z = 0; z < 2; z++) for (let y = 0; y < 3; y++) for (let x = 0; x < 2; x++) expect(out[x + 2 * y + 6 * z]).toBe(y + 3 * x + 6 * z);
  });

  it('merges binary masks into one map with a new id each', () => {
    const a = new Uint8Array([0, 1, 1, 0]);
    const b = new Uint8Array([1, 0, 1, 0]);
    const first = mergeLabels(undefined, a);
    const second = mergeLabels(first.labels, b);
    expect(Array.from(second.labels)).toEqual([2, 1, 2, 0]);
    expect(second.assignedId).toBe(2);
  });

  it("keeps each file's ids apart: disjoint ids stay, colliding ids are shifted past the existing ones", () => {
    const aorta = new Uint8Array([1, 1, 1, 0, 0, 0]);
    const lumen = new Uint8Array([0, 1, 2, 0, 0, 0]); // ids 1, 2: 1 collides with the aorta's id
    const shifted = mergeLabels(aorta, lumen);
    expect(shifted.shifted).toBe(true);
    expect([shifted.firstId, shifted.lastId]).toEqual([2, 3]);
    expect(Array.from(shifted.labels)).toEqual([1, 2, 3, 0, 0, 0]);
    const heart = new Uint8Array([0, 0, 0, 3, 0, 0]);
    const spine = new Uint8Array([0, 0, 0, 0, 2, 2]); // dcmqi-style: each mask with its own label value
    const kept = mergeLabels(heart, spine);
    expect(kept.shifted).toBe(false);
    expect(Array.from(kept.labels)).toEqual([0, 0, 0, 3, 2, 2]);
    expect(labelOverlap(aorta, lumen)).toEqual({ both: 2, incoming: 2, existing: 3 });
  });
});

describe('facts and the NIfTI writer', () => {
  it('derives orientation codes from affines', () => {
    expect(orientationCode([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toBe('RAS');
    expect(orientationCode([[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toBe('LPS');
    expect(orientationCode([[0, 0, -1, 0], [1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]])).toBe('AIL');
  });

  it('flags non-HU ranges', () => {
    expect(ctCheck(intensityStats(new Int16Array([-1024, 0, 1500]))).huLike).toBe(true);
    expect(ctCheck(intensityStats(new Uint8Array([0, 255]))).note).toMatch(/8-bit/);
    expect(ctCheck(intensityStats(new Float32Array([0, 900.5]))).huLike).toBe(false);
    expect(ctCheck(intensityStats(new Int16Array([-1000, 50])), 'MR').note).toMatch(/modality is MR/);
  });

  it('writes a NIfTI that reads back with the same geometry and values', async () => {
    const data = new Float32Array(24).map((_, i) => i * 0.5 - 3);
    const affine = [[-0.9, 0, 0, 12], [0, 0.9, 0, -3], [0, 0, 2.5, 7], [0, 0, 0, 1]];
    const f = new File([niftiBytes({ dims: [2, 3, 4], spacing: [0.9, 0.9, 2.5], affine, data })], 'roundtrip.nii');
    const { results } = await loadOne({ kind: 'file', label: 'roundtrip.nii', files: [{ path: 'roundtrip.nii', file: f }] });
    const v = results[0].volume;
    expect(v.dims).toEqual([2, 3, 4]);
    expect(Array.from(v.data)).toEqual(Array.from(data));
    v.affine.slice(0, 3).forEach((row, i) => row.forEach((x, j) => expect(x).toBeCloseTo(affine[i][j], 5)));
  });
});

describe('label pairing (the worker function)', () => {
  it('maps onto the scan grid, merges without overlap, keeps substantially overlapping maps apart', async () => {
    const { pairLabels } = await import('../src/ingest/pairLabels');
    const dims: [number, number, number] = [4, 2, 1];
    const identity = { perm: [0, 1, 2] as [number, number, number], flip: [false, false, false] as [boolean, boolean, boolean] };
    const flipX = { perm: [0, 1, 2] as [number, number, number], flip: [true, false, false] as [boolean, boolean, boolean] };
    const first = pairLabels({ id: 1, labelData: new Int16Array([1, 0, 0, 0, 0, 0, 0, 0]), labelDims: dims, scanDims: dims, mapping: flipX });
    expect(Array.from(first.onGrid)).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
    expect(first.merged?.ids).toBe(1);
    const touching = pairLabels({ id: 2, labelData: new Uint8Array([0, 0, 1, 1, 0, 0, 0, 0]), labelDims: dims, scanDims: dims, mapping: identity, existing: first.merged!.labels });
    expect(touching.share).toBe(1); // the existing map's only voxel is covered: overlap / min(2, 1)
    expect(touching.merged).toBeUndefined();
    const apart = pairLabels({ id: 3, labelData: new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0]), labelDims: dims, scanDims: dims, mapping: identity, existing: first.merged!.labels });
    expect(apart.share).toBe(0);
    expect(Array.from(apart.merged!.labels)).toEqual([2, 2, 0, 1, 0, 0, 0, 0]);
    expect(apart.merged!.ids).toBe(2);
  });
});
