import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import type { Volume } from '../src/volume/volume';
import {
  cropForeground,
  foregroundBox,
  invertAffine,
  mapPreprocessedToSource,
  padToMin,
  preprocessedBoxToSource,
  preprocessedVoxelToSourceVoxel,
  preprocessedVoxelToWorld,
  preprocessVolume,
  reorientToRAS,
  resample,
  spacingFromAffine,
  subgridAffine,
  voxelToWorld,
  windowToUnit,
  worldToVoxel,
  type GridImage,
  type Mat4,
  type Vec3,
} from '../src/preprocess/preprocess';
import { DEFAULT_PREPROCESS, PREPROCESS_PRESETS, type PreprocessSettings } from '../src/preprocess/settings';
import { niftiVolume, readNiftiNode } from './helpers/niftiNode';
import { DATA } from './helpers/paths';

const CT = `${DATA}/ct-abdomen-totalseg/example_ct.nii.gz`;
const CT_SEG = `${DATA}/ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz`;
const CT_SM = `${DATA}/ct-abdomen-totalseg/example_ct_sm.nii.gz`;
const CHEST = `${DATA}/ct-chest-elastix/chest_ct_derived_4x.nii.gz`;

const studio = PREPROCESS_PRESETS.studio.settings;
const at15: PreprocessSettings = { ...studio, spacing: [1.5, 1.5, 1.5], minSize: [192, 192, 64] };

/** Deterministic pseudo-random integers for sampling voxels. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function idx(dims: readonly number[], x: number, y: number, z: number): number {
  return (z * dims[1] + y) * dims[0] + x;
}

/** Direct (non-separable) trilinear sample with border clamping: the reference for the separable resampler. */
function trilinear(data: ArrayLike<number>, dims: readonly number[], c: readonly number[]): number {
  const p = c.map((v, a) => Math.min(Math.max(v, 0), dims[a] - 1));
  const f = p.map(Math.floor);
  const g = f.map((v, a) => Math.min(v + 1, dims[a] - 1));
  const w = p.map((v, a) => v - f[a]);
  let acc = 0;
  for (let corner = 0; corner < 8; corner++) {
    const q = [0, 1, 2].map((a) => ((corner >> a) & 1 ? g[a] : f[a]));
    const wt = [0, 1, 2].reduce((m, a) => m * ((corner >> a) & 1 ? w[a] : 1 - w[a]), 1);
    acc += wt * data[idx(dims, q[0], q[1], q[2])];
  }
  return acc;
}

const unit = (hu: number, [lo, hi]: [number, number]) => Math.min(Math.max((hu - lo) / (hi - lo), 0), 1);

/** Element-wise equality without vitest's slow deep diff on million-element arrays. */
function expectSameArray(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined) {
  expect(a && b).toBeTruthy();
  expect(a!.length).toBe(b!.length);
  let mismatches = 0;
  for (let i = 0; i < a!.length; i++) if (a![i] !== b![i]) mismatches++;
  expect(mismatches).toBe(0);
}

function expectAffineClose(a: Mat4, b: Mat4, tol = 1e-4) {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(a[r][c]).toBeCloseTo(b[r][c], -Math.log10(tol));
}

/**
 * End-to-end geometry + intensity check: at sampled preprocessed voxels, the value must equal the HU window
 * of a direct trilinear sample of the SOURCE scan at the same world point (inside the source field of view).
 */
function checkAgainstSource(vol: Volume, pv: ReturnType<typeof preprocessVolume>, settings: PreprocessSettings, samples: number) {
  const rand = lcg(7);
  let checked = 0;
  let nonzero = 0;
  for (let s = 0; s < samples * 4 && checked < samples; s++) {
    const p = [rand(pv.dims[0]), rand(pv.dims[1]), rand(pv.dims[2])];
    const q = preprocessedVoxelToSourceVoxel(pv, vol, p);
    if (q.some((v, a) => v < -0.5 || v > vol.dims[a] - 0.5)) continue;
    const expected = unit(trilinear(vol.data, vol.dims, q), settings.huWindow);
    expect(pv.data[idx(pv.dims, p[0], p[1], p[2])]).toBeCloseTo(expected, 4);
    checked++;
    if (expected > 0) nonzero++;
  }
  expect(checked).toBe(samples);
  expect(nonzero).toBeGreaterThan(samples / 10); // the samples actually hit the body
}

