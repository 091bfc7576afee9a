// src/kernels/wasmSimdBatchMatMul.ts (run-time generated WebAssembly SIMD batched matmul) against its CPU twin:
// on a bare WebAssembly.Memory (shared and not, every transpose case, broadcasts, K = 1), and inside
// tfjs-backend-wasm through the BatchMatMul policy (attention's shapes, all four products of its backward pass),
// where it must really run (its product counter moves) and equal the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmBatchMatMul } from '../src/kernels/wasmBatchMatMul';
import { installWasmMatMulPolicy, useWasmSimdBatchMatMul } from '../src/backend/wasmMatMulPolicy';
import * as simd from '../src/kernels/wasmSimdBatchMatMul';
import type { BatchMatMulShape } from '../src/kernels/wasmSimdBatchMatMul';
import { maxRelErr } from './helpers/relErr';

const values = (n: number, salt: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + salt) * (1 + (i % 5) * 0.2));

const SHAPES: [string, BatchMatMulShape][] = [
  ['a·b', { batch: 3, batchA: 3, batchB: 3, m: 12, k: 7, n: 24, transposeA: false, transposeB: false }],
  ['a·bᵀ (scores)', { batch: 3, batchA: 3, batchB: 3, m: 8, k: 9, n: 16, transposeA: false, transposeB: true }],
  ['aᵀ·b (dv, dk)', { batch: 2, batchA: 2, batchB: 2, m: 16, k: 5, n: 8, transposeA: true, transposeB: false }],
  ['aᵀ·bᵀ', { batch: 2, batchA: 2, batchB: 2, m: 4, k: 11, n: 32, transposeA: true, transposeB: true }],
  ['one b for every a', { batch: 4, batchA: 4, batchB: 1, m: 8, k: 6, n: 8, transposeA: false, transposeB: true }],
  ['one a for every b', { batch: 4, batchA: 1, batchB: 4, m: 8, k: 6, n: 8, transposeA: true, transposeB: false }],
  ['inner 1', { batch: 2, batchA: 2, batchB: 2, m: 4, k: 1, n: 8, transposeA: false, transposeB: false }],
  ['rows left over (m = 22)', { batch: 1, batchA: 1, batchB: 1, m: 22, k: 9, n: 16, transposeA: false, transposeB: false }],
  ['one row', { batch: 2, batchA: 2, batchB: 2, m: 1, k: 7, n: 8, transposeA: true, transposeB: true }],
  ['matrix · vector (row sums)', { batch: 1, batchA: 1, batchB: 1, m: 13, k: 20, n: 1, transposeA: false, transposeB: false }],
  ['matrix · vector, k = 4', { batch: 1, batchA: 1, batchB: 1, m: 3, k: 4, n: 1, transposeA: false, transposeB: true }],
  ['matrixᵀ · vector (column sums)', { batch: 1, batchA: 1, batchB: 1, m: 16, k: 11, n: 1, transposeA: true, transposeB: false }],
];

describe('wasm SIMD batched matmul module (bare memory)', () => {
  const support = simd.simdSupport();
  it('this engine validates the SIMD module', () => {
    console.log(`[simd] Node ${process.versions.node}: SIMD ${support.simd}, relaxed SIMD ${support.relaxed}`);
    expect(support.simd).toBe(true);
  });

  const flavours = [false, ...(support.relaxed ? [true] : [])];
  for (const relaxed of flavours) {
    for (const shared of [false, true]) {
      it(`${relaxed ? 'relaxed' : 'plain'} SIMD, ${shared ? 'shared' : 'unshared'} memory: every case equals the CPU twin`, () => {
        const memory = shared ? new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 2 });
        const kernel = simd.simdBatchMatMulFor(memory, relaxed);
        expect(kernel.relaxed).toBe(relaxed);
        for (const [name, s] of SHAPES) {
          expect(simd.simdFits(s), name).toBe(true);
          const a = values(s.batchA * s.m * s.k, 1);
          const b = values(s.batchB * s.k * s.n, 2);
          const f = new Float32Array(memory.buffer);
          // Offsets with gaps and a canary after C: the kernel must write exactly C.
          const aOff = 64;
          const bOff = aOff + 4 * a.length + 32;
          const cOff = bOff + 4 * b.length + 32;
          const cLen = s.batch * s.m * s.n;
          const scrOff = cOff + 4 * cLen + 64;
          f.fill(0);
          f.set(a, aOff / 4);
          f.set(b, bOff / 4);
          f[(cOff >> 2) + cLen] = 12345;
          kernel.run(s, aOff, bOff, cOff, scrOff);
          const out = new Float32Array(memory.buffer, cOff, cLen);
          expect(maxRelErr(out, simd.batchMatMulReference(a, b, s)), name).toBeLessThan(1e-6);
          expect(f[(cOff >> 2) + cLen], `${name}: wrote past C`).toBe(12345);
          expect(Array.from(new Float32Array(memory.buffer, aOff, a.length)), `${name}: A untouched`).toEqual(Array.from(a));
        }
      });
    }
  }

  it('refuses shapes it does not cover (n % 8 unless a matrix-vector product with 4 | k; odd batches)', () => {
    const base = SHAPES[0][1];
    expect(simd.simdFits({ ...base, n: 12 })).toBe(false);
    expect(simd.simdFits({ ...base, batchA: 2 })).toBe(false);
    expect(simd.simdFits({ ...base, batch: 1, batchA: 1, batchB: 1, n: 1, k: 6 })).toBe(false);
    expect(simd.simdFits({ ...base, batch: 1, batchA: 1, batchB: 1, n: 1, m: 12, transposeA: true })).toBe(false);
  });
});

