#!/usr/bin/env node
// Generates the ingest test corpus: every broken or unusual input class the dataset panel must report,
// each beside a good scan, with the outcome expected for every file (manifest.json). Nothing here is
// copied from a real patient: volumes are synthetic phantoms, DICOM files are written tag by tag
// (explicit VR little endian). Fast (well under a second): tests generate it into a git-ignored folder.
//
//   node scripts/make-ingest-corpus.mjs [outDir]      (default: artifacts/ingest-corpus)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

// ─────────────────────────────────────────── NIfTI-1 (single file) writer

const DT = { uint8: [2, 1], int16: [4, 2], float32: [16, 4] };

/**
 * @param {{dims:number[], pixdim:number[], affine?:number[][]|null, data:ArrayLike<number>, dtype:'uint8'|'int16'|'float32', qform?:boolean}} v
 */
export function niftiBuffer(v) {
  const [code, bytes] = DT[v.dtype];
  const n = v.dims[0] * v.dims[1] * v.dims[2];
  const buf = Buffer.alloc(352 + n * bytes);
  buf.writeInt32LE(348, 0);
  [3, v.dims[0], v.dims[1], v.dims[2], 1, 1, 1, 1].forEach((d, i) => buf.writeInt16LE(d, 40 + 2 * i));
  buf.writeInt16LE(code, 70);
  buf.writeInt16LE(bytes * 8, 72);
  [1, ...v.pixdim, 0, 0, 0, 0].forEach((p, i) => buf.writeFloatLE(p, 76 + 4 * i));
  buf.writeFloatLE(352, 108);
  buf.writeFloatLE(1, 112);
  buf.writeUInt8(2, 123); // mm
  buf.writeInt16LE(0, 252); // qform_code
  buf.writeInt16LE(v.affine ? 1 : 0, 254); // sform_code
  if (v.affine) for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) buf.writeFloatLE(v.affine[r][c], 280 + 16 * r + 4 * c);
  buf.write('n+1\0', 344, 'latin1');
  const Ctor = { uint8: Uint8Array, int16: Int16Array, float32: Float32Array }[v.dtype];
  const typed = v.data instanceof Ctor ? v.data : Ctor.from(v.data);
  Buffer.from(typed.buffer, typed.byteOffset, n * bytes).copy(buf, 352); // little-endian hosts only (x86, arm)
  return buf;
}

const diag = (s, origin = [0, 0, 0]) => [
  [s[0], 0, 0, origin[0]],
  [0, s[1], 0, origin[1]],
  [0, 0, s[2], origin[2]],
  [0, 0, 0, 1],
];

/** A CT-like phantom in HU: air -1000, an elliptic body (40 HU) with a bone rod (700 HU) off-centre. */
export function phantom(dims, seed = 1) {
  const [nx, ny, nz] = dims;
  const out = new Int16Array(nx * ny * nz);
  let s = seed >>> 0;
  const noise = () => ((s = (s * 1664525 + 1013904223) >>> 0) % 21) - 10;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const u = (x - nx / 2) / (nx * 0.4), w = (y - ny / 2) / (ny * 0.3);
        const body = u * u + w * w < 1;
        const bx = x - nx * 0.5, by = y - ny * 0.68;
        const bone = bx * bx + by * by < (nx * 0.06) ** 2;
        out[(z * ny + y) * nx + x] = (bone ? 700 : body ? 40 : -1000) + noise();
      }
  return out;
}

// ─────────────────────────────────────────── DICOM (Part 10, explicit VR little endian) writer

const LONG_VR = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const BASIC_TEXT_SR = '1.2.840.10008.5.1.4.1.1.88.11';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

function element(group, elem, vr, value) {
  let body;
  if (Buffer.isBuffer(value)) body = value;
  else if (vr === 'US') {
    body = Buffer.alloc(2);
    body.writeUInt16LE(value, 0);
  } else if (vr === 'UL') {
    body = Buffer.alloc(4);
    body.writeUInt32LE(value, 0);
  } else {
    body = Buffer.from(String(value), 'latin1');
    if (body.length % 2) body = Buffer.concat([body, Buffer.from(vr === 'UI' ? '\0' : ' ', 'latin1')]);
  }
  const long = LONG_VR.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(body.length, 8);
  else head.writeUInt16LE(body.length, 6);
  return Buffer.concat([head, body]);
}