// ─────────────────────────────────────────────── synthetic volumes

function synthetic(dims: Vec3, affine: Mat4, fill: (x: number, y: number, z: number) => number, name = 'synthetic'): Volume {
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  const labels = new Uint16Array(data.length);
  for (let z = 0; z < dims[2]; z++)
    for (let y = 0; y < dims[1]; y++)
      for (let x = 0; x < dims[0]; x++) {
        data[idx(dims, x, y, z)] = fill(x, y, z);
        labels[idx(dims, x, y, z)] = (x + 10 * y + 100 * z) % 65535;
      }
  return { id: name, name, dims, spacing: spacingFromAffine(affine), affine, data, labels, sourceFiles: [`${name}.nii`] };
}

describe('reorientToRAS', () => {
  const cases: [string, Vec3, Mat4][] = [
    ['LPS (DICOM-like)', [4, 3, 5], [[-2, 0, 0, 10], [0, -3, 0, 20], [0, 0, 4, -5], [0, 0, 0, 1]]],
    [
      'permuted and flipped (x→A, y→I, z→L)',
      [4, 3, 5],
      [[0, 0, -2.5, 7], [1.5, 0, 0, -3], [0, -2, 0, 11], [0, 0, 0, 1]],
    ],
  ];
  for (const [title, dims, affine] of cases) {
    it(`${title}: every voxel keeps its value and world position`, () => {
      const vol = synthetic(dims, affine, (x, y, z) => x + 10 * y + 100 * z);
      const ras = reorientToRAS(vol);
      // diagonal positive affine: voxel axes run R, A, S
      for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) expect(r === c ? ras.affine[r][c] > 0 : Math.abs(ras.affine[r][c]) < 1e-12).toBe(true);
      expect(ras.dims[0] * ras.dims[1] * ras.dims[2]).toBe(vol.data.length);
      expect(ras.spacing).toEqual(spacingFromAffine(ras.affine));
      for (let z = 0; z < ras.dims[2]; z++)
        for (let y = 0; y < ras.dims[1]; y++)
          for (let x = 0; x < ras.dims[0]; x++) {
            const world = voxelToWorld(ras.affine, [x, y, z]);
            const src = worldToVoxel(vol.affine, world).map((v) => Math.round(v * 1e6) / 1e6);
            expect(src.every((v) => Number.isInteger(v))).toBe(true);
            const [sx, sy, sz] = src;
            expect(ras.data[idx(ras.dims, x, y, z)]).toBe(vol.data[idx(dims, sx, sy, sz)]);
            expect(ras.labels![idx(ras.dims, x, y, z)]).toBe(vol.labels![idx(dims, sx, sy, sz)]);
          }
    });
  }

  it('LPS: the exact permutation is a flip of x and y', () => {
    const vol = synthetic([4, 3, 5], [[-2, 0, 0, 10], [0, -3, 0, 20], [0, 0, 4, -5], [0, 0, 0, 1]], (x, y, z) => x + 10 * y + 100 * z);
    const ras = reorientToRAS(vol);
    expect(ras.dims).toEqual([4, 3, 5]);
    expect(ras.data[idx(ras.dims, 0, 0, 0)]).toBe(3 + 10 * 2); // source voxel (3, 2, 0)
    expectAffineClose(ras.affine, [[2, 0, 0, 10 - 2 * 3], [0, 3, 0, 20 - 3 * 2], [0, 0, 4, -5], [0, 0, 0, 1]]);
  });

  it('returns an already-RAS volume unchanged', () => {
    const vol = synthetic([3, 3, 3], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], () => 0);
    expect(reorientToRAS(vol)).toBe(vol);
  });
});