describe('wasm SIMD batched matmul inside tfjs-backend-wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    const stock = tf.getKernel('BatchMatMul', 'wasm')!;
    installWasmBatchMatMul();
    installWasmMatMulPolicy(stock);
    useWasmSimdBatchMatMul(true);
  });

  it('finds the backend memory', () => {
    expect(simd.wasmBackendMemory(tf.backend())).toBeInstanceOf(WebAssembly.Memory);
  });

  it("attention's products (forward and backward, [44, 64, 64]) equal the cpu backend, through the SIMD kernel", async () => {
    const cases: [string, number[], number[], boolean, boolean][] = [
      ['q·kᵀ', [44, 64, 64], [44, 64, 64], false, true],
      ['p·v', [44, 64, 64], [44, 64, 64], false, false],
      ['pᵀ·dctx', [44, 64, 64], [44, 64, 64], true, false],
      ['dsᵀ·q (rank 4)', [2, 22, 64, 32], [2, 22, 64, 64], true, false],
      ['aᵀ·bᵀ', [8, 32, 16], [8, 24, 32], true, true],
      ['row means [1408,128]·[128,1]', [1408, 128], [128, 1], false, false],
      ['column sums [1408,128]ᵀ·[1408,1]', [1408, 128], [1408, 1], true, false],
      ['one row [1,22]·[22,1024]', [1, 22], [22, 1024], false, false],
    ];
    for (const [name, sa, sb, ta, tb] of cases) {
      const av = values(sa.reduce((x, y) => x * y), 3);
      const bv = values(sb.reduce((x, y) => x * y), 4);
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const y = tf.tidy(() => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), ta, tb));
        const out = { shape: y.shape, data: (await y.data()) as Float32Array };
        y.dispose();
        return out;
      };
      const before = simd.simdProductsRun;
      const got = await run('wasm');
      expect(simd.simdProductsRun, `${name}: the SIMD kernel ran`).toBe(before + 1);
      const ref = await run('cpu');
      expect(got.shape, name).toEqual(ref.shape);
      expect(maxRelErr(got.data, ref.data), name).toBeLessThan(1e-5);
    }
    await tf.setBackend('wasm');
  });

  it('leaks no tensors or heap entries (the transpose scratch is freed)', async () => {
    await tf.setBackend('wasm');
    const be = tf.backend() as unknown as { numDataIds(): number };
    const q = tf.randomNormal([8, 16, 16]);
    const warm = tf.matMul(q, q, false, true);
    warm.dispose();
    const ids = be.numDataIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.matMul(q, q, false, true).dispose();
    expect(be.numDataIds()).toBe(ids);
    expect(tf.memory().numTensors).toBe(tensors);
    q.dispose();
  });

  it('is faster than the stock loop on attention scores [44,64,64]·[44,64,64]ᵀ (logged, not asserted)', async () => {
    await tf.setBackend('wasm');
    const q = tf.randomNormal([44, 64, 64]);
    const best = () => {
      const t: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const y = tf.matMul(q, q, false, true);
        y.dataSync();
        y.dispose();
        t.push(performance.now() - t0);
      }
      return Math.min(...t);
    };
    const flops = 2 * 44 * 64 ** 3;
    useWasmSimdBatchMatMul(false);
    const stock = best();
    useWasmSimdBatchMatMul(true);
    const fast = best();
    console.log(`[simd] scores: stock loop ${stock.toFixed(2)} ms (${(flops / stock / 1e6).toFixed(1)} GFLOP/s), SIMD ${fast.toFixed(2)} ms (${(flops / fast / 1e6).toFixed(1)} GFLOP/s)`);
    q.dispose();
  });
});
