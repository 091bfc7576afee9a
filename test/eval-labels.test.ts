// Pairing a label map with its scan for the benchmark: geometry check (a mismatch is refused, showing both
// geometries), merging binary masks, pairing by file name, and structure names from JSON.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseWords, checkLabelGeometry, describeGeometry, maskStructureName, namesFromMaskSources, pairByName, pairLabelMap, parseLabelNames } from '../src/eval/labels';
import type { Volume } from '../src/volume/volume';
import { niftiVolume } from './helpers/niftiNode';
import { DATA as DATA_ROOT } from './helpers/paths';

const DATA = resolve(DATA_ROOT, 'ct-abdomen-totalseg');

function grid(name: string, dims: [number, number, number], affine: number[][], data?: Volume['data']): Volume {
  const n = dims[0] * dims[1] * dims[2];
  return { id: name, name, dims, spacing: [2, 2, 3], affine, data: data ?? new Uint8Array(n), sourceFiles: [name] };
}
const A = [
  [2, 0, 0, -10],
  [0, 2, 0, 5],
  [0, 0, 3, 0],
  [0, 0, 0, 1],
];

describe('label geometry check', () => {
  it('pairs the abdomen CT with its TotalSegmentator map and keeps every id', () => {
    const ct = niftiVolume(resolve(DATA, 'example_ct.nii.gz'));
    const seg = niftiVolume(resolve(DATA, 'example_seg_fast_force_split.nii.gz'));
    expect(checkLabelGeometry(ct, seg).ok).toBe(true);
    const paired = pairLabelMap(ct, seg);
    expect(paired.assignedId).toBeNull();
    expect(paired.ids).toBe(61); // the data README: 61 structures
    expect(paired.labels.length).toBe(ct.dims[0] * ct.dims[1] * ct.dims[2]);
  });

  it('refuses a map of another grid, showing both geometries', () => {
    const ct = niftiVolume(resolve(DATA, 'example_ct.nii.gz'));
    const short = niftiVolume(resolve(DATA, 'example_seg.nii.gz')); // 30 slices: the _sm scan's map
    const check = checkLabelGeometry(ct, short);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.message).toContain('example_seg.nii.gz');
    expect(check.message).toContain('122×101×112 voxels');
    expect(check.message).toContain('122×101×30 voxels');
    expect(() => pairLabelMap(ct, short)).toThrow(/does not lie on the grid/);
  });

  it('refuses a shifted origin and other spacing, accepts the same grid stored flipped', () => {
    const scan = grid('scan', [4, 3, 2], A);
    const shifted = grid('shifted_seg', [4, 3, 2], A.map((r, i) => (i === 0 ? [r[0], r[1], r[2], r[3] + 2] : r)));
    const check = checkLabelGeometry(scan, shifted);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.message).toMatch(/origin \(-10, 5, 0\)[\s\S]*origin \(-8, 5, 0\)/);
    const coarse = grid('coarse_seg', [4, 3, 2], A.map((r, i) => (i === 0 ? [4, 0, 0, r[3]] : r)));
    expect(checkLabelGeometry(scan, coarse).ok).toBe(false);
    // The same world grid with x stored backwards: voxel 0 is the scan's last x voxel.
    const flipped = grid('flipped_seg', [4, 3, 2], [[-2, 0, 0, -10 + 3 * 2], A[1], A[2], A[3]]);
    const data = new Uint8Array(24);
    data[0] = 1; // label voxel (0,0,0) = scan voxel (3,0,0)
    flipped.data = data;
    expect(checkLabelGeometry(scan, flipped).ok).toBe(true);
    const paired = pairLabelMap(scan, flipped);
    expect(paired.assignedId).toBe(1); // binary mask → next free id
    expect(paired.labels[3]).toBe(1);
    expect(paired.labels[0]).toBe(0);
  });

  it('merges binary masks into one map with new ids and refuses non-label data', () => {
    const scan = grid('scan', [4, 3, 2], A);
    const liver = grid('liver_seg.nrrd', [4, 3, 2], A, Uint8Array.from({ length: 24 }, (_, i) => (i < 4 ? 1 : 0)));
    const spine = grid('spine_seg.nrrd', [4, 3, 2], A, Uint8Array.from({ length: 24 }, (_, i) => (i >= 20 ? 1 : 0)));
    const first = pairLabelMap(scan, liver);
    scan.labels = first.labels;
    const second = pairLabelMap(scan, spine);
    expect([first.assignedId, second.assignedId]).toEqual([1, 2]);
    expect(second.ids).toBe(2);
    expect(Array.from(second.labels.slice(0, 4))).toEqual([1, 1, 1, 1]);
    expect(Array.from(second.labels.slice(20))).toEqual([2, 2, 2, 2]);
    const notLabels = grid('ct_seg', [4, 3, 2], A, Float32Array.from({ length: 24 }, () => 0.5));
    expect(() => pairLabelMap(grid('scan', [4, 3, 2], A), notLabels)).toThrow(/not a label map: voxel 0 holds 0.5/);
  });

  it('describes a geometry', () => {
    expect(describeGeometry(grid('x', [4, 3, 2], A))).toBe('4×3×2 voxels · 2×2×3 mm · RAS · origin (-10, 5, 0) mm');
  });
});

describe('pairing by name', () => {
  it('finds the scan a label map belongs to', () => {
    expect(caseWords('example_seg_fast_force_split.nii.gz')).toEqual(['example']);
    const pairs = pairByName(
      [
        { id: 'a', name: 'example_ct.nii.gz' },
        { id: 'b', name: 'chest_ct_derived_4x.nii.gz' },
      ],
      [
        { id: 's', name: 'example_seg_fast_force_split.nii.gz' },
        { id: 'q', name: 'liver_seg.nrrd' },
      ],
    );
    expect(pairs).toEqual([{ labelId: 's', scanId: 'a' }]);
    expect(maskStructureName('liver_seg.nrrd')).toBe('liver');
    expect(namesFromMaskSources(['liver_seg.nrrd (id 1)', 'heart_seg.nrrd (id 3)', 'whole.nii.gz'])).toEqual({ 1: 'liver', 3: 'heart' });
  });
});

describe('label names', () => {
  it("reads TotalSegmentator's label_names_total_v2.json", () => {
    const names = parseLabelNames(readFileSync(resolve(DATA, 'label_names_total_v2.json'), 'utf8'), 'label_names_total_v2.json');
    expect(names[1]).toBe('spleen');
    expect(names[5]).toBe('liver');
    expect(Object.keys(names).length).toBeGreaterThanOrEqual(100);
  });

  it('reads the other accepted shapes and names a bad file', () => {
    expect(parseLabelNames('["liver", "spleen"]', 'l.json')).toEqual({ 1: 'liver', 2: 'spleen' });
    expect(parseLabelNames('["background", "liver"]', 'l.json')).toEqual({ 1: 'liver' });
    expect(parseLabelNames('{"liver": 3}', 'l.json')).toEqual({ 3: 'liver' });
    expect(parseLabelNames('[{"id": 2, "name": "kidney"}]', 'l.json')).toEqual({ 2: 'kidney' });
    expect(() => parseLabelNames('{"1": ', 'bad.json')).toThrow(/bad\.json: not valid JSON/);
    expect(() => parseLabelNames('{"a": "b"}', 'odd.json')).toThrow(/odd\.json: key "a" has label id "b"/);
    expect(() => parseLabelNames('42', 'n.json')).toThrow(/n\.json: expected a JSON object or array/);
  });
});