describe('resample', () => {
  it('linear, separable, equals direct trilinear on a random volume (up and down, anisotropic)', () => {
    const dims: Vec3 = [13, 9, 7];
    const rand = lcg(3);
    const data = Int16Array.from({ length: 13 * 9 * 7 }, () => rand(2000) - 1000);
    for (const target of [[0.7, 1.3, 2.2], [2.9, 0.5, 1.0]] as Vec3[]) {
      const r = resample(data, dims, [1, 1.5, 2], target, 'linear');
      for (let a = 0; a < 3; a++) expect(r.dims[a]).toBe(Math.round((dims[a] * [1, 1.5, 2][a]) / target[a]));
      for (let z = 0; z < r.dims[2]; z++)
        for (let y = 0; y < r.dims[1]; y++)
          for (let x = 0; x < r.dims[0]; x++) {
            const c = [x, y, z].map((v, a) => r.start[a] + v * r.step[a]);
            expect(r.data[idx(r.dims, x, y, z)]).toBeCloseTo(trilinear(data, dims, c), 2);
          }
    }
  });

  it('nearest keeps the array type and only original values', () => {
    const dims: Vec3 = [5, 4, 3];
    const data = Uint8Array.from({ length: 60 }, (_, i) => (i * 7) % 5 === 0 ? 9 : (i % 3) * 40);
    const r = resample(data, dims, [3, 3, 3], [1.25, 2, 5], 'nearest');
    expect(r.data).toBeInstanceOf(Uint8Array);
    const allowed = new Set(data);
    for (const v of r.data) expect(allowed.has(v)).toBe(true);
  });

  it('identity spacing copies into Float32 without touching the input', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = resample(data, [2, 2, 2], [2, 2, 2], [2, 2, 2], 'linear');
    expect(r.dims).toEqual([2, 2, 2]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.data).not.toBe(data);
  });
});

describe('windowToUnit', () => {
  it('maps the HU window to [0, 1] and clips', () => {
    const out = windowToUnit(new Float32Array([-175, 250, 37.5, -1000, 3382, -176, 251, 0, NaN]), [-175, 250]);
    const expected = [0, 1, 0.5, 0, 1, 0, 1, 175 / 425, 0];
    expected.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
  });
  it('rejects an empty window', () => {
    expect(() => windowToUnit([1], [10, 10])).toThrow(/lo < hi/);
  });
});

