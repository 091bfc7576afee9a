// The one mapping from a scan's voxel axes to the RAS axes the preprocessing reorients to, and the grid size
// it resamples to. Preprocessing and the run setup's size estimate both use it, so they cannot disagree
// (a tilted scan once showed y and z swapped in the Train tab).

export type Vec3 = [number, number, number];

/** For each RAS output axis w: the source voxel axis that runs along it, and whether it runs backwards (L, P or I). */
export interface RasAxisMapping {
  fromAxis: Vec3;
  flip: [boolean, boolean, boolean];
}

/** Voxel size along each voxel axis: the length of the affine's columns. */
function columnNorms(affine: number[][]): Vec3 {
  return [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c])) as Vec3;
}

/**
 * Which voxel axis is closest to each world axis (like nibabel's io_orientation for near-axis-aligned scans).
 * Greedy on the largest direction cosine so an oblique scan still gets a one-to-one assignment.
 */
export function rasAxisMapping(affine: number[][]): RasAxisMapping {
  const norms = columnNorms(affine);
  if (norms.some((n) => !(n > 0))) throw new Error(`affine has a zero-length voxel axis (column norms ${norms.join(', ')})`);
  const fromAxis: Vec3 = [-1, -1, -1];
  const flip: [boolean, boolean, boolean] = [false, false, false];
  const usedVoxel = [false, false, false];
  for (let round = 0; round < 3; round++) {
    let best = -1;
    let bw = -1;
    let bi = -1;
    for (let w = 0; w < 3; w++) {
      if (fromAxis[w] >= 0) continue;
      for (let i = 0; i < 3; i++) {
        if (usedVoxel[i]) continue;
        const c = Math.abs(affine[w][i]) / norms[i];
        if (c > best) {
          best = c;
          bw = w;
          bi = i;
        }
      }
    }
    fromAxis[bw] = bi;
    flip[bw] = affine[bw][bi] < 0;
    usedVoxel[bi] = true;
  }
  return { fromAxis, flip };
}

/**
 * numpy's round: halves go to the even neighbour. "Half" within 1e-6, so that a grid coordinate computed from
 * either end of an axis (start + j·step vs. its mirror image) breaks the tie the same way.
 */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  if (Math.abs(v - f - 0.5) < 1e-6) return f % 2 === 0 ? f : f + 1;
  return Math.round(v);
}

/** Voxels along one axis after resampling n voxels of size s to size t (extent rule, see resampleGrid). */
export function resampledCount(n: number, s: number, t: number): number {
  return Math.max(1, roundHalfEven(n * (s / t)));
}

/** Grid size (RAS axis order) of a scan resampled to `target` mm, before foreground crop and padding. */
export function resampledRasDims(dims: readonly number[], affine: number[][], target: readonly number[]): Vec3 {
  const { fromAxis } = rasAxisMapping(affine);
  const norms = columnNorms(affine);
  return [0, 1, 2].map((w) => resampledCount(dims[fromAxis[w]], norms[fromAxis[w]], target[w])) as Vec3;
}
