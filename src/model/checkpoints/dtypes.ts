// Element types of checkpoint tensors (torch names), their sizes, and conversion of raw little-endian bytes
// to float32 (what the studio computes in) or to integers (buffers that are only checked).

export type TorchDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const DTYPE_BYTES: Record<TorchDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export const isFloatDType = (d: TorchDType) => d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';

/** safetensors dtype names ↔ torch names. */
export const SAFETENSORS_DTYPES: Record<string, TorchDType> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
export const TO_SAFETENSORS_DTYPE: Record<TorchDType, string> = Object.fromEntries(
  Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k]),
) as Record<TorchDType, string>;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const scratch = new DataView(new ArrayBuffer(4));

export function bf16ToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

export function f16ToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let F16_TABLE: Float32Array | null = null;
/** Every float16 bit pattern as float32 (256 KB, built once). */
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) F16_TABLE[b] = f16ToFloat(b);
  }
  return F16_TABLE;
}

/** Raw little-endian elements → float32 (float16/bfloat16 exactly; float64 and integers rounded to nearest). */
/** A fresh copy that owns its buffer, also for a Node Buffer (whose slice() shares memory). */
function copyBytes(raw: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(raw);
}

export function toFloat32(raw: Uint8Array, dtype: TorchDType): Float32Array {
  const n = raw.length / DTYPE_BYTES[dtype];
  if (!Number.isInteger(n)) throw new Error(`toFloat32: ${raw.length} bytes is not a whole number of ${dtype} elements`);
  if (dtype === 'float32' && LITTLE_ENDIAN) {
    // A copy into a fresh, aligned buffer the Float32Array owns (Uint8Array's slice: a Node Buffer's own
    // slice() is a view into its shared pool, whose .buffer is not these bytes).
    return new Float32Array(copyBytes(raw).buffer);
  }
  if ((dtype === 'float16' || dtype === 'bfloat16') && LITTLE_ENDIAN) {
    // 16-bit halves through a Uint16Array (aligned copy when needed): float16 by table, bfloat16 by shift.
    const halves = raw.byteOffset % 2 === 0 ? new Uint16Array(raw.buffer, raw.byteOffset, n) : new Uint16Array(copyBytes(raw).buffer);
    if (dtype === 'float16') {
      const table = f16Table();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[halves[i]];
      return out;
    }
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = halves[i] << 16;
    return new Float32Array(bits.buffer);
  }
  const out = new Float32Array(n);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'float32':
        out[i] = v.getFloat32(4 * i, true);
        break;
      case 'float16':
        out[i] = f16ToFloat(v.getUint16(2 * i, true));
        break;
      case 'bfloat16':
        out[i] = bf16ToFloat(v.getUint16(2 * i, true));
        break;
      case 'float64':
        out[i] = v.getFloat64(8 * i, true);
        break;
      case 'int64':
        out[i] = Number(v.getBigInt64(8 * i, true));
        break;
      case 'int32':
        out[i] = v.getInt32(4 * i, true);
        break;
      case 'int16':
        out[i] = v.getInt16(2 * i, true);
        break;
      case 'int8':
        out[i] = v.getInt8(i);
        break;
      case 'uint8':
      case 'bool':
        out[i] = raw[i];
        break;
    }
  }
  return out;
}

/** Raw little-endian integer elements → JS numbers (exact up to 2^53). */
export function toIntegers(raw: Uint8Array, dtype: TorchDType): number[] {
  if (isFloatDType(dtype)) throw new Error(`toIntegers: ${dtype} is not an integer type`);
  return Array.from(integersAsFloat64(raw, dtype));
}

function integersAsFloat64(raw: Uint8Array, dtype: TorchDType): Float64Array {
  const n = raw.length / DTYPE_BYTES[dtype];
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] =
      dtype === 'int64'
        ? v.getUint32(8 * i, true) + v.getInt32(8 * i + 4, true) * 2 ** 32
        : dtype === 'int32'
          ? v.getInt32(4 * i, true)
          : dtype === 'int16'
            ? v.getInt16(2 * i, true)
            : dtype === 'int8'
              ? v.getInt8(i)
              : raw[i];
  }
  return out;
}

/** float32 values → raw little-endian bytes (a view when the platform is little-endian). */
export function float32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) v.setFloat32(4 * i, data[i], true);
  return out;
}

/** Integers → raw little-endian int64 bytes. */
export function int64Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isSafeInteger(x)) throw new Error(`int64Bytes: ${x} is not an integer`);
    const hi = Math.floor(x / 2 ** 32);
    v.setUint32(8 * i, x - hi * 2 ** 32, true);
    v.setInt32(8 * i + 4, hi, true);
  }
  return out;
}

/** Swaps every element's bytes in place (big-endian checkpoints). */
export function swapBytes(raw: Uint8Array, dtype: TorchDType): void {
  const w = DTYPE_BYTES[dtype];
  if (w === 1) return;
  for (let i = 0; i < raw.length; i += w) raw.subarray(i, i + w).reverse();
}
