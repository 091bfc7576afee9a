// Half precision (IEEE binary16) on the CPU: the twin of the WebGPU half-precision storage path
// (castToHalf.ts, matMulPackedHalf.ts). Conversion rounds to nearest, ties to even, exactly as the WGSL cast does
// (the WGSL builtin pack2x16float leaves its rounding to the implementation, so the cast spells it out in integer
// arithmetic and both sides agree bit for bit). Node 20 has no Float16Array, hence our own conversion.
//
// Packed layout (shared by both sides): a [.., rows, cols] tensor becomes [.., rows, ceil(cols / 2)] u32 words
// (int32 tensors in tfjs); word j of a row holds column 2j in its low 16 bits and column 2j + 1 in its high 16 bits
// (0 past the last column). Little-endian, so the bytes are also an array<f16> of rows padded to an even length.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** binary16 unit roundoff (half an ulp at 1): the relative error of one rounding to half. */
export const HALF_UNIT_ROUNDOFF = 2 ** -11;
/** The largest finite half; larger magnitudes round to ±Infinity. */
export const HALF_MAX = 65504;

/** The binary16 bits nearest to x (first rounded to float32, as the GPU holds it); ties to even; NaN → 0x7e00. */
export function halfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? 0x7e00 : sign | 0x7c00;
  if (exp >= 143) return sign | 0x7c00; // ≥ 2^16: beyond any rounding to 65504
  if (exp >= 113) {
    // Normal half: keep 10 of 23 mantissa bits; a carry out of the mantissa bumps the exponent (up to Infinity).
    let q = ((exp - 112) << 10) | (mant >>> 13);
    const r = mant & 0x1fff;
    if (r > 0x1000 || (r === 0x1000 && q & 1)) q++;
    return sign | q;
  }
  // Subnormal half (or zero): the value in units of 2^-24, rounded; may round up to the smallest normal (0x400).
  const shift = 126 - exp;
  if (shift > 24) return sign;
  const m = exp === 0 ? mant : mant | 0x800000;
  let q = m >>> shift;
  const r = m - q * 2 ** shift;
  const halfway = 2 ** (shift - 1);
  if (r > halfway || (r === halfway && q & 1)) q++;
  return sign | q;
}

/** The value of binary16 bits h (exact in float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** x rounded to the nearest half, as a number. */
export const roundToHalf = (x: number): number => halfToFloat(halfBits(x));

/** Every value rounded to half (a new array). */
export function roundArrayToHalf(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = halfToFloat(halfBits(x[i]));
  return out;
}

/** Words per packed row of `cols` halves. */
export const halfWordsPerRow = (cols: number): number => Math.ceil(cols / 2);

/** CPU twin of the cast kernel: row-major values of rows × cols (rows may include leading batch dims) → packed words. */
export function packHalfRows(x: ArrayLike<number>, cols: number): Uint32Array {
  if (cols < 1 || x.length % cols !== 0) throw new Error(`packHalfRows: ${x.length} values are not whole rows of ${cols}`);
  const rows = x.length / cols;
  const w = halfWordsPerRow(cols);
  const out = new Uint32Array(rows * w);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < w; j++) {
      const c = 2 * j;
      const lo = halfBits(x[r * cols + c]);
      const hi = c + 1 < cols ? halfBits(x[r * cols + c + 1]) : 0;
      out[r * w + j] = (lo | (hi << 16)) >>> 0;
    }
  }
  return out;
}

/** Inverse of packHalfRows: the (half-rounded) values of rows × cols. */
export function unpackHalfRows(words: ArrayLike<number>, cols: number): Float32Array {
  const w = halfWordsPerRow(cols);
  const rows = words.length / w;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const word = words[r * w + (c >> 1)] >>> 0;
      out[r * cols + c] = halfToFloat(c & 1 ? word >>> 16 : word & 0xffff);
    }
  }
  return out;
}

/**
 * CPU twin of the packed-half matmul: C[b] = op(A[b or 0]) · op(B[b or 0]) with both operands rounded to half and
 * the sum accumulated in float32 in k order, as the GPU does (a product of two halves is exact in float32, so fma
 * and multiply-then-add round alike). a, b: float32 values in their stored layouts ([batch, rows, cols]).
 */