/** A DICOM file from [group, element, VR, value] rows (sorted here); the meta group is added. */
export function dicomFile(sopClass, sopInstance, rows, transferSyntax = EXPLICIT_LE) {
  const meta = Buffer.concat([
    element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 0x0002, 'UI', sopClass),
    element(0x0002, 0x0003, 'UI', sopInstance),
    element(0x0002, 0x0010, 'UI', transferSyntax),
    element(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.9.7433.1'),
  ]);
  const sorted = [...rows, [0x0008, 0x0016, 'UI', sopClass], [0x0008, 0x0018, 'UI', sopInstance]].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    element(0x0002, 0x0000, 'UL', meta.length),
    meta,
    ...sorted.map(([g, e, vr, v]) => element(g, e, vr, v)),
  ]);
}

const ds = (v) => (Array.isArray(v) ? v : [v]).map((x) => String(+x.toFixed(4))).join('\\');

/**
 * One CT series: slices of `rows`×`cols` int16 stored values (HU + 1024), at the given table positions.
 * `tilt` (degrees) tilts the image plane about x as a tilted gantry does, while the slice origins move along z:
 * the sheared geometry of a gantry-tilted acquisition.
 */
export function ctSeries({ uidRoot, seriesNumber, description, rows = 64, cols = 64, pixel = 0.8, zs, tilt = 0, seed = 3, transferSyntaxOf = () => EXPLICIT_LE }) {
  const t = (tilt * Math.PI) / 180;
  const iop = [1, 0, 0, 0, Math.cos(t), -Math.sin(t)];
  const vol = phantom([cols, rows, zs.length], seed);
  return zs.map((z, k) => {
    const pixels = Buffer.alloc(rows * cols * 2);
    for (let i = 0; i < rows * cols; i++) pixels.writeInt16LE(vol[k * rows * cols + i] + 1024, 2 * i);
    const sop = `${uidRoot}.${seriesNumber}.${k + 1}`;
    return dicomFile(CT_IMAGE, sop, [
      [0x0008, 0x0008, 'CS', 'ORIGINAL\\PRIMARY\\AXIAL'],
      [0x0008, 0x0020, 'DA', '20240102'],
      [0x0008, 0x0030, 'TM', '101500'],
      [0x0008, 0x0060, 'CS', 'CT'],
      [0x0008, 0x0070, 'LO', 'GE MEDICAL SYSTEMS'],
      [0x0008, 0x103e, 'LO', description],
      [0x0010, 0x0010, 'PN', 'Phantom^Synthetic'],
      [0x0010, 0x0020, 'LO', 'SYNTH01'],
      [0x0018, 0x0050, 'DS', '2.5'],
      [0x0018, 0x1120, 'DS', ds(tilt)],
      [0x0020, 0x000d, 'UI', `${uidRoot}.1`],
      [0x0020, 0x000e, 'UI', `${uidRoot}.${seriesNumber}`],
      [0x0020, 0x0011, 'IS', String(seriesNumber)],
      [0x0020, 0x0013, 'IS', String(k + 1)],
      [0x0020, 0x0032, 'DS', ds([-(cols * pixel) / 2, -(rows * pixel) / 2, z])],
      [0x0020, 0x0037, 'DS', ds(iop)],
      [0x0020, 0x0052, 'UI', `${uidRoot}.9`],
      [0x0020, 0x1041, 'DS', ds(z)],
      [0x0028, 0x0002, 'US', 1],
      [0x0028, 0x0004, 'CS', 'MONOCHROME2'],
      [0x0028, 0x0010, 'US', rows],
      [0x0028, 0x0011, 'US', cols],
      [0x0028, 0x0030, 'DS', ds([pixel, pixel])],
      [0x0028, 0x0100, 'US', 16],
      [0x0028, 0x0101, 'US', 16],
      [0x0028, 0x0102, 'US', 15],
      [0x0028, 0x0103, 'US', 1],
      [0x0028, 0x1052, 'DS', '-1024'],
      [0x0028, 0x1053, 'DS', '1'],
      [0x7fe0, 0x0010, 'OW', pixels],
    ], transferSyntaxOf(k));
  });
}

