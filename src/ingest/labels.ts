// Label maps dropped with a scan: recognising them, finding their scan (same world grid, possibly
// stored in another axis order, e.g. an LPS NRRD mask beside a dcm2niix NIfTI) and merging several
// binary masks into one label map.
import type { Volume, VoxelArray } from '../volume/volume';
import { LABEL_MAX_DISTINCT } from './limits';
import type { VolumeFacts } from './types';

export type LabelArray = NonNullable<Volume['labels']>;

const LABEL_NAME = /seg|label|mask/i;

/** Named like a label map (…_seg.nii.gz, liver_mask.nrrd, labels.nii) and holds integer ids ≥ 0. */
export function isNamedLabelMap(name: string, facts: Pick<VolumeFacts, 'integerValued' | 'min' | 'distinctValues'>): boolean {
  return LABEL_NAME.test(name) && looksLikeIds(facts);
}

/**
 * Integer values ≥ 0 with few distinct values: could be a label map if a scan shares its grid.
 * A constant or empty volume (one value) is never a label map: it holds no structure.
 */
export function looksLikeIds(facts: Pick<VolumeFacts, 'integerValued' | 'min' | 'distinctValues'>): boolean {
  return facts.integerValued && facts.min >= 0 && facts.distinctValues >= 2 && facts.distinctValues <= LABEL_MAX_DISTINCT;
}

/**
 * How a label grid's voxels map onto a scan's voxels when both cover the same world grid:
 * scan index along axis a = flip[a] ? dims[a]-1-i : i, where i is the label index along axis perm[a].
 * Null when the grids differ (other spacing, extent, origin or an oblique relation).
 */
export interface GridMapping {
  perm: [number, number, number];
  flip: [boolean, boolean, boolean];
}

export function gridMapping(label: Pick<Volume, 'dims' | 'affine'>, scan: Pick<Volume, 'dims' | 'affine'>, tolVoxel = 0.05): GridMapping | null {
  // M = inv(scanAffine) · labelAffine maps label voxel indices to scan voxel indices.
  const inv = invert4(scan.affine);
  if (!inv) return null;
  const m = mul4(inv, label.affine);
  const perm: number[] = [-1, -1, -1];
  const flip = [false, false, false];
  for (let a = 0; a < 3; a++) {
    // Scan axis a must follow exactly one label axis with unit step.
    let found = -1;
    for (let b = 0; b < 3; b++) {
      const v = m[a][b];
      if (Math.abs(Math.abs(v) - 1) < 1e-3) {
        if (found >= 0) return null;
        found = b;
        flip[a] = v < 0;
      } else if (Math.abs(v) > 1e-3) return null;
    }
    if (found < 0 || perm.includes(found)) return null;
    perm[a] = found;
    if (scan.dims[a] !== label.dims[found]) return null;
    // The label's first voxel must land on the scan's first (or, when flipped, last) voxel.
    const expected = flip[a] ? scan.dims[a] - 1 : 0;
    if (Math.abs(m[a][3] - expected) > tolVoxel) return null;
  }
  return { perm: perm as [number, number, number], flip: flip as [boolean, boolean, boolean] };
}

function isIdentity(g: GridMapping): boolean {
  return g.perm[0] === 0 && g.perm[1] === 1 && g.perm[2] === 2 && !g.flip.some(Boolean);
}

/** Label values resampled (exactly, by index) onto the scan's voxel order, in the smallest id array. */
export function labelsOnScanGrid(labelData: VoxelArray, labelDims: readonly number[], scanDims: readonly number[], g: GridMapping): LabelArray {
  let maxId = 0;
  for (let i = 0; i < labelData.length; i++) if (labelData[i] > maxId) maxId = labelData[i];
  const n = scanDims[0] * scanDims[1] * scanDims[2];
  const out: LabelArray = maxId <= 255 ? new Uint8Array(n) : maxId <= 65535 ? new Uint16Array(n) : new Int32Array(n);
  if (isIdentity(g)) {
    out.set(labelData as ArrayLike<number>); // ids are 0..maxId: they fit the chosen type
    return out;
  }
  // Label linear index = Σ over scan axes of that axis' contribution: precomputed per axis and position.
  const lStride = [1, labelDims[0], labelDims[0] * labelDims[1]];
  const offsets = [0, 1, 2].map((a) => {
    const o = new Int32Array(scanDims[a]);
    for (let i = 0; i < scanDims[a]; i++) o[i] = (g.flip[a] ? scanDims[a] - 1 - i : i) * lStride[g.perm[a]];
    return o;
  });
  const [ox, oy, oz] = offsets;
  let o = 0;
  for (let z = 0; z < scanDims[2]; z++)
    for (let y = 0; y < scanDims[1]; y++) {
      const base = oz[z] + oy[y];
      for (let x = 0; x < scanDims[0]; x++) out[o++] = labelData[base + ox[x]];
    }
  return out;
}