describe('cropForeground and padToMin', () => {
  const dims: Vec3 = [10, 12, 8];
  const affine: Mat4 = [[2, 0, 0, -10], [0, 3, 0, 5], [0, 0, 1.5, 100], [0, 0, 0, 1]];
  function boxImage(): GridImage {
    const data = new Float32Array(10 * 12 * 8);
    const labels = new Uint8Array(data.length);
    // foreground box x 2..5, y 3..9, z 1..4 (inclusive), with a hole that must not shrink the box
    for (let z = 1; z <= 4; z++)
      for (let y = 3; y <= 9; y++)
        for (let x = 2; x <= 5; x++) {
          data[idx(dims, x, y, z)] = x === 3 && y === 5 ? 0 : 0.25 + x / 100;
          labels[idx(dims, x, y, z)] = 7;
        }
    data[idx(dims, 0, 0, 0)] = -0.5; // negative is background for select_fn x > 0
    return { dims, affine, data, labels };
  }

  it('finds the box of voxels > 0 and keeps the affine consistent', () => {
    const img = boxImage();
    expect(foregroundBox(img.data, dims)).toEqual({ start: [2, 3, 1], end: [6, 10, 5] });
    expect(foregroundBox(img.data, dims, 0.285)).toEqual({ start: [4, 3, 1], end: [6, 10, 5] });
    const { image, box } = cropForeground(img);
    expect(box.start).toEqual([2, 3, 1]);
    expect(image.dims).toEqual([4, 7, 4]);
    for (let z = 0; z < 4; z++)
      for (let y = 0; y < 7; y++)
        for (let x = 0; x < 4; x++) {
          expect(image.data[idx(image.dims, x, y, z)]).toBe(img.data[idx(dims, x + 2, y + 3, z + 1)]);
          expect(image.labels![idx(image.dims, x, y, z)]).toBe(7);
          expect(voxelToWorld(image.affine, [x, y, z])).toEqual(voxelToWorld(affine, [x + 2, y + 3, z + 1]));
        }
  });

  it('pads symmetrically with zeros (floor of the excess before)', () => {
    const { image: cropped } = cropForeground(boxImage());
    const { image, padBefore } = padToMin(cropped, [9, 7, 10]);
    expect(padBefore).toEqual([2, 0, 3]); // excess 5 → 2 + 3, 0, 6 → 3 + 3
    expect(image.dims).toEqual([9, 7, 10]);
    let sum = 0;
    for (const v of image.data) sum += v;
    let cropSum = 0;
    for (const v of cropped.data) cropSum += v;
    expect(sum).toBeCloseTo(cropSum, 5);
    for (let z = 0; z < 10; z++)
      for (let y = 0; y < 7; y++)
        for (let x = 0; x < 9; x++) {
          const inside = x >= 2 && x < 6 && z >= 3 && z < 7;
          const v = image.data[idx(image.dims, x, y, z)];
          const l = image.labels![idx(image.dims, x, y, z)];
          if (inside) {
            expect(v).toBe(cropped.data[idx(cropped.dims, x - 2, y, z - 3)]);
            expect(l).toBe(7);
          } else {
            expect(v).toBe(0);
            expect(l).toBe(0);
          }
          expect(voxelToWorld(image.affine, [x, y, z])).toEqual(voxelToWorld(cropped.affine, [x - 2, y, z - 3]));
        }
    // already big enough: untouched
    expect(padToMin(cropped, [4, 7, 4]).image).toBe(cropped);
  });

  it('a scan with nothing inside the window is an error naming the volume', () => {
    const vol = synthetic([8, 8, 8], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], () => -1000, 'empty-scan');
    expect(() => preprocessVolume(vol, DEFAULT_PREPROCESS)).toThrow(/"empty-scan".*no voxel above 0/);
  });

  it('bad input is rejected with the file and the problem', () => {
    const vol = synthetic([4, 4, 4], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], () => 100, 'short');
    expect(() => preprocessVolume({ ...vol, data: vol.data.subarray(1) }, DEFAULT_PREPROCESS)).toThrow(/"short" \(short\.nii\).*63 voxel values/);
    expect(() => preprocessVolume(vol, { ...DEFAULT_PREPROCESS, huWindow: [250, -175] })).toThrow(/"short".*HU window/);
    expect(() => preprocessVolume({ ...vol, affine: [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }, DEFAULT_PREPROCESS)).toThrow(/"short"/);
  });
});

/** The MONAI order, composed from the exported steps: reorient first, then resample. */
function reorientFirst(vol: Volume, settings: PreprocessSettings) {
  const ras = reorientToRAS(vol);
  const sp = spacingFromAffine(ras.affine);
  const img = resample(ras.data, ras.dims, sp, settings.spacing, 'linear');
  const labels = ras.labels ? resample(ras.labels, ras.dims, sp, settings.spacing, 'nearest').data : undefined;
  windowToUnit(img.data, settings.huWindow, img.data);
  const grid: GridImage = { dims: img.dims, affine: subgridAffine(ras.affine, img.start, img.step), data: img.data, labels };
  return padToMin(cropForeground(grid, settings.foregroundThreshold ?? 0).image, settings.minSize).image;
}

function expectSameAsReorientFirst(vol: Volume, settings: PreprocessSettings) {
  const pv = preprocessVolume(vol, settings);
  const ref = reorientFirst(vol, settings);
  expect(pv.dims).toEqual(ref.dims);
  expectAffineClose(pv.affine, ref.affine, 1e-6);
  let maxDiff = 0;
  for (let i = 0; i < ref.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pv.data[i] - ref.data[i]));
  expect(maxDiff).toBeLessThan(1e-5);
  if (ref.labels) expectSameArray(pv.labels, ref.labels);
  return pv;
}