/** A DICOM structured report: a real DICOM file, but no image in it. */
function textReport(uidRoot) {
  return dicomFile(BASIC_TEXT_SR, `${uidRoot}.77.1`, [
    [0x0008, 0x0060, 'CS', 'SR'],
    [0x0020, 0x000d, 'UI', `${uidRoot}.1`],
    [0x0020, 0x000e, 'UI', `${uidRoot}.77`],
    [0x0040, 0xa040, 'CS', 'CONTAINER'],
  ]);
}

// ─────────────────────────────────────────── the corpus

/**
 * Manifest entry: `row` (the file is, or names, a dataset row with this status and message), `labels` (attached
 * to a scan: its name appears in that row's labels), or `leftOut` (counted in the left-out list with a reason).
 * `training`: whether the run setup ticks the volume, and the reason shown when it does not.
 * @typedef {{file:string, case:string, expect:
 *   {row:string, status:'ok'|'warning'|'error', message?:string, dims?:string, orientation?:string}
 *   | {labels:string, onto:string, message?:string}
 *   | {leftOut:string, reason:string},
 *   training?: {ticked:boolean, reason?:string}}} CorpusEntry
 */

/** Writes the corpus into `outDir` (emptied first) and returns the manifest (also written as manifest.json). */
export function makeIngestCorpus(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  const root = join(outDir, 'corpus');
  /** @type {CorpusEntry[]} */
  const manifest = [];
  const put = (rel, bytes, entry) => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, bytes);
    if (entry) manifest.push({ file: rel, ...entry });
  };
  const grid = [48, 40, 32];
  const gridAffine = diag([3, 3, 3], [-72, -60, -48]);
  const scan = gzipSync(niftiBuffer({ dims: grid, pixdim: [3, 3, 3], affine: gridAffine, data: phantom(grid, 7), dtype: 'int16' }));

  // A good scan: everything else is dropped beside it.
  // (Its row warns about the two overlapping label maps dropped beside it: see aorta_mask.nii / lumen_label.nii.)
  put('scan.nii.gz', scan, {
    case: 'good scan, with overlapping label maps dropped beside it',
    expect: { row: 'scan.nii.gz', status: 'warning', message: 'lumen_label.nii overlaps aorta_mask.nii', dims: '48 × 40 × 32', orientation: 'RAS' },
    training: { ticked: true },
  });
  // The same scan again, in another folder: a duplicate is never trained twice.
  put('copies/scan-copy.nii.gz', scan, {
    case: 'duplicate of a scan',
    expect: { row: 'scan-copy.nii.gz', status: 'warning', message: 'duplicate of scan.nii.gz' },
    training: { ticked: false, reason: 'duplicate' },
  });
  // LPS storage order (DICOM-style): the readout must give the file's voxel index.
  {
    const d = [50, 44, 30];
    put('scan-lps.nii', niftiBuffer({ dims: d, pixdim: [2, 2, 3], affine: [[-2, 0, 0, 50], [0, -2, 0, 44], [0, 0, 3, -40], [0, 0, 0, 1]], data: phantom(d, 11), dtype: 'int16' }), {
      case: 'LPS orientation',
      expect: { row: 'scan-lps.nii', status: 'ok', orientation: 'LPS' },
      training: { ticked: true },
    });
  }
  // Tilted and anisotropic: voxel axis j runs 40° between y and z, axis k (3 mm) the other way.
  {
    const d = [64, 90, 24];
    const c = Math.cos((40 * Math.PI) / 180), s = Math.sin((40 * Math.PI) / 180);
    const affine = [[0.9, 0, 0, -30], [0, 0.9 * c, -3 * s, -20], [0, 0.9 * s, 3 * c, -10], [0, 0, 0, 1]];
    put('scan-tilted.nii', niftiBuffer({ dims: d, pixdim: [0.9, 0.9, 3], affine, data: phantom(d, 13), dtype: 'int16' }), {
      case: 'tilted (oblique) affine',
      expect: { row: 'scan-tilted.nii', status: 'ok' },
      training: { ticked: true },
    });
  }
  // Smaller than the training region at the studio spacing: padded, not refused.
  {
    const d = [60, 63, 82];
    put('scan-small.nii.gz', gzipSync(niftiBuffer({ dims: d, pixdim: [1, 1, 1], affine: diag([1, 1, 1]), data: phantom(d, 17), dtype: 'int16' })), {
      case: 'small scan (60×63×82)',
      expect: { row: 'scan-small.nii.gz', status: 'ok', dims: '60 × 63 × 82' },
      training: { ticked: true },
    });
  }
  // Zero voxel size on one axis, no sform to take it from.
  {
    const d = [20, 20, 20];
    put('zero-voxel-size.nii', niftiBuffer({ dims: d, pixdim: [1, 0, 3], affine: null, data: phantom(d, 19), dtype: 'int16' }), {
      case: 'zero voxel size (pixdim 0)',
      expect: { row: 'zero-voxel-size.nii', status: 'error', message: 'voxel size 0 mm along j' },
    });
  }
  // Zero pixdim, but an sform that gives the voxel axes: the sform decides, and the row says so.
  {
    const d = [20, 20, 20];
    put('zero-pixdim-sform.nii', niftiBuffer({ dims: d, pixdim: [2, 0, 2], affine: diag([2, 2, 2], [400, 0, 0]), data: phantom(d, 21), dtype: 'int16' }), {
      case: 'zero pixdim with a valid sform',
      expect: { row: 'zero-pixdim-sform.nii', status: 'warning', message: "using the sform's voxel size 2 × 2 × 2 mm" },
      training: { ticked: true },
    });
  }
  // All zeros on the scan's grid: not a label map with no ids.
  put('empty.nii', niftiBuffer({ dims: grid, pixdim: [3, 3, 3], affine: gridAffine, data: new Int16Array(48 * 40 * 32), dtype: 'int16' }), {
    case: 'all-zero volume on a scan grid',
    expect: { row: 'empty.nii', status: 'warning', message: 'every voxel is 0' },
    training: { ticked: false, reason: 'every voxel is 0' },
  });
  put('constant.nii', niftiBuffer({ dims: [30, 30, 30], pixdim: [2, 2, 2], affine: diag([2, 2, 2]), data: new Int16Array(27000).fill(-1000), dtype: 'int16' }), {
    case: 'constant volume',
    expect: { row: 'constant.nii', status: 'warning', message: 'every voxel is -1000' },
    training: { ticked: false, reason: 'every voxel is -1000' },
  });
  {
    const d = [40, 40, 30];
    const data = Float32Array.from(phantom(d, 23));
    for (let i = 0; i < 120; i++) data[i * 97] = NaN;
    for (let i = 0; i < 30; i++) data[i * 389 + 5] = Infinity;
    put('nan-voxels.nii', niftiBuffer({ dims: d, pixdim: [2, 2, 2], affine: diag([2, 2, 2]), data, dtype: 'float32' }), {
      case: 'NaN/Inf voxels',
      expect: { row: 'nan-voxels.nii', status: 'warning', message: '120 NaN and 30 infinite voxels' },
      training: { ticked: false, reason: 'NaN' },
    });
  }
  put('all-nan.nii', niftiBuffer({ dims: [16, 16, 16], pixdim: [2, 2, 2], affine: diag([2, 2, 2]), data: new Float32Array(4096).fill(NaN), dtype: 'float32' }), {
    case: 'all-NaN volume',
    expect: { row: 'all-nan.nii', status: 'error', message: 'every voxel is NaN' },
  });
  // An 8-bit angiogram (MIP-like intensities 0..255): an image, but not Hounsfield units.
  {
    const d = [40, 40, 40];
    const data = new Uint8Array(d[0] * d[1] * d[2]).map((_, i) => (i * 31 + ((i / 40) | 0) * 7) % 256);
    put('angio-uint8.nii', niftiBuffer({ dims: d, pixdim: [1, 1, 1], affine: diag([1, 1, 1], [200, 0, 0]), data, dtype: 'uint8' }), {
      case: 'uint8 non-HU angiogram',
      expect: { row: 'angio-uint8.nii', status: 'warning', message: 'not HU-like' },
      training: { ticked: false, reason: 'not HU' },
    });
  }
  // A label map whose grid matches no scan.
  {
    const d = [26, 26, 26];
    const data = new Uint8Array(d[0] * d[1] * d[2]).map((_, i) => (i % 26 > 12 ? 2 : i % 26 > 6 ? 1 : 0));
    put('orphan_seg.nii', niftiBuffer({ dims: d, pixdim: [1.5, 1.5, 1.5], affine: diag([1.5, 1.5, 1.5], [300, 0, 0]), data, dtype: 'uint8' }), {
      case: 'label map matching no scan',
      expect: { row: 'orphan_seg.nii', status: 'warning', message: 'no loaded scan has the same grid' },
      training: { ticked: false, reason: 'label map' },
    });
  }
  // Two overlapping label maps on the scan's grid: a binary aorta mask and a true/false-lumen map inside it.
  {
    const n = 48 * 40 * 32;
    const aorta = new Uint8Array(n), lumen = new Uint8Array(n);
    for (let z = 4; z < 28; z++)
      for (let y = 10; y < 22; y++)
        for (let x = 16; x < 28; x++) {
          const i = (z * 40 + y) * 48 + x;
          aorta[i] = 1;
          if (x > 17 && x < 26 && y > 11 && y < 20) lumen[i] = x < 22 ? 1 : 2;
        }
    put('aorta_mask.nii', niftiBuffer({ dims: grid, pixdim: [3, 3, 3], affine: gridAffine, data: aorta, dtype: 'uint8' }), {
      case: 'overlapping label maps (binary mask)',
      expect: { labels: 'aorta_mask.nii', onto: 'scan.nii.gz' },
    });
    put('lumen_label.nii', niftiBuffer({ dims: grid, pixdim: [3, 3, 3], affine: gridAffine, data: lumen, dtype: 'uint8' }), {
      case: 'overlapping label maps (multi-id map)',
      expect: { labels: 'lumen_label.nii', onto: 'scan.nii.gz', message: 'lumen_label.nii overlaps aorta_mask.nii' },
    });
  }

  // DICOM: a good series with a DICOM report (no image) beside it.
  const uid = '1.2.826.0.1.3680043.9.7433.42';
  ctSeries({ uidRoot: uid, seriesNumber: 2, description: 'good axial', zs: [0, 2.5, 5, 7.5, 10, 12.5] }).forEach((b, k) =>
    put(`dicom-with-report/IM${k + 1}.dcm`, b, k === 0 ? { case: 'DICOM series beside a non-image .dcm', expect: { row: 'dicom-with-report', status: 'ok', dims: '64 × 64 × 6' } } : undefined),
  );
  put('dicom-with-report/report.dcm', textReport(uid), {
    case: 'non-image .dcm (structured report) beside a good series',
    expect: { leftOut: 'dicom-with-report/report.dcm', reason: 'no pixel data' },
  });
  // A series with one slice cut short: the others still make a volume.
  {
    const slices = ctSeries({ uidRoot: `${uid}.5`, seriesNumber: 3, description: 'one slice cut', zs: [0, 2.5, 5, 7.5, 10] });
    slices.forEach((b, k) =>
      put(
        `dicom-truncated/IM${k + 1}.dcm`,
        k === 2 ? b.subarray(0, b.length - 3000) : b,
        k === 2
          ? { case: 'truncated DICOM slice in a series', expect: { leftOut: 'dicom-truncated/IM3.dcm', reason: 'cut short' } }
          : k === 0
            ? { case: 'series with a truncated slice', expect: { row: 'dicom-truncated', status: 'warning', message: '1 slice of this folder left out: IM3.dcm' } }
            : undefined,
      ),
    );
  }
  // A parent folder holding two series folders: each series is named by its own folder.
  for (const [name, sn] of [['series-a', 4], ['series-b', 5]])
    ctSeries({ uidRoot: `${uid}.${sn}`, seriesNumber: sn, description: name, zs: [0, 3, 6, 9], seed: sn }).forEach((b, k) =>
      put(`dicom-parent/${name}/${k + 1}`, b, k === 0 ? { case: 'parent folder of DICOM series folders', expect: { row: name, status: 'ok', dims: '64 × 64 × 4' } } : undefined),
    );
  // Gantry tilt 18.5° with uneven table steps (4.0 mm, one of 1.1, one of 7.0).
  {
    const gaps = [4, 4, 4, 1.1, 4, 4, 7, 4, 4, 4, 4];
    const zs = [0];
    for (const g of gaps) zs.push(+(zs[zs.length - 1] + g).toFixed(2));
    ctSeries({ uidRoot: `${uid}.6`, seriesNumber: 6, description: 'tilted head', zs, tilt: 18.5 }).forEach((b, k) =>
      put(
        `dicom-tilt/${String(k + 1).padStart(3, '0')}.dcm`,
        b,
        k === 0
          ? { case: 'gantry tilt with uneven slice gaps', expect: { row: 'dicom-tilt', status: 'warning', message: 'gantry tilt 18.5° corrected; uneven slice spacing 1.1–7.0 mm resampled to' } }
          : undefined,
      ),
    );
  }
  // One slice stored in a transfer syntax the decoder cannot read (MPEG-2 video): dcm2niix would skip it silently.
  ctSeries({ uidRoot: `${uid}.7`, seriesNumber: 7, description: 'one slice as video', zs: [0, 3, 6, 9], transferSyntaxOf: (k) => (k === 1 ? '1.2.840.10008.1.2.4.100' : EXPLICIT_LE) }).forEach((b, k) =>
    put(
      `dicom-undecodable/${k + 1}.dcm`,
      b,
      k === 1
        ? { case: 'DICOM slice in a transfer syntax the decoder cannot read', expect: { leftOut: 'dicom-undecodable/2.dcm', reason: 'MPEG/H.264/HEVC video (transfer syntax 1.2.840.10008.1.2.4.100)' } }
        : k === 0
          ? { case: 'series with an undecodable slice', expect: { row: 'dicom-undecodable', status: 'warning', message: '1 slice of this folder left out: 2.dcm' } }
          : undefined,
    ),
  );
  // Documentation beside scans is left out on purpose (and said so).
  put('README.txt', 'Synthetic ingest corpus (scripts/make-ingest-corpus.mjs).\n', { case: 'document beside scans', expect: { leftOut: 'README.txt', reason: 'document' } });

  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  // A non-DICOM file named .dcm, dropped alone (not part of the folder drop).
  writeFileSync(join(outDir, 'notes.dcm'), 'Radiology notes, typed into a file that ends in .dcm\n');
  return { root, manifest, loneNonImage: join(outDir, 'notes.dcm') };
}