/**
 * Put a new label map onto a scan that may already have one, keeping each file's ids apart: a binary mask
 * (0/1) becomes the next free id; a multi-id map keeps its ids when none of them is taken (masks exported
 * with their own label values, as dcmqi writes them), else its ids are shifted past the existing ones (its id k
 * becomes firstId + k - 1). Where the maps overlap, the incoming map's ids win (see labelOverlap: the caller
 * decides whether the overlap is small enough to merge).
 */
export function mergeLabels(
  existing: LabelArray | undefined,
  incoming: LabelArray,
): { labels: LabelArray; assignedId: number | null; firstId: number; lastId: number; shifted: boolean } {
  let inMax = 0, exMax = 0;
  for (let i = 0; i < incoming.length; i++) if (incoming[i] > inMax) inMax = incoming[i];
  if (!existing) return { labels: incoming, assignedId: null, firstId: 1, lastId: inMax, shifted: false };
  const taken = new Set<number>();
  for (let i = 0; i < existing.length; i++) if (existing[i] !== 0) taken.add(existing[i]);
  for (const v of taken) if (v > exMax) exMax = v;
  const binary = inMax <= 1;
  const newId = binary ? exMax + 1 : null;
  let shifted = false;
  if (!binary) for (let i = 0; i < incoming.length && !shifted; i++) if (incoming[i] !== 0 && taken.has(incoming[i])) shifted = true;
  const offset = shifted ? exMax : 0;
  const top = binary ? newId! : Math.max(exMax, offset + inMax);
  const out: LabelArray = top <= 255 ? new Uint8Array(existing.length) : top <= 65535 ? new Uint16Array(existing.length) : new Int32Array(existing.length);
  for (let i = 0; i < out.length; i++) {
    const v = incoming[i];
    out[i] = v > 0 ? (binary ? newId! : offset + v) : existing[i];
  }
  return { labels: out, assignedId: newId, firstId: offset + 1, lastId: offset + inMax, shifted };
}

/** Voxels labelled in both maps, and how many each map labels. */
export function labelOverlap(existing: LabelArray, incoming: LabelArray): { both: number; incoming: number; existing: number } {
  let both = 0, inc = 0, ex = 0;
  for (let i = 0; i < incoming.length; i++) {
    if (existing[i] !== 0) ex++;
    if (incoming[i] !== 0) {
      inc++;
      if (existing[i] !== 0) both++;
    }
  }
  return { both, incoming: inc, existing: ex };
}

/**
 * Overlap above this share of the smaller map's labelled voxels means the maps describe the same structure
 * differently (a vessel mask and its lumen map): they are kept apart and the user picks one. Below it the maps
 * touch at their borders (neighbouring organs drawn by hand) and are merged, with the overlap reported.
 */
export const OVERLAP_KEEP_APART = 0.05;

export function countIds(labels: LabelArray): number {
  const seen = new Set<number>();
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) seen.add(labels[i]);
  return seen.size;
}

// ---- small 4×4 helpers (row-major) ----
function mul4(a: number[][], b: number[][]): number[][] {
  return a.map((row) => [0, 1, 2, 3].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j] + row[3] * b[3][j]));
}

function invert4(a: number[][]): number[][] | null {
  // Affine inverse: [R t; 0 1]⁻¹ = [R⁻¹  -R⁻¹t; 0 1].
  const r = [0, 1, 2].map((i) => [0, 1, 2].map((j) => a[i][j]));
  const det =
    r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
  if (Math.abs(det) < 1e-12) return null;
  const c = (i: number, j: number) => {
    const rows = [0, 1, 2].filter((k) => k !== i), cols = [0, 1, 2].filter((k) => k !== j);
    const minor = r[rows[0]][cols[0]] * r[rows[1]][cols[1]] - r[rows[0]][cols[1]] * r[rows[1]][cols[0]];
    return ((i + j) % 2 === 0 ? 1 : -1) * minor;
  };
  const ri = [0, 1, 2].map((i) => [0, 1, 2].map((j) => c(j, i) / det));
  const t = [0, 1, 2].map((i) => -(ri[i][0] * a[0][3] + ri[i][1] * a[1][3] + ri[i][2] * a[2][3]));
  return [[...ri[0], t[0]], [...ri[1], t[1]], [...ri[2], t[2]], [0, 0, 0, 1]];
}
