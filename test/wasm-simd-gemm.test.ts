// src/kernels/wasmSimdGemm.ts (run-time generated, cache-blocked WebAssembly SIMD GEMM) against its CPU twin: on a
// bare WebAssembly.Memory (shared and not; transposed operands, rows left over from the 4-row strips, K over several
// K blocks, C over several tasks, a bias row, broadcast batches), its tasks in any order and through the claim
// protocol the helper threads use (wasmSimdGemmThreads.ts), and inside tfjs-backend-wasm through the matmul policy
// (the default preset's linear layers: forward with bias, dX, dW; the head's 22-row product), where it must really run
// (its product counter moves) and equal the cpu backend. The helper threads themselves run in Chromium
// (e2e/perf-kernels.spec.ts): Node has no module Worker on tfjs's (unshared) heap.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmBatchMatMul } from '../src/kernels/wasmBatchMatMul';
import { gemmTakes, installWasmMatMulPolicy, useWasmSimdGemm } from '../src/backend/wasmMatMulPolicy';
import * as gemm from '../src/kernels/wasmSimdGemm';
import type { GemmExports, GemmJob, GemmShape } from '../src/kernels/wasmSimdGemm';
import { claimAndRun, CONTROL_BYTES, DONE, HelperGovernor, readJob, SLOT, writeJob } from '../src/kernels/wasmSimdGemmThreads';
import { simdSupport } from '../src/kernels/wasmSimdBatchMatMul';
import { maxRelErr } from './helpers/relErr';

const values = (n: number, salt: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + salt) * (1 + (i % 5) * 0.2));
const one = { batch: 1, batchA: 1, batchB: 1 };

const SHAPES: [string, GemmShape, boolean][] = [
  ['a·b', { ...one, m: 12, k: 7, n: 24, transposeA: false, transposeB: false }, false],
  ['aᵀ·b (weight gradient)', { ...one, m: 40, k: 300, n: 16, transposeA: true, transposeB: false }, false],
  ['a·bᵀ (input gradient)', { ...one, m: 9, k: 33, n: 8, transposeA: false, transposeB: true }, false],
  ['aᵀ·bᵀ', { ...one, m: 6, k: 17, n: 32, transposeA: true, transposeB: true }, false],
  ['rows left over (m = 22), bias', { ...one, m: 22, k: 9, n: 16, transposeA: false, transposeB: false }, true],
  ['several tasks and K blocks (m 70, k 600, n 272), bias', { ...one, m: 70, k: 600, n: 272, transposeA: false, transposeB: false }, true],
  ['several tasks and K blocks, aᵀ', { ...one, m: 70, k: 520, n: 264, transposeA: true, transposeB: false }, false],
  ['k = 1', { ...one, m: 5, k: 1, n: 8, transposeA: false, transposeB: false }, true],
  ['one row', { ...one, m: 1, k: 12, n: 8, transposeA: true, transposeB: true }, false],
  ['batch of pairs', { batch: 3, batchA: 3, batchB: 3, m: 8, k: 10, n: 16, transposeA: true, transposeB: true }, false],
  ['one b for every a', { batch: 4, batchA: 4, batchB: 1, m: 7, k: 6, n: 8, transposeA: false, transposeB: true }, false],
  ['one a for every b', { batch: 4, batchA: 1, batchB: 4, m: 8, k: 6, n: 8, transposeA: true, transposeB: false }, true],
];