describe('preprocessVolume (resample on source axes, then reorient) = reorient first, as MONAI does', () => {
  it('synthetic permuted + flipped volume, 2:1 downsampling (nearest-neighbour ties on every voxel)', () => {
    const vol = synthetic([20, 14, 18], [[0, 0, -1, 7], [1, 0, 0, -3], [0, -1.5, 0, 11], [0, 0, 0, 1]], (x, y, z) => (x * 37 + y * 11 + z * 5) % 300 - 50);
    const settings: PreprocessSettings = { spacing: [2, 2, 3], huWindow: [-175, 250], minSize: [16, 16, 16] };
    const pv = expectSameAsReorientFirst(vol, settings);
    expect(pv.labels).toBeInstanceOf(Uint16Array);
  });
});

describe('geometry comes from the affine', () => {
  it('a spacing field that disagrees with the affine is ignored, as MONAI does', () => {
    const affine: Mat4 = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const vol = synthetic([12, 12, 12], affine, () => 100);
    const settings: PreprocessSettings = { spacing: [2, 2, 2], huWindow: [-175, 250], minSize: [1, 1, 1] };
    expect(preprocessVolume({ ...vol, spacing: [4, 4, 4] }, settings).dims).toEqual([6, 6, 6]);
  });
});

describe('oblique scan', () => {
  it('a scan rotated 20° about z (and LPS) still overlays its source after preprocessing', () => {
    const c = Math.cos((20 * Math.PI) / 180), sn = Math.sin((20 * Math.PI) / 180);
    // voxel axes: x runs mostly towards L, y mostly towards P, both tilted by 20° in the axial plane
    const affine: Mat4 = [[-1.1 * c, 1.3 * sn, 0, 30], [-1.1 * sn, -1.3 * c, 0, 40], [0, 0, 2, -20], [0, 0, 0, 1]];
    const vol = synthetic([40, 36, 20], affine, (x, y, z) => -300 + 12 * x + 9 * y + 15 * z);
    const settings: PreprocessSettings = { spacing: [2, 2, 2], huWindow: [-175, 250], minSize: [8, 8, 8] };
    const pv = preprocessVolume(vol, settings);
    // still oblique (MONAI keeps the rotation), but the voxel axes now point R, A, S
    expect(pv.affine[0][0]).toBeGreaterThan(0);
    expect(pv.affine[1][1]).toBeGreaterThan(0);
    expect(pv.affine[2][2]).toBeGreaterThan(0);
    spacingFromAffine(pv.affine).forEach((v) => expect(v).toBeCloseTo(2, 9));
    checkAgainstSource(vol, pv, settings, 300);
    expectSameAsReorientFirst(vol, settings);
  });
});

describe('presets', () => {
  it('match the contract', () => {
    expect(PREPROCESS_PRESETS.studio.settings).toEqual({ spacing: [3, 3, 3], huWindow: [-175, 250], minSize: [96, 96, 32] });
    expect(PREPROCESS_PRESETS.abdomen.settings).toEqual({ spacing: [1.5, 1.5, 1.5], huWindow: [-175, 250], minSize: [192, 192, 64] });
    expect(PREPROCESS_PRESETS.chest.settings).toEqual({ spacing: [1.25, 1.25, 5], huWindow: [-1000, 500], minSize: [192, 192, 64] });
    expect(DEFAULT_PREPROCESS).toBe(PREPROCESS_PRESETS.studio.settings);
  });
});

