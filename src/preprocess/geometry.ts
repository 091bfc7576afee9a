// Voxel ↔ world arithmetic on 4×4 row-major affines (NIfTI sform convention: world = A · [i, j, k, 1]).

export type Vec3 = [number, number, number];
export type Mat4 = number[][];

export function voxelToWorld(affine: Mat4, p: readonly number[]): Vec3 {
  const out: Vec3 = [0, 0, 0];
  for (let r = 0; r < 3; r++) {
    out[r] = affine[r][0] * p[0] + affine[r][1] * p[1] + affine[r][2] * p[2] + affine[r][3];
  }
  return out;
}

/** Inverse of an affine whose last row is [0, 0, 0, 1]. Throws on a singular 3×3 part. */
export function invertAffine(a: Mat4): Mat4 {
  const [m00, m01, m02] = a[0];
  const [m10, m11, m12] = a[1];
  const [m20, m21, m22] = a[2];
  const c00 = m11 * m22 - m12 * m21;
  const c01 = m12 * m20 - m10 * m22;
  const c02 = m10 * m21 - m11 * m20;
  const det = m00 * c00 + m01 * c01 + m02 * c02;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error(`affine is singular (det ${det})`);
  const inv = [
    [c00 / det, (m02 * m21 - m01 * m22) / det, (m01 * m12 - m02 * m11) / det],
    [c01 / det, (m00 * m22 - m02 * m20) / det, (m02 * m10 - m00 * m12) / det],
    [c02 / det, (m01 * m20 - m00 * m21) / det, (m00 * m11 - m01 * m10) / det],
  ];
  const t = [a[0][3], a[1][3], a[2][3]];
  const out: Mat4 = [];
  for (let r = 0; r < 3; r++) {
    out.push([inv[r][0], inv[r][1], inv[r][2], -(inv[r][0] * t[0] + inv[r][1] * t[1] + inv[r][2] * t[2])]);
  }
  out.push([0, 0, 0, 1]);
  return out;
}

export function worldToVoxel(affine: Mat4, p: readonly number[]): Vec3 {
  return voxelToWorld(invertAffine(affine), p);
}

export function multiplyAffines(a: Mat4, b: Mat4): Mat4 {
  const out: Mat4 = [];
  for (let r = 0; r < 4; r++) {
    const row: number[] = [];
    for (let c = 0; c < 4; c++) row.push(a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c] + a[r][3] * b[3][c]);
    out.push(row);
  }
  return out;
}

/** Voxel size along each voxel axis: the length of the affine's columns. */
export function spacingFromAffine(affine: Mat4): Vec3 {
  const out: Vec3 = [0, 0, 0];
  for (let c = 0; c < 3; c++) out[c] = Math.hypot(affine[0][c], affine[1][c], affine[2][c]);
  return out;
}

/** The affine of a grid whose voxel (i, j, k) sits at voxel start + (i·step, j·step, k·step) of `affine`'s grid. */
export function subgridAffine(affine: Mat4, start: readonly number[], step: readonly number[] = [1, 1, 1]): Mat4 {
  const origin = voxelToWorld(affine, start);
  const out: Mat4 = [];
  for (let r = 0; r < 3; r++) {
    out.push([affine[r][0] * step[0], affine[r][1] * step[1], affine[r][2] * step[2], origin[r]]);
  }
  out.push([0, 0, 0, 1]);
  return out;
}

export function isValidAffine(a: unknown): a is Mat4 {
  return (
    Array.isArray(a) &&
    a.length === 4 &&
    a.every((row) => Array.isArray(row) && row.length === 4 && row.every((v) => typeof v === 'number' && Number.isFinite(v)))
  );
}