export function matMulHalfCPU(
  a: ArrayLike<number>, aShape: [number, number, number], b: ArrayLike<number>, bShape: [number, number, number],
  transposeA: boolean, transposeB: boolean,
): { values: Float32Array; shape: [number, number, number] } {
  const [batchA, ar, ac] = aShape;
  const [batchB, br, bc] = bShape;
  const m = transposeA ? ac : ar, k = transposeA ? ar : ac, n = transposeB ? br : bc;
  if ((transposeB ? bc : br) !== k) throw new Error(`matMulHalfCPU: inner dimensions ${k} and ${transposeB ? bc : br} differ`);
  const batch = Math.max(batchA, batchB);
  const ah = roundArrayToHalf(a), bh = roundArrayToHalf(b);
  const out = new Float32Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = (batchA === 1 ? 0 : t) * ar * ac;
    const bo = (batchB === 1 ? 0 : t) * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) {
          acc = Math.fround(acc + ah[ao + (transposeA ? q * ac + i : i * ac + q)] * bh[bo + (transposeB ? j * bc + q : q * bc + j)]);
        }
        out[(t * m + i) * n + j] = acc;
      }
    }
  }
  return { values: out, shape: [batch, m, n] };
}

/**
 * Bound on |C_half − C_f32| per output for inputs |a|, |b| rounded to half: each operand carries a relative error of
 * at most u = 2^-11, so each product at most (2u + u²)·|a||b|, and float32 accumulation adds γ_K = K·2^-24 of
 * Σ|a||b| on each side. Returned per output as a multiplier of Σ_k |a_ik||b_kj|.
 */
export function halfMatMulErrorFactor(k: number): number {
  const u = HALF_UNIT_ROUNDOFF;
  return 2 * u + u * u + 2 * k * 2 ** -24;
}

export interface HalfMatMulCheck {
  values: number;
  /** Outputs bit-equal to the twin (matMulHalfCPU). */
  bitEqual: number;
  /** Worst |got − twin| in units of 4 float32 ulps of Σ|a||b| (≤ 1 passes; room for a compiler that contracts differently). */
  twinWorst: number;
  /** Worst |got − exact| over the f16 bound halfMatMulErrorFactor(K)·Σ|a||b| (≤ 1 passes). */
  boundWorst: number;
  /** Worst |got − exact| over float32's own bound K·2^-24·Σ|a||b|: above 1 shows the operands really were rounded to f16. */
  f16Effect: number;
  k: number;
}

/**
 * Parity of a GPU result of the half-precision matmul (float32 values of shape [batch, m, n]) with the CPU twin
 * (tight) and with the exact float64 product of the float32 operands (within the f16 bound). Shapes as matMulHalfCPU.
 */
export function checkHalfMatMul(
  got: ArrayLike<number>, a: ArrayLike<number>, aShape: [number, number, number], b: ArrayLike<number>, bShape: [number, number, number],
  transposeA: boolean, transposeB: boolean,
): HalfMatMulCheck {
  const twin = matMulHalfCPU(a, aShape, b, bShape, transposeA, transposeB).values;
  if (got.length !== twin.length) throw new Error(`checkHalfMatMul: ${got.length} values, the twin has ${twin.length}`);
  const [batchA, ar, ac] = aShape, [batchB, br, bc] = bShape;
  const m = transposeA ? ac : ar, k = transposeA ? ar : ac, n = transposeB ? br : bc;
  const r: HalfMatMulCheck = { values: got.length, bitEqual: 0, twinWorst: 0, boundWorst: 0, f16Effect: 0, k };
  for (let t = 0; t < twin.length / (m * n); t++) {
    const ao = (batchA === 1 ? 0 : t) * ar * ac, bo = (batchB === 1 ? 0 : t) * br * bc;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let exact = 0, mag = 0;
      for (let q = 0; q < k; q++) {
        const p = a[ao + (transposeA ? q * ac + i : i * ac + q)] * b[bo + (transposeB ? j * bc + q : q * bc + j)];
        exact += p;
        mag += Math.abs(p);
      }
      const at = (t * m + i) * n + j;
      if (got[at] === twin[at]) r.bitEqual++;
      r.twinWorst = Math.max(r.twinWorst, Math.abs(got[at] - twin[at]) / (mag * 4 * 2 ** -24 + 1e-30));
      r.boundWorst = Math.max(r.boundWorst, Math.abs(got[at] - exact) / (halfMatMulErrorFactor(k) * mag + 1e-30));
      r.f16Effect = Math.max(r.f16Effect, Math.abs(got[at] - exact) / (k * 2 ** -24 * mag + 1e-30));
    }
  }
  return r;
}
