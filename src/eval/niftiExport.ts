// NIfTI-1 export of a float map on a scan's geometry (a single .nii, gzipped with fflate): 348 header bytes,
// 4 bytes of "no extension", then float32 voxels, x fastest. The affine is written twice: as the sform (exact)
// and as the qform (rotation + voxel sizes + offset), so readers that prefer either find the scan's geometry.
import { gzipSync } from 'fflate';

export interface MapNiftiInput {
  dims: readonly [number, number, number];
  /** voxel → world (RAS+ mm), row-major 4×4: the scan's affine. */
  affine: number[][];
  data: Float32Array;
  /** Up to 79 ASCII characters kept in the header (what the map is). */
  description?: string;
  /** Display range hint (cal_min, cal_max). */
  calRange?: [number, number];
}

const HEADER_BYTES = 348;
const VOX_OFFSET = 352;
const DT_FLOAT32 = 16;
const NIFTI_INTENT_NONE = 0;
const XFORM_SCANNER = 1;
const UNITS_MM = 2;

/** The uncompressed .nii bytes. */
export function mapNiftiBytes(input: MapNiftiInput): Uint8Array {
  const [nx, ny, nz] = input.dims;
  const count = nx * ny * nz;
  if (![nx, ny, nz].every((d) => Number.isInteger(d) && d > 0 && d < 32768)) {
    throw new Error(`NIfTI export: dims [${input.dims.join(', ')}] must be integers from 1 to 32767`);
  }
  if (input.data.length !== count) throw new Error(`NIfTI export: ${input.data.length} values for a ${nx}×${ny}×${nz} grid (${count} voxels)`);
  const a = input.affine;
  if (a.length !== 4 || a.some((row) => row.length !== 4 || row.some((v) => !Number.isFinite(v)))) {
    throw new Error('NIfTI export: the affine must be a 4×4 array of finite numbers');
  }
  const bytes = new Uint8Array(VOX_OFFSET + count * 4);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, HEADER_BYTES, true); // sizeof_hdr
  dv.setUint8(39, 0); // dim_info
  [3, nx, ny, nz, 1, 1, 1, 1].forEach((d, i) => dv.setInt16(40 + 2 * i, d, true)); // dim[8]
  dv.setInt16(68, NIFTI_INTENT_NONE, true); // intent_code
  dv.setInt16(70, DT_FLOAT32, true); // datatype
  dv.setInt16(72, 32, true); // bitpix
  const q = quaternForm(a);
  [q.qfac, q.spacing[0], q.spacing[1], q.spacing[2], 0, 0, 0, 0].forEach((p, i) => dv.setFloat32(76 + 4 * i, p, true)); // pixdim[8]
  dv.setFloat32(108, VOX_OFFSET, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope: values are stored as they are
  dv.setFloat32(116, 0, true); // scl_inter
  dv.setUint8(123, UNITS_MM); // xyzt_units
  if (input.calRange) {
    dv.setFloat32(124, input.calRange[1], true); // cal_max
    dv.setFloat32(128, input.calRange[0], true); // cal_min
  }
  const desc = (input.description ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 79); // descrip[80], NUL-terminated
  for (let i = 0; i < desc.length; i++) dv.setUint8(148 + i, desc.charCodeAt(i));
  dv.setInt16(252, XFORM_SCANNER, true); // qform_code
  dv.setInt16(254, XFORM_SCANNER, true); // sform_code
  [q.b, q.c, q.d, a[0][3], a[1][3], a[2][3]].forEach((v, i) => dv.setFloat32(256 + 4 * i, v, true)); // quatern_b..qoffset_z
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, a[r][c], true); // srow_x/y/z
  bytes.set([0x6e, 0x2b, 0x31, 0], 344); // magic "n+1\0"
  // bytes 348..351: extension flag 0 (none). Voxels follow, little-endian float32.
  const body = new DataView(bytes.buffer, VOX_OFFSET);
  for (let i = 0; i < count; i++) body.setFloat32(4 * i, input.data[i], true);
  return bytes;
}

/** The gzipped .nii.gz bytes. */
export function mapNiftiGz(input: MapNiftiInput): Uint8Array {
  return gzipSync(mapNiftiBytes(input), { level: 6 });
}

/**
 * The qform parameters of an affine (NIfTI-1: R = rotation from quaternion (b, c, d), columns scaled by pixdim,
 * the third by qfac = ±1). The rotation is the nearest proper rotation to the normalised 3×3 part.
 */
export function quaternForm(a: number[][]): { b: number; c: number; d: number; qfac: number; spacing: [number, number, number] } {
  const col = (j: number) => [a[0][j], a[1][j], a[2][j]];
  const cols = [col(0), col(1), col(2)];
  const spacing = cols.map((v) => Math.hypot(...v)) as [number, number, number];
  if (spacing.some((s) => !(s > 0))) throw new Error('NIfTI export: the affine has a zero-length voxel axis');
  const u = cols.map((v, j) => v.map((x) => x / spacing[j]));
  const det =
    u[0][0] * (u[1][1] * u[2][2] - u[1][2] * u[2][1]) - u[1][0] * (u[0][1] * u[2][2] - u[0][2] * u[2][1]) + u[2][0] * (u[0][1] * u[1][2] - u[0][2] * u[1][1]);
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) u[2] = u[2].map((x) => -x);
  // Gram–Schmidt keeps it a rotation even when the affine has a little shear (the sform keeps the exact matrix).
  const dot = (p: number[], q: number[]) => p[0] * q[0] + p[1] * q[1] + p[2] * q[2];
  const unit = (p: number[]) => {
    const n = Math.hypot(...p);
    return p.map((x) => x / n);
  };
  const e0 = unit(u[0]);
  const e1 = unit(u[1].map((x, i) => x - dot(u[1], e0) * e0[i]));
  const e2 = [e0[1] * e1[2] - e0[2] * e1[1], e0[2] * e1[0] - e0[0] * e1[2], e0[0] * e1[1] - e0[1] * e1[0]];
  // R[row][col] with columns e0, e1, e2.
  const r11 = e0[0], r12 = e1[0], r13 = e2[0];
  const r21 = e0[1], r22 = e1[1], r23 = e2[1];
  const r31 = e0[2], r32 = e1[2], r33 = e2[2];
  let qa = r11 + r22 + r33 + 1;
  let b: number, c: number, d: number;
  if (qa > 0.5) {
    qa = 0.5 * Math.sqrt(qa);
    b = (0.25 * (r32 - r23)) / qa;
    c = (0.25 * (r13 - r31)) / qa;
    d = (0.25 * (r21 - r12)) / qa;
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      qa = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      qa = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      qa = (0.25 * (r21 - r12)) / d;
    }
    if (qa < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac, spacing };
}