/** Lays A, B, the bias and C out with gaps in `memory`, runs the product task by task (in `order`), returns C. */
function runBare(
  memory: WebAssembly.Memory,
  x: GemmExports,
  s: GemmShape,
  withBias: boolean,
  order: (total: number) => number[] = (t) => Array.from({ length: t }, (_, i) => i),
  pack = true,
) {
  const a = values(s.batchA * s.m * s.k, 1);
  const b = values(s.batchB * s.k * s.n, 2);
  const bias = withBias ? values(s.n, 3) : undefined;
  const cLen = s.batch * s.m * s.n;
  const aOff = 64;
  const bOff = aOff + 4 * a.length + 32;
  const biasOff = bOff + 4 * b.length + 32;
  const cOff = biasOff + 4 * s.n + 32;
  const scrOff = cOff + 4 * cLen + 64;
  const packOff = scrOff + 4 * b.length + 64;
  const need = packOff + 2 * gemm.SCRATCH_BYTES_PER_THREAD + 64;
  if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  const f = new Float32Array(memory.buffer);
  f.fill(0);
  f.set(a, aOff / 4);
  f.set(b, bOff / 4);
  if (bias) f.set(bias, biasOff / 4);
  f.fill(777, cOff / 4, cOff / 4 + cLen); // stale values: the first K block must overwrite, not accumulate
  f[(cOff >> 2) + cLen] = 12345;
  let bPlain = bOff;
  if (s.transposeB) {
    for (let e = 0; e < s.batchB; e++) x.packT(bOff + 4 * e * s.n * s.k, scrOff + 4 * e * s.k * s.n, s.n, s.k);
    bPlain = scrOff;
  }
  const job: GemmJob = { ...s, a: aOff, b: bPlain, c: cOff, bias: bias ? biasOff : 0, scratch: pack ? packOff : 0 };
  // Tasks alternate between two threads' packing scratch, as with a helper.
  for (const t of order(gemm.gemmTaskCount(s))) gemm.runGemmTask(x, job, t, t % 2);
  return {
    out: new Float32Array(memory.buffer, cOff, cLen).slice(),
    ref: gemm.gemmReference(a, b, s, bias),
    canary: new Float32Array(memory.buffer)[(cOff >> 2) + cLen],
    aKept: Array.from(new Float32Array(memory.buffer, aOff, a.length)).every((v, i) => v === a[i]),
  };
}