describe('abdomen CT (example_ct.nii.gz)', () => {
  const vol = niftiVolume(CT, { labelsPath: CT_SEG });
  const header = readNiftiNode(CT);

  it('loads as 122×101×112 at 3 mm, RAS, affine = sform', () => {
    expect(vol.dims).toEqual([122, 101, 112]);
    expect(vol.spacing).toEqual([3, 3, 3]);
    expect(header.sformCode).toBeGreaterThan(0);
    const ras = reorientToRAS(vol);
    expect(ras).toBe(vol); // the sform is diagonal positive: already RAS
    expectAffineClose(ras.affine, header.sform);
    expect(header.sform[0][3]).toBeCloseTo(-177.9563, 3);
  });

  it('resampled to 1.5 mm it is 244×202×224 before the foreground crop, on the same field of view', () => {
    const r = resample(vol.data, vol.dims, [3, 3, 3], [1.5, 1.5, 1.5], 'linear');
    expect(r.dims).toEqual([244, 202, 224]);
    expect(r.step).toEqual([0.5, 0.5, 0.5]);
    expect(r.start).toEqual([-0.25, -0.25, -0.25]); // voxel edges coincide with the source's
    const rand = lcg(11);
    for (let s = 0; s < 300; s++) {
      const p = [rand(244), rand(202), rand(224)];
      const c = p.map((v, a) => r.start[a] + v * r.step[a]);
      expect(r.data[idx(r.dims, p[0], p[1], p[2])]).toBeCloseTo(trilinear(vol.data, vol.dims, c), 2);
    }
  });

  it('HU window on known voxels (3 mm, no resampling): pv value = window(source HU) at the same world point', () => {
    const settings: PreprocessSettings = { ...studio, minSize: [1, 1, 1] };
    const pv = preprocessVolume(vol, settings);
    expect(pv.spacing).toEqual([3, 3, 3]);
    const rand = lcg(5);
    let inWindow = 0;
    let clippedLow = 0;
    let clippedHigh = 0;
    for (let s = 0; s < 2000; s++) {
      const p = [rand(pv.dims[0]), rand(pv.dims[1]), rand(pv.dims[2])];
      const q = preprocessedVoxelToSourceVoxel(pv, vol, p).map((v) => Math.round(v * 1e6) / 1e6);
      expect(q.every(Number.isInteger)).toBe(true); // same grid, shifted by the crop
      const hu = vol.data[idx(vol.dims, q[0], q[1], q[2])];
      const v = pv.data[idx(pv.dims, p[0], p[1], p[2])];
      expect(v).toBeCloseTo((Math.min(Math.max(hu, -175), 250) + 175) / 425, 6);
      if (hu <= -175) clippedLow++;
      else if (hu >= 250) clippedHigh++;
      else inWindow++;
    }
    expect(inWindow).toBeGreaterThan(100);
    expect(clippedLow).toBeGreaterThan(10);
    expect(clippedHigh).toBeGreaterThan(5);
  });

  it('studio preset: ≥ 96×96×32, values in [0, 1], crop hugs the foreground, overlays the source', () => {
    const pv = preprocessVolume(vol, studio);
    expect(pv.dims[0]).toBeGreaterThanOrEqual(96);
    expect(pv.dims[1]).toBeGreaterThanOrEqual(96);
    expect(pv.dims[2]).toBeGreaterThanOrEqual(32);
    expect(pv.data.length).toBe(pv.dims[0] * pv.dims[1] * pv.dims[2]);
    let min = Infinity, max = -Infinity;
    for (const v of pv.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // after crop + pad, the foreground box is centred by the padding and touches the faces of the unpadded axes
    const box = foregroundBox(pv.data, pv.dims)!;
    for (let a = 0; a < 3; a++) {
      const extra = pv.dims[a] - (box.end[a] - box.start[a]);
      expect(box.start[a]).toBe(Math.floor(extra / 2));
    }
    checkAgainstSource(vol, pv, studio, 400);
  });

  it('1.5 mm: labels are nearest-neighbour (only original ids) and line up with the source label map', () => {
    const pv = preprocessVolume(vol, at15);
    expect(pv.labels).toBeInstanceOf(vol.labels!.constructor as typeof Uint8Array);
    const original = new Set(vol.labels!);
    const seen = new Set(pv.labels!);
    for (const id of seen) expect(original.has(id)).toBe(true);
    expect(seen.size).toBeGreaterThan(original.size * 0.9); // structures survive
    const rand = lcg(9);
    let checked = 0;
    for (let s = 0; s < 5000 && checked < 1500; s++) {
      const p = [rand(pv.dims[0]), rand(pv.dims[1]), rand(pv.dims[2])];
      const q = preprocessedVoxelToSourceVoxel(pv, vol, p);
      if (q.some((v, a) => v < -0.5 || v > vol.dims[a] - 0.5)) continue;
      const n = q.map((v, a) => Math.min(Math.max(Math.round(v), 0), vol.dims[a] - 1));
      expect(pv.labels![idx(pv.dims, p[0], p[1], p[2])]).toBe(vol.labels![idx(vol.dims, n[0], n[1], n[2])]);
      checked++;
    }
    expect(checked).toBe(1500);
    checkAgainstSource(vol, pv, at15, 300);
  });

  it('an LPS copy of the scan gives the same result (3 → 2 and 4 mm: nearest-neighbour ties on the grid)', () => {
    const [nx, ny, nz] = vol.dims;
    const data = new Int32Array(vol.data.length);
    const labels = new Uint8Array(vol.data.length);
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          data[idx(vol.dims, nx - 1 - x, ny - 1 - y, z)] = vol.data[idx(vol.dims, x, y, z)];
          labels[idx(vol.dims, nx - 1 - x, ny - 1 - y, z)] = vol.labels![idx(vol.dims, x, y, z)];
        }
    const a = vol.affine;
    const lpsAffine = [
      [-a[0][0], 0, 0, a[0][3] + a[0][0] * (nx - 1)],
      [0, -a[1][1], 0, a[1][3] + a[1][1] * (ny - 1)],
      [0, 0, a[2][2], a[2][3]],
      [0, 0, 0, 1],
    ];
    const lps: Volume = { ...vol, name: 'lps copy', affine: lpsAffine, data, labels };
    // 2 mm grows the grid (reoriented before resampling), 4 mm shrinks it (reoriented after)
    for (const mm of [2, 4]) {
      const settings: PreprocessSettings = { ...studio, spacing: [mm, mm, mm] };
      const pv = preprocessVolume(vol, settings);
      const pvLps = expectSameAsReorientFirst(lps, settings);
      expect(pvLps.dims).toEqual(pv.dims);
      expectAffineClose(pvLps.affine, pv.affine, 1e-6);
      let maxDiff = 0;
      for (let i = 0; i < pv.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pv.data[i] - pvLps.data[i]));
      expect(maxDiff).toBeLessThan(1e-5);
      expectSameArray(pvLps.labels, pv.labels);
    }
  });
});