/** A big int16 volume for responsiveness tests (a phantom, gzip level 1 to keep generation quick). */
export function bigVolumeNifti(dims) {
  const data = phantom(dims, 29);
  return niftiBuffer({ dims, pixdim: [0.7, 0.7, 1], affine: diag([0.7, 0.7, 1]), data, dtype: 'int16' });
}

/** A binary label map on bigVolumeNifti's grid (a box in the middle), for the pairing path of big volumes. */
export function bigLabelNifti(dims) {
  const [nx, ny, nz] = dims;
  const data = new Uint8Array(nx * ny * nz);
  for (let z = nz >> 2; z < (3 * nz) >> 2; z++)
    for (let y = ny >> 2; y < (3 * ny) >> 2; y++) data.fill(1, (z * ny + y) * nx + (nx >> 2), (z * ny + y) * nx + ((3 * nx) >> 2));
  return niftiBuffer({ dims, pixdim: [0.7, 0.7, 1], affine: diag([0.7, 0.7, 1]), data, dtype: 'uint8' });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? 'artifacts/ingest-corpus');
  const t0 = performance.now();
  const { manifest } = makeIngestCorpus(out);
  console.log(`ingest corpus: ${manifest.length} expected outcomes in ${out} (${(performance.now() - t0).toFixed(0)} ms)`);
}
