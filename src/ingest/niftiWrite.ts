// A minimal NIfTI-1 writer (single .nii in memory): how the viewer hands our Volume to NiiVue,
// whose loaders then treat it like any file. Also useful to export a volume.
import type { VoxelArray } from '../volume/volume';

const HEADER = 348;
const VOX_OFFSET = 352; // header + 4 bytes of "no extension" flag

const DATATYPE: [new (n: number) => VoxelArray, number][] = [
  [Uint8Array, 2],
  [Int16Array, 4],
  [Int32Array, 8],
  [Float32Array, 16],
  [Float64Array, 64],
  [Int8Array, 256],
  [Uint16Array, 512],
  [Uint32Array, 768],
];

export interface NiftiSource {
  dims: readonly [number, number, number];
  spacing: readonly [number, number, number];
  /** voxel→RAS mm, row-major 4×4 (written as sform, code 1 = scanner). */
  affine: number[][];
  data: VoxelArray;
  /** Display range stored as cal_min/cal_max (0/0: unset). */
  calRange?: [number, number];
  description?: string;
}

export function niftiBytes(v: NiftiSource): ArrayBuffer {
  const entry = DATATYPE.find(([ctor]) => v.data instanceof ctor);
  if (!entry) throw new Error('unsupported voxel array type');
  const n = v.dims[0] * v.dims[1] * v.dims[2];
  if (v.data.length !== n) throw new Error(`data holds ${v.data.length} voxels, the grid ${v.dims.join('×')} needs ${n}`);
  const bytes = v.data.BYTES_PER_ELEMENT;
  const buf = new ArrayBuffer(VOX_OFFSET + n * bytes);
  const dv = new DataView(buf);
  dv.setInt32(0, HEADER, true);
  const dim = [3, v.dims[0], v.dims[1], v.dims[2], 1, 1, 1, 1];
  dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, true));
  dv.setInt16(70, entry[1], true);
  dv.setInt16(72, bytes * 8, true);
  const pixdim = [1, v.spacing[0], v.spacing[1], v.spacing[2], 0, 0, 0, 0];
  pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, true));
  dv.setFloat32(108, VOX_OFFSET, true);
  dv.setFloat32(112, 1, true); // scl_slope: data already holds final values
  dv.setFloat32(116, 0, true);
  dv.setUint8(123, 2); // xyzt_units: mm
  if (v.calRange) {
    dv.setFloat32(124, v.calRange[1], true); // cal_max
    dv.setFloat32(128, v.calRange[0], true); // cal_min
  }
  const desc = (v.description ?? '').slice(0, 79);
  for (let i = 0; i < desc.length; i++) dv.setUint8(148 + i, desc.charCodeAt(i) & 0x7f);
  dv.setInt16(252, 0, true); // qform_code: unused
  dv.setInt16(254, 1, true); // sform_code: scanner
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, v.affine[r][c], true);
  [0x6e, 0x2b, 0x31, 0].forEach((ch, i) => dv.setUint8(344 + i, ch)); // "n+1\0"
  new Uint8Array(buf, VOX_OFFSET).set(new Uint8Array(v.data.buffer, v.data.byteOffset, n * bytes));
  return buf;
}
