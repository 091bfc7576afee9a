// Reading file bytes with progress, and NIfTI bytes with early checks: the header is read as soon
// as the first bytes are decompressed, so a volume too large for the browser is refused before
// gigabytes are inflated, and a truncated file is named as such instead of failing somewhere later.
import { isNIFTI, readHeader } from 'nifti-reader-js';
import { formatBytes, MAX_BYTES, sizeProblem } from './limits';

export class IngestError extends Error {}

export type Progress = (fraction: number, stage: string) => void;

/** Whole file as an ArrayBuffer, reporting progress while it streams in. */
export async function readWithProgress(file: File, onProgress: Progress, stage = 'reading'): Promise<ArrayBuffer> {
  if (file.size > MAX_BYTES) throw new IngestError(`the file is ${formatBytes(file.size)}: larger than the browser limit of ${formatBytes(MAX_BYTES)}`);
  const out = new Uint8Array(file.size);
  let offset = 0;
  const reader = file.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value, offset);
    offset += value.length;
    onProgress(offset / Math.max(1, file.size), stage);
  }
  return out.buffer;
}

interface NiftiLayout {
  /** Bytes the header announces: vox_offset + every voxel of every frame. */
  expectedBytes: number;
  dims: number[];
}

function niftiLayout(bytes: Uint8Array, fileName: string): NiftiLayout {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!isNIFTI(ab)) throw new IngestError('not a NIfTI file: its header has no NIfTI magic (n+1/ni1/n+2)');
  const hdr = readHeader(ab);
  if (!hdr) throw new IngestError('the NIfTI header could not be read');
  const nd = hdr.dims[0];
  const dims = hdr.dims.slice(1, 1 + Math.max(3, nd)).map((d: number) => Math.max(1, d));
  const bytesPerVoxel = hdr.numBitsPerVoxel / 8;
  if (!(bytesPerVoxel > 0)) throw new IngestError(`unsupported NIfTI datatype code ${hdr.datatypeCode}`);
  const frames = dims.slice(3).reduce((a: number, b: number) => a * b, 1);
  const tooBig = sizeProblem(dims, bytesPerVoxel, frames);
  if (tooBig) throw new IngestError(tooBig);
  const voxels = dims[0] * dims[1] * dims[2] * frames;
  void fileName;
  return { expectedBytes: Math.ceil(hdr.vox_offset) + voxels * bytesPerVoxel, dims };
}

/** Bytes needed before the header can be parsed (NIfTI-2 header is 540 bytes). */
const HEADER_BYTES = 540;

/**
 * Read a .nii or .nii.gz into an uncompressed ArrayBuffer holding exactly the bytes its header announces.
 * Progress counts compressed bytes consumed, which is what the user waits for.
 */
export async function readNiftiBytes(file: File, gzip: boolean, onProgress: Progress): Promise<ArrayBuffer> {
  if (file.size > MAX_BYTES) throw new IngestError(`the file is ${formatBytes(file.size)}: larger than the browser limit of ${formatBytes(MAX_BYTES)}`);
  let consumed = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      consumed += chunk.length;
      ctl.enqueue(chunk);
    },
  });
  let stream: ReadableStream<Uint8Array> = file.stream().pipeThrough(counter);
  if (gzip) stream = stream.pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
  const reader = stream.getReader();

  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let layout: NiftiLayout | null = null;
  let out: Uint8Array | null = null;
  let written = 0;
  const stage = gzip ? 'decompressing' : 'reading';

  const place = (chunk: Uint8Array) => {
    const room = out!.length - written;
    if (room <= 0) return; // trailing bytes past the announced data are ignored
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    out!.set(part, written);
    written += part.length;
  };
  const tryLayout = (final: boolean) => {
    if (layout || (pendingBytes < HEADER_BYTES && !final)) return;
    const head = concat(pending, pendingBytes);
    if (head.length < 348) throw new IngestError(`the file holds only ${head.length} bytes: too short for a NIfTI header (truncated?)`);
    layout = niftiLayout(head, file.name);
    out = new Uint8Array(layout.expectedBytes);
    for (const c of pending) place(c);
    pending.length = 0;
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (out) place(value);
      else {
        pending.push(value);
        pendingBytes += value.length;
        tryLayout(false);
      }
      onProgress(consumed / Math.max(1, file.size), stage);
    }
    tryLayout(true);
  } catch (e) {
    if (e instanceof IngestError) throw e;
    if (gzip)
      throw new IngestError(
        `the gzip data is cut short or corrupt after ${formatBytes(consumed)} of ${formatBytes(file.size)} (truncated download?): ${(e as Error).message}`,
      );
    throw new IngestError(`the file could not be read: ${(e as Error).message}`);
  }
  if (!layout || !out) throw new IngestError('the file is empty');
  const { expectedBytes } = layout as NiftiLayout;
  if (written < expectedBytes)
    throw new IngestError(
      `the file ends early: it holds ${formatBytes(written)} of the ${formatBytes(expectedBytes)} that its header announces (truncated?)`,
    );
  return (out as Uint8Array).buffer as ArrayBuffer;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return all;
}

/**
 * The voxel size as the file states it, checked before any reader "repairs" it (NiiVue turns a pixdim of 0
 * into 1 mm, which would silently train on a wrong geometry). A zero or invalid pixdim is an error unless an
 * sform gives the voxel axes; then the sform is used, with a warning.
 */
export function niftiVoxelSizeCheck(bytes: ArrayBuffer): { error?: string; warning?: string } {
  const hdr = readHeader(bytes);
  if (!hdr) return {};
  const axes = ['i', 'j', 'k'];
  const bad = [1, 2, 3].filter((i) => !(Math.abs(hdr.pixDims[i]) > 0) || !Number.isFinite(hdr.pixDims[i]));
  if (bad.length === 0) return {};
  const what = bad.map((i) => `${axes[i - 1]} (pixdim[${i}] = ${hdr.pixDims[i]})`).join(', ');
  const a = hdr.affine;
  const sformSizes = [0, 1, 2].map((c) => Math.hypot(a[0][c], a[1][c], a[2][c]));
  if (hdr.sform_code > 0 && sformSizes.every((v) => v > 0 && Number.isFinite(v)))
    return { warning: `the header gives voxel size 0 mm along ${what}; using the sform's voxel size ${sformSizes.map((v) => +v.toFixed(3)).join(' × ')} mm` };
  return { error: `voxel size 0 mm along ${what}, and no sform to take it from: the scan's geometry is unknown` };
}