describe('wasm SIMD GEMM module (bare memory)', () => {
  const support = simdSupport();
  const flavours = [false, ...(support.relaxed ? [true] : [])];
  for (const relaxed of flavours) {
    for (const shared of [false, true]) {
      it(`${relaxed ? 'relaxed' : 'plain'} SIMD, ${shared ? 'shared' : 'unshared'} memory: every case equals the CPU twin`, () => {
        const memory = shared ? new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 2 });
        const x = gemm.simdGemmFor(memory, relaxed);
        for (const [name, s, withBias] of SHAPES) {
          expect(gemm.gemmFits(s), name).toBe(true);
          for (const pack of [true, false]) {
            const r = runBare(memory, x, s, withBias, undefined, pack);
            const what = `${name}, B ${pack ? 'packed' : 'as stored'}`;
            // float32 rounding grows with k (sums of 600 terms reach ~2e-6).
            expect(maxRelErr(r.out, r.ref), what).toBeLessThan(s.k > 100 ? 1e-5 : 1e-6);
            expect(r.canary, `${what}: wrote past C`).toBe(12345);
            expect(r.aKept, `${what}: A untouched`).toBe(true);
          }
        }
      });
    }
  }

  it('tasks write disjoint blocks: any order gives the same C', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const x = gemm.simdGemmFor(memory, false);
    const s = SHAPES[5][1];
    expect(gemm.gemmTaskCount(s)).toBeGreaterThan(4);
    const forward = runBare(memory, x, s, true);
    const backward = runBare(memory, x, s, true, (t) => Array.from({ length: t }, (_, i) => t - 1 - i));
    expect(Array.from(backward.out)).toEqual(Array.from(forward.out));
  });

  it('the helpers\' claim protocol runs every task once and refuses a finished product\'s generation', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const x = gemm.simdGemmFor(memory, false);
    const s = SHAPES[6][1];
    const expected = runBare(memory, x, s, false, undefined, false);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const ctrl = new Int32Array(control);
    const u = new Uint32Array(control);
    // The job runBare used: same layout.
    const aOff = 64;
    const bOff = aOff + 4 * s.m * s.k + 32;
    const cOff = bOff + 4 * s.k * s.n + 32 + 4 * s.n + 32;
    const job: GemmJob = { ...s, a: aOff, b: bOff, c: cOff, bias: 0, scratch: 0 };
    writeJob(u, job, true);
    expect(readJob(u)).toEqual({ job, relaxed: true });
    new Float32Array(memory.buffer, cOff, s.m * s.n).fill(-1);
    const total = gemm.gemmTaskCount(s);
    Atomics.store(ctrl, SLOT, 5 << 16);
    expect(claimAndRun(ctrl, 4, total, x, job), 'a stale generation claims nothing').toBe(0);
    expect(claimAndRun(ctrl, 5, total, x, job)).toBe(total);
    expect(Atomics.load(ctrl, DONE)).toBe(total);
    expect(claimAndRun(ctrl, 5, total, x, job), 'nothing left').toBe(0);
    expect(Array.from(new Float32Array(memory.buffer, cOff, s.m * s.n))).toEqual(Array.from(expected.out));
  });

  it('the helper governor runs each shape the faster way, explores the other way now and then, and follows a change', () => {
    const g = new HelperGovernor(4, 0.5);
    const shape = '1:128:1408:512:10';
    // First call shared, second alone (no data yet for either).
    expect(g.share(shape)).toBe(true);
    g.record(shape, true, 1.0);
    expect(g.share(shape)).toBe(false);
    g.record(shape, false, 1.8);
    // Shared is faster: shared on every call but every 4th (exploring alone).
    const picks: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const sh = g.share(shape);
      picks.push(sh);
      g.record(shape, sh, sh ? 1.0 : 1.8);
    }
    expect(picks.filter((p) => !p).length).toBe(2);
    // The machine gets busy: shared products stall (5 ms); after a few the governor runs this shape alone.
    for (let i = 0; i < 4; i++) if (g.share(shape)) g.record(shape, true, 5);
    const later: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const sh = g.share(shape);
      later.push(sh);
      g.record(shape, sh, sh ? 5 : 1.8);
    }
    expect(later.filter((p) => p).length, 'shared only when exploring').toBe(2);
    expect(g.averages(shape)!.alone).toBeCloseTo(1.8);
    // Other shapes keep their own averages.
    expect(g.share('1:22:1024:1024:00')).toBe(true);
    expect(g.shared + g.alone).toBe(2 + 8 + 4 + 8 + 1);
  });

  it('refuses shapes it does not cover (8 ∤ n, odd batches)', () => {
    const base = SHAPES[0][1];
    expect(gemm.gemmFits({ ...base, n: 12 })).toBe(false);
    expect(gemm.gemmFits({ ...base, n: 4 })).toBe(false);
    expect(gemm.gemmFits({ ...base, batch: 3, batchA: 2, batchB: 3 })).toBe(false);
  });
});

