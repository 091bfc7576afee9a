// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header. This module parses the header
// (shared with src/model/weights.ts), reads a file lazily from a Blob (one tensor at a time) and writes
// files of any dtype as a list of pieces.
import type { ByteSource } from './byteSource';
import { DTYPE_BYTES, SAFETENSORS_DTYPES, TO_SAFETENSORS_DTYPE, type TorchDType } from './dtypes';

export const METADATA_KEY = '__metadata__';
/** Headers larger than this are rejected as corrupt (safetensors' own limit is 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: TorchDType;
  /** The dtype as the file names it (F32, F16, …). */
  fileDtype: string;
  shape: number[];
  /** Byte range in the data section. */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {}

/** Parses and checks a header against a data section of `dataLen` bytes; entries in file order. */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  dataLen: number,
  source: string,
): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${source}: ${why}`);
  };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e?.dtype === 'string' ? SAFETENSORS_DTYPES[e.dtype] : undefined;
    if (!dtype) fail(`tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}, which is not read (${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1] || off[1] > dataLen) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)} (data section is ${dataLen} bytes)`);
    }
    const shape = e.shape as number[];
    const [begin, end] = off as [number, number];
    const size = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== size * DTYPE_BYTES[dtype!]) fail(`tensor '${name}': ${end - begin} bytes for shape [${shape}] of ${e.dtype}`);
    entries.push({ name, dtype: dtype!, fileDtype: e.dtype as string, shape, begin, end });
  }
  // The format requires the tensors to tile the data section exactly: no gaps, no overlaps.
  const spans = [...entries].sort((a, b) => a.begin - b.begin);
  let expected = 0;
  for (const s of spans) {
    if (s.begin !== expected) fail(`tensor '${s.name}' starts at byte ${s.begin}, expected ${expected} (gap or overlap)`);
    expected = s.end;
  }
  if (expected !== dataLen) fail(`data section has ${dataLen - expected} trailing bytes not covered by any tensor`);
  return { entries, metadata };
}

/** Reads the 8-byte length; returns it or throws when it cannot be a header of this file. */
export function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) throw new SafetensorsError(`${source}: too short (${fileSize} bytes) to be a safetensors file`);
  const n = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > fileSize) throw new SafetensorsError(`${source}: header length ${n} does not fit in ${fileSize} bytes (not a safetensors file, or truncated)`);
  return n;
}

export interface SafetensorsFile {
  kind: 'safetensors';
  source: string;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** The entry's raw little-endian bytes (a fresh array). */
  read(entry: SafetensorsEntry): Promise<Uint8Array>;
}

/** Opens a safetensors file lazily: only the header is read now. */
export async function openSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const n = headerLength(await src.read(0, Math.min(8, src.size)), src.size, src.name);
  const dataStart = 8 + n;
  const { entries, metadata } = parseSafetensorsHeader(await src.read(8, n), src.size - dataStart, src.name);
  return {
    kind: 'safetensors',
    source: src.name,
    entries,
    metadata,
    async read(e) {
      return (await src.read(dataStart + e.begin, e.end - e.begin)).slice();
    },
  };
}

export interface RawTensor {
  name: string;
  dtype: TorchDType;
  shape: number[];
  /** Little-endian elements, contiguous. */
  bytes: Uint8Array;
}

/** Writes a safetensors file as pieces (header, then each tensor's bytes as given: no copy). */
export function writeSafetensors(tensors: RawTensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata '${k}' must be a string`);
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY || t.name in header) throw new Error(`writeSafetensors: duplicate or reserved tensor name '${t.name}'`);
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (bytes !== t.bytes.length) throw new Error(`writeSafetensors: '${t.name}' has ${t.bytes.length} bytes for shape [${t.shape}] of ${t.dtype}`);
    header[t.name] = { dtype: TO_SAFETENSORS_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (what the reference writer does).
  const len = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - ((8 + len) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [prefix, headerBytes, ...tensors.map((t) => t.bytes)];
}
