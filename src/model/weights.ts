// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header. Written by hand: it is that small.
// The header parser and the dtype conversions are shared with the checkpoint readers (./checkpoints/).
import { isFloatDType, toFloat32 } from './checkpoints/dtypes';
import { headerLength, METADATA_KEY, parseSafetensorsHeader } from './checkpoints/safetensors';

export interface NamedTensorData {
  name: string;
  shape: number[];
  data: Float32Array;
}

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


export function fromSafetensors(bytes: Uint8Array, source = 'safetensors file'): { tensors: NamedTensorData[]; metadata: Record<string, string> } {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + n;
  const { entries, metadata } = parseSafetensorsHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, source);
  const tensors = entries.map((e) => {
    if (!isFloatDType(e.dtype)) throw new Error(`${source}: tensor '${e.name}' has dtype "${e.fileDtype}"; only F32, F64, F16 and BF16 are read`);
    return { name: e.name, shape: e.shape, data: toFloat32(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype) };
  });
  return { tensors, metadata };
}