describe('wasm SIMD GEMM inside tfjs-backend-wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    const stock = tf.getKernel('BatchMatMul', 'wasm')!;
    installWasmBatchMatMul();
    installWasmMatMulPolicy(stock);
    useWasmSimdGemm('all');
  });

  const wasmThenCpu = async (f: () => tf.Tensor) => {
    const out: { shape: number[]; data: Float32Array }[] = [];
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const y = tf.tidy(f);
      out.push({ shape: y.shape, data: (await y.data()) as Float32Array });
      y.dispose();
    }
    return out;
  };

  it("the default preset's linear-layer products (forward with bias, dX, dW) and the head's equal the cpu backend, through the GEMM", async () => {
    const cases: [string, number[], number[], boolean, boolean][] = [
      ['dW fc1 [1408,128]ᵀ·[1408,512]', [1408, 128], [1408, 512], true, false],
      ['dW fc2 [1408,512]ᵀ·[1408,128]', [1408, 512], [1408, 128], true, false],
      ['dX fc1 [1408,512]·[128,512]ᵀ', [1408, 512], [128, 512], false, true],
      ['head [22,1024]·[1024,1024]', [22, 1024], [1024, 1024], false, false],
      ['rank 3, batch 1', [1, 64, 40], [1, 40, 24], false, false],
    ];
    for (const [name, sa, sb, ta, tb] of cases) {
      const av = values(sa.reduce((x, y) => x * y), 3);
      const bv = values(sb.reduce((x, y) => x * y), 4);
      const before = gemm.gemmProductsRun;
      const [got, ref] = await wasmThenCpu(() => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), ta, tb));
      expect(gemm.gemmProductsRun, `${name}: the GEMM ran`).toBe(before + 1);
      expect(got.shape, name).toEqual(ref.shape);
      expect(maxRelErr(got.data, ref.data), name).toBeLessThan(1e-5);
    }
  });

  it('the fused forward (tf.fused.matMul with a bias row) runs on the GEMM and equals the cpu backend', async () => {
    const x = values(1408 * 128, 5);
    const w = values(128 * 384, 6);
    const bias = values(384, 7);
    const before = gemm.gemmProductsRun;
    const [got, ref] = await wasmThenCpu(() => tf.fused.matMul({ a: tf.tensor2d(x, [1408, 128]), b: tf.tensor2d(w, [128, 384]), bias: tf.tensor1d(bias) }));
    expect(gemm.gemmProductsRun, 'the GEMM ran').toBe(before + 1);
    expect(got.shape).toEqual([1408, 384]);
    expect(maxRelErr(got.data, ref.data)).toBeLessThan(1e-5);
    // An activation stays on tfjs's kernel (XNNPACK) and is still right.
    const before2 = gemm.gemmProductsRun;
    const [gotRelu, refRelu] = await wasmThenCpu(() =>
      tf.fused.matMul({ a: tf.tensor2d(x, [1408, 128]), b: tf.tensor2d(w, [128, 384]), bias: tf.tensor1d(bias), activation: 'relu' }),
    );
    expect(gemm.gemmProductsRun, 'relu is not the GEMM\'s').toBe(before2);
    expect(maxRelErr(gotRelu.data, refRelu.data)).toBeLessThan(1e-5);
  });

  it("modes: 'weightGrads' takes only aᵀ·b, 'off' nothing (XNNPACK), and both still give the right product", async () => {
    const dW: GemmShape = { ...one, m: 128, k: 1408, n: 512, transposeA: true, transposeB: false };
    const fwd: GemmShape = { ...one, m: 1408, k: 128, n: 512, transposeA: false, transposeB: false };
    try {
      useWasmSimdGemm('weightGrads');
      expect(gemmTakes(dW)).toBe(true);
      expect(gemmTakes(fwd)).toBe(false);
      useWasmSimdGemm('all');
      expect(gemmTakes(fwd)).toBe(true);
      // k = 22 into a 1024² output stays with XNNPACK; into [1408, 128] it is the GEMM's.
      expect(gemmTakes({ ...one, m: 1024, k: 22, n: 1024, transposeA: true, transposeB: false })).toBe(false);
      expect(gemmTakes({ ...one, m: 1408, k: 22, n: 128, transposeA: true, transposeB: false })).toBe(true);
      // A transposed B for few rows (the head's dX) stays on thinTimesTransposed.
      expect(gemmTakes({ ...one, m: 22, k: 1024, n: 1024, transposeA: false, transposeB: true })).toBe(false);
      useWasmSimdGemm('off');
      expect(gemmTakes(dW)).toBe(false);
      const av = values(300 * 40, 8);
      const bv = values(300 * 16, 9);
      const before = gemm.gemmProductsRun;
      const [got, ref] = await wasmThenCpu(() => tf.matMul(tf.tensor2d(av, [300, 40]), tf.tensor2d(bv, [300, 16]), true, false));
      expect(gemm.gemmProductsRun).toBe(before);
      expect(maxRelErr(got.data, ref.data)).toBeLessThan(1e-5);
    } finally {
      useWasmSimdGemm('all');
    }
  });
});