describe('chest CT (chest_ct_derived_4x.nii.gz, LPS)', () => {
  const vol = niftiVolume(CHEST);
  const header = readNiftiNode(CHEST);

  it('loads as 128×128×141 at 3.906×3.906×2 and reorients LPS → RAS', () => {
    expect(vol.dims).toEqual([128, 128, 141]);
    expect(vol.spacing[0]).toBeCloseTo(3.90625, 5);
    expect(vol.spacing[2]).toBeCloseTo(2, 5);
    expectAffineClose(vol.affine, header.sform);
    expect(vol.affine[0][0]).toBeLessThan(0);
    expect(vol.affine[1][1]).toBeLessThan(0);
    const ras = reorientToRAS(vol);
    expect(ras.dims).toEqual([128, 128, 141]);
    expectAffineClose(ras.affine, [
      [3.90625, 0, 0, 248.53515625 - 127 * 3.90625],
      [0, 3.90625, 0, 162.53515625 - 127 * 3.90625],
      [0, 0, 2, -164.5],
      [0, 0, 0, 1],
    ]);
    // voxel (0,0,0) of the RAS grid is source voxel (127,127,0)
    expect(ras.data[0]).toBe(vol.data[idx(vol.dims, 127, 127, 0)]);
  });

  it('studio preset: 3 mm, ≥ 96×96×32, overlays the source', () => {
    const pv = preprocessVolume(vol, studio);
    expect(pv.spacing).toEqual([3, 3, 3]);
    expect(pv.dims[0]).toBeGreaterThanOrEqual(96);
    expect(pv.dims[1]).toBeGreaterThanOrEqual(96);
    expect(pv.dims[2]).toBeGreaterThanOrEqual(32);
    expect(pv.labels).toBeUndefined();
    for (let a = 0; a < 3; a++) expect(spacingFromAffine(pv.affine)[a]).toBeCloseTo(3, 6);
    checkAgainstSource(vol, pv, studio, 400);
  });

  it('chest preset: 400×400×56 grid before the crop, padded to ≥ 192×192×64, lung window', () => {
    const chest = PREPROCESS_PRESETS.chest.settings;
    expect(resample(new Float32Array(vol.data.length), vol.dims, vol.spacing, chest.spacing, 'nearest').dims).toEqual([400, 400, 56]);
    const pv = preprocessVolume(vol, chest);
    expect(pv.dims[0]).toBeGreaterThanOrEqual(192);
    expect(pv.dims[2]).toBe(64); // 56 slices padded 4 + 4
    checkAgainstSource(vol, pv, chest, 300);
    expectSameAsReorientFirst(vol, chest);
  });
});

