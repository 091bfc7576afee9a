// A minimal WebAssembly binary writer: enough to build small SIMD kernels at run time, with no toolchain
// (no emscripten/clang in the build) and no committed binary. A module here imports one memory (the memory of
// tfjs-backend-wasm, shared or not) and exports functions whose bodies are written as opcode lists.
// Opcodes: the WebAssembly core spec (MVP, SIMD 128) and the relaxed-SIMD proposal (f32x4.relaxed_madd).

export type ValType = 'i32' | 'f32' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit values). */
function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Instruction encoders: each returns the bytes of one instruction. Memory offsets are static byte offsets. */
export const op = {
  block: () => [0x02, 0x40],
  loop: () => [0x03, 0x40],
  if: () => [0x04, 0x40],
  else: () => [0x05],
  end: () => [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  return: () => [0x0f],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  f32Load: (offset = 0) => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0) => [0x38, 2, ...uleb(offset)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  f32Const: (v: number) => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)],
  i32Eqz: () => [0x45],
  i32Ne: () => [0x47],
  i32LtS: () => [0x48],
  i32GtS: () => [0x4a],
  i32GeS: () => [0x4e],
  i32LeS: () => [0x4c],
  i32Add: () => [0x6a],
  i32Sub: () => [0x6b],
  i32Mul: () => [0x6c],
  i32Shl: () => [0x74],
  f32Sqrt: () => [0x91],
  f32Add: () => [0x92],
  f32Sub: () => [0x93],
  f32Mul: () => [0x94],
  f32Div: () => [0x95],
  f32Max: () => [0x97],
  // SIMD (prefix 0xfd, LEB-encoded sub-opcode). Loads/stores use alignment hint 2 (4 bytes): float32 data.
  v128Load: (offset = 0) => [0xfd, ...uleb(0x00), 2, ...uleb(offset)],
  v128Store: (offset = 0) => [0xfd, ...uleb(0x0b), 2, ...uleb(offset)],
  /** Loads one f32 and fills all four lanes with it (one broadcast load on x86). */
  v128Load32Splat: (offset = 0) => [0xfd, ...uleb(0x09), 2, ...uleb(offset)],
  f32x4Splat: () => [0xfd, ...uleb(0x13)],
  f32x4ExtractLane: (lane: number) => [0xfd, ...uleb(0x1f), lane],
  f32x4Add: () => [0xfd, ...uleb(0xe4)],
  f32x4Sub: () => [0xfd, ...uleb(0xe5)],
  f32x4Mul: () => [0xfd, ...uleb(0xe6)],
  f32x4Div: () => [0xfd, ...uleb(0xe7)],
  f32x4Sqrt: () => [0xfd, ...uleb(0xe3)],
  f32x4Max: () => [0xfd, ...uleb(0xe9)],
  f32x4Min: () => [0xfd, ...uleb(0xe8)],
  f32x4Neg: () => [0xfd, ...uleb(0xe1)],
  /** Round to nearest, ties to even. */
  f32x4Nearest: () => [0xfd, ...uleb(0x6a)],
  i32x4Splat: () => [0xfd, ...uleb(0x11)],
  i32x4Add: () => [0xfd, ...uleb(0xae)],
  /** Stack: vector, i32 shift count. */
  i32x4Shl: () => [0xfd, ...uleb(0xab)],
  i32x4TruncSatF32x4S: () => [0xfd, ...uleb(0xf8)],
  /** Relaxed SIMD: a·b + c, fused or not at the engine's choice. Stack: a, b, c. */
  f32x4RelaxedMadd: () => [0xfd, ...uleb(0x105)],
};

const splat = (v: number) => [op.f32Const(v), op.f32x4Splat()];

/**
 * e^z for the v128 in local `z` (clobbers the v128 locals n, r, p); pushes the result. e^z = 2^n · e^r with
 * n = round(z·log₂e), r = z − n·ln2 (ln2 in two parts), e^r by its degree-6 Taylor polynomial (|r| ≤ ln2/2: relative
 * error < 2e-7), 2^n built in the exponent bits; z clamped to ±87 first (float32's range).
 */
export function simdExp(L: Record<'z' | 'n' | 'r' | 'p', number>): number[][] {
  const g = (k: 'z' | 'n' | 'r' | 'p') => op.get(L[k]);
  const s = (k: 'z' | 'n' | 'r' | 'p') => op.set(L[k]);
  const taylor = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1];
  return [
    g('z'), ...splat(87), op.f32x4Min(), ...splat(-87), op.f32x4Max(), s('z'),
    g('z'), ...splat(Math.LOG2E), op.f32x4Mul(), op.f32x4Nearest(), s('n'),
    // r = z − n·0.693359375 − n·(−2.12194440e-4): ln2 in two parts, the first exact in few bits.
    g('z'), g('n'), ...splat(0.693359375), op.f32x4Mul(), op.f32x4Sub(), g('n'), ...splat(-2.12194440e-4), op.f32x4Mul(), op.f32x4Sub(), s('r'),
    // Horner: p = (((((r/720 + 1/120)·r + 1/24)·r + 1/6)·r + 1/2)·r + 1)·r + 1
    ...splat(taylor[0]), s('p'),
    ...taylor.slice(1).flatMap((c) => [g('p'), g('r'), op.f32x4Mul(), ...splat(c), op.f32x4Add(), s('p')]),
    // 2^n: (n + 127) << 23 as float bits.
    g('p'), g('n'), op.i32x4TruncSatF32x4S(), op.i32Const(127), op.i32x4Splat(), op.i32x4Add(), op.i32Const(23), op.i32x4Shl(), op.f32x4Mul(),
  ];
}


export interface WasmFunction {
  name: string;
  params: ValType[];
  /** Extra locals after the params, in order. */
  locals: ValType[];
  body: number[][];
}

export interface MemoryImport {
  /** Import names, e.g. ['env', 'memory']. */
  module: string;
  field: string;
  /** Pages (64 KiB) at least; the maximum is required for a shared memory. */
  minPages: number;
  maxPages?: number;
  shared: boolean;
}

/** Encodes a module: one imported memory, the functions (each its own type), all exported by name. */
export function assembleModule(memory: MemoryImport, functions: WasmFunction[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((p) => [VALTYPE[p]])), 0x00]);
  const limits = memory.shared
    ? [0x03, ...uleb(memory.minPages), ...uleb(memory.maxPages ?? 65536)]
    : memory.maxPages !== undefined
      ? [0x01, ...uleb(memory.minPages), ...uleb(memory.maxPages)]
      : [0x00, ...uleb(memory.minPages)];
  const imports = vec([[...str(memory.module), ...str(memory.field), 0x02, ...limits]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(functions.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]));
  const codes = vec(
    functions.map((f) => {
      // Locals as runs of one type.
      const runs: number[][] = [];
      for (const t of f.locals) {
        const last = runs[runs.length - 1];
        if (last && last[1] === VALTYPE[t]) last[0]++;
        else runs.push([1, VALTYPE[t]]);
      }
      const body = [...vec(runs.map(([count, type]) => [...uleb(count), type])), ...f.body.flat(), 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, codes),
  ];
  return new Uint8Array(bytes);
}

/** Names locals so that bodies read as code: `const L = locals(['a', 'i32'], …)` gives indices by name. */
export function localIndex<N extends string>(params: readonly N[], extra: readonly (readonly [N, ValType])[]): Record<N, number> {
  const out = {} as Record<N, number>;
  [...params, ...extra.map(([n]) => n)].forEach((n, i) => {
    if (n in out) throw new Error(`wasmAsm: local '${n}' named twice`);
    out[n] = i;
  });
  return out;
}
