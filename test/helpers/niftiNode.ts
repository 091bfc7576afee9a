// Test-only NIfTI-1 reader for Node: gunzip + the few header fields the tests check against (dims, pixdim,
// datatype, scaling, sform). Independent of the studio's loaders on purpose, so it can serve as a reference.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Volume } from '../../src/volume/volume';

export interface NiftiNode {
  dims: [number, number, number];
  pixdim: [number, number, number];
  datatype: number;
  sformCode: number;
  /** srow_x, srow_y, srow_z and [0, 0, 0, 1]. */
  sform: number[][];
  slope: number;
  inter: number;
  /** Raw stored values (no scaling). */
  raw: Int16Array | Int32Array | Float32Array | Uint8Array | Uint16Array | Float64Array;
}

export function readNiftiNode(path: string): NiftiNode {
  const bytes = gunzipSync(readFileSync(path));
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const view = new DataView(buf);
  if (view.getInt32(0, true) !== 348) throw new Error(`${path}: not a little-endian NIfTI-1 file`);
  const dim = [0, 1, 2, 3].map((i) => view.getInt16(40 + 2 * i, true));
  if (dim[0] < 3) throw new Error(`${path}: ${dim[0]}-D, expected 3-D`);
  const dims: [number, number, number] = [dim[1], dim[2], dim[3]];
  const pixdim: [number, number, number] = [1, 2, 3].map((i) => view.getFloat32(76 + 4 * i, true)) as [number, number, number];
  const datatype = view.getInt16(70, true);
  const voxOffset = view.getFloat32(108, true);
  const slopeRaw = view.getFloat32(112, true);
  const slope = slopeRaw === 0 || !Number.isFinite(slopeRaw) ? 1 : slopeRaw;
  const inter = Number.isFinite(view.getFloat32(116, true)) ? view.getFloat32(116, true) : 0;
  const sformCode = view.getInt16(254, true);
  const sform = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => view.getFloat32(280 + 16 * r + 4 * c, true)));
  sform.push([0, 0, 0, 1]);
  const n = dims[0] * dims[1] * dims[2];
  const body = buf.slice(voxOffset, voxOffset + n * 8);
  const ctor = { 2: Uint8Array, 4: Int16Array, 8: Int32Array, 16: Float32Array, 64: Float64Array, 512: Uint16Array }[datatype];
  if (!ctor) throw new Error(`${path}: datatype ${datatype} not handled by the test reader`);
  const raw = new ctor(body, 0, n);
  return { dims, pixdim, datatype, sformCode, sform, slope, inter, raw };
}

/** A studio Volume from a NIfTI file (sform affine, scaled values as Float32 unless slope 1 / inter 0). */
export function niftiVolume(path: string, opts: { id?: string; labelsPath?: string } = {}): Volume {
  const nii = readNiftiNode(path);
  if (nii.sformCode <= 0) throw new Error(`${path}: no sform; the test reader does not decode qform`);
  let data: Volume['data'] = nii.raw;
  if (nii.slope !== 1 || nii.inter !== 0) data = Float32Array.from(nii.raw, (v) => v * nii.slope + nii.inter);
  let labels: Volume['labels'];
  if (opts.labelsPath) {
    const seg = readNiftiNode(opts.labelsPath);
    if (seg.dims.join() !== nii.dims.join()) throw new Error(`${opts.labelsPath}: grid ${seg.dims} ≠ ${nii.dims}`);
    labels = seg.raw instanceof Uint8Array || seg.raw instanceof Uint16Array || seg.raw instanceof Int32Array ? seg.raw : Int32Array.from(seg.raw);
  }
  const name = path.split('/').pop()!;
  return { id: opts.id ?? name, name, dims: nii.dims, spacing: nii.pixdim, affine: nii.sform, data, sourceFiles: [path], labels };
}