describe('mapping back to the source scan', () => {
  const vol = synthetic([20, 16, 12], [[-1.5, 0, 0, 30], [0, -1.5, 0, 20], [0, 0, 2.5, -40], [0, 0, 0, 1]], (x, y, z) =>
    x > 3 && x < 17 && y > 2 && z > 1 && z < 11 ? 100 + 5 * x - 3 * y + z : -1000,
  );
  const pv = preprocessVolume(vol, { spacing: [3, 3, 3], huWindow: [-175, 250], minSize: [16, 16, 16] });

  it('voxel ↔ world round trip', () => {
    for (const p of [[0, 0, 0], [3, 7, 2], [15, 15, 15]]) {
      const w = preprocessedVoxelToWorld(pv, p);
      const back = worldToVoxel(pv.affine, w);
      back.forEach((v, a) => expect(v).toBeCloseTo(p[a], 9));
    }
    const inv = invertAffine(vol.affine);
    expect(voxelToWorld(inv, voxelToWorld(vol.affine, [1, 2, 3]))).toEqual([1, 2, 3]);
  });

  it('a box of preprocessed voxels maps to its source-voxel extent', () => {
    const box = preprocessedBoxToSource(pv, vol, [2, 3, 4], [5, 5, 5]);
    // 5 voxels of 3 mm = 15 mm = 10 source voxels of 1.5 mm in x, y and 6 of 2.5 mm in z
    expect(box.max[0] - box.min[0]).toBeCloseTo(10, 9);
    expect(box.max[1] - box.min[1]).toBeCloseTo(10, 9);
    expect(box.max[2] - box.min[2]).toBeCloseTo(6, 9);
    const centre = preprocessedVoxelToSourceVoxel(pv, vol, [4, 5, 6]);
    centre.forEach((c, a) => expect(c).toBeCloseTo((box.min[a] + box.max[a]) / 2, 9));
  });

  it('a map on the preprocessed grid resamples onto the source grid', () => {
    // the preprocessed intensities themselves, mapped back, approximate the windowed source inside the body
    const back = mapPreprocessedToSource(pv.data, pv, vol, { outside: -1 });
    expect(back.length).toBe(vol.data.length);
    const nearestBack = mapPreprocessedToSource(pv.labels!, pv, vol, { mode: 'nearest', outside: -1 });
    let compared = 0;
    // two preprocessed voxels away from the body's edges the intensity is a linear ramp, which trilinear
    // interpolation reproduces exactly
    for (let z = 5; z <= 7; z++)
      for (let y = 7; y <= 11; y++)
        for (let x = 8; x <= 12; x++) {
          const expected = unit(vol.data[idx(vol.dims, x, y, z)], [-175, 250]);
          expect(back[idx(vol.dims, x, y, z)]).toBeCloseTo(expected, 4);
          compared++;
        }
    expect(compared).toBe(75);
    // nearest labels: the ids that come back are source ids
    const ids = new Set(vol.labels!);
    for (const v of nearestBack) if (v !== -1) expect(ids.has(v)).toBe(true);
  });
});
