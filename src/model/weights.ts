// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header. Written by hand: it is that small.

export interface NamedTensorData {
  name: string;
  shape: number[];
  data: Float32Array;
}

const METADATA_KEY = '__metadata__';
/** Headers larger than this are rejected as corrupt (safetensors' own limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function toSafetensors(named: NamedTensorData[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`toSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const t of named) {
    if (t.name === METADATA_KEY || t.name in header) throw new Error(`toSafetensors: duplicate or reserved tensor name '${t.name}'`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`toSafetensors: '${t.name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (what the reference writer does).
  const jsonBytesLen = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - ((8 + jsonBytesLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of named) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    else for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i], true);
    pos += t.data.byteLength;
  }
  return out;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

export function fromSafetensors(bytes: Uint8Array, source = 'safetensors file'): { tensors: NamedTensorData[]; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new Error(`${source}: ${why}`);
  };
  if (bytes.length < 8) fail(`too short (${bytes.length} bytes) to be a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.length) fail(`header length ${headerLen} does not fit in ${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: NamedTensorData[] = [];
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const width = typeof e?.dtype === 'string' ? DTYPE_BYTES[e.dtype] : undefined;
    if (!width) fail(`tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}; only F32, F64, F16 and BF16 are read`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1] || off[1] > dataLen) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)} (data section is ${dataLen} bytes)`);
    }
    const shape = e.shape as number[];
    const [begin, end] = off as [number, number];
    const size = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== size * width!) fail(`tensor '${name}': ${end - begin} bytes for shape [${shape}] of ${e.dtype}`);
    spans.push([begin, end, name]);
    tensors.push({ name, shape, data: decode(bytes, dataStart + begin, size, e.dtype as string) });
  }
  // The format requires the tensors to tile the data section exactly: no gaps, no overlaps.
  spans.sort((a, b) => a[0] - b[0]);
  let expected = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expected) fail(`tensor '${name}' starts at byte ${begin}, expected ${expected} (gap or overlap)`);
    expected = end;
  }
  if (expected !== dataLen) fail(`data section has ${dataLen - expected} trailing bytes not covered by any tensor`);
  return { tensors, metadata };
}

function decode(bytes: Uint8Array, start: number, size: number, dtype: string): Float32Array {
  // slice() copies into a fresh, aligned buffer that the Float32Array can own.
  if (dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(bytes.slice(start, start + 4 * size).buffer);
  const out = new Float32Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, size * DTYPE_BYTES[dtype]);
  for (let i = 0; i < size; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'F64') out[i] = view.getFloat64(8 * i, true);
    else if (dtype === 'BF16') out[i] = bf16ToFloat(view.getUint16(2 * i, true));
    else out[i] = f16ToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

const scratch = new DataView(new ArrayBuffer(4));
function bf16ToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

function f16ToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
