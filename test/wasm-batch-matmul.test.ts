// src/kernels/wasmBatchMatMul.ts: the wasm BatchMatMul fast paths give the cpu backend's products (all transpose
// flags, batches, broadcasts, ranks 2–4), leak nothing, and carry the whole model (forward + every gradient).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWasmBatchMatMul, uninstallWasmBatchMatMul, wasmBatchMatMulInstalled } from '../src/kernels/wasmBatchMatMul';
import { compareWithCpu } from '../src/selftest/model';

type Case = [name: string, a: number[], b: number[], transposeA: boolean, transposeB: boolean];
const CASES: Case[] = [
  ['2-D plain (XNNPACK already)', [37, 29], [29, 41], false, false],
  ['2-D aᵀ·b (weight gradient)', [29, 37], [29, 41], true, false],
  ['2-D a·bᵀ (input gradient)', [37, 29], [41, 29], false, true],
  ['2-D aᵀ·bᵀ', [29, 37], [41, 29], true, true],
  ['batch of pairs (attention)', [6, 17, 13], [6, 13, 19], false, false],
  ['batch a·bᵀ (scores)', [6, 17, 13], [6, 19, 13], false, true],
  ['batch aᵀ·b', [6, 13, 17], [6, 13, 19], true, false],
  ['batch aᵀ·bᵀ', [6, 13, 17], [6, 19, 13], true, true],
  ['batch against one b (3-D × 2-D)', [5, 17, 13], [13, 19], false, false],
  ['batch against one bᵀ', [5, 17, 13], [19, 13], false, true],
  ['one a against a batch (2-D × 3-D)', [17, 13], [5, 13, 19], false, false],
  ['one aᵀ against a batch of bᵀ', [13, 17], [5, 19, 13], true, true],
  ['rank 4', [2, 3, 17, 13], [2, 3, 13, 19], false, false],
  ['rank 4 against broadcast [1,1,…]ᵀ', [2, 3, 17, 13], [1, 1, 19, 13], false, true],
  ['single row (m = 1)', [1, 64], [64, 33], false, false],
  ['inner 1 (outer product)', [8, 1], [1, 9], false, false],
];

function values(shape: number[], salt: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.913 + salt) * (1 + (i % 7) * 0.1));
}

async function products(backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return Promise.all(
    CASES.map(async ([, sa, sb, ta, tb], i) => {
      const y = tf.tidy(() => tf.matMul(tf.tensor(values(sa, i), sa), tf.tensor(values(sb, i + 100), sb), ta, tb));
      const d = (await y.data()) as Float32Array;
      y.dispose();
      return d;
    }),
  );
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});
afterAll(() => installWasmBatchMatMul()); // leave it as initBackend would

describe('wasm BatchMatMul fast paths', () => {
  it('install is idempotent and reversible', () => {
    expect(installWasmBatchMatMul()).toBe(true);
    expect(installWasmBatchMatMul()).toBe(true);
    expect(wasmBatchMatMulInstalled()).toBe(true);
    uninstallWasmBatchMatMul();
    expect(wasmBatchMatMulInstalled()).toBe(false);
    expect(installWasmBatchMatMul()).toBe(true);
  });

  it('every case equals the cpu backend (1e-5 relative to max-abs)', async () => {
    installWasmBatchMatMul();
    const fast = await products('wasm');
    const ref = await products('cpu');
    CASES.forEach(([name], i) => {
      expect(fast[i].length, name).toBe(ref[i].length);
      const scale = ref[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const err = fast[i].reduce((m, v, j) => Math.max(m, Math.abs(v - ref[i][j])), 0);
      expect(err / scale, name).toBeLessThan(1e-5);
    });
  });

  it('frees every temporary (tensors and wasm heap entries)', async () => {
    installWasmBatchMatMul();
    await tf.setBackend('wasm');
    await products('wasm'); // warm-up
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const tensors = tf.memory().numTensors;
    const ids = backend.numDataIds();
    await products('wasm');
    await tf.setBackend('wasm');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(ids);
  });

  it('carries the model: every preset (shrunk) matches cpu in embedding, heads and all gradients', async () => {
    installWasmBatchMatMul();
    const report = await compareWithCpu('wasm');
    expect(report.error).toBeNull();
    expect(report.ran).toBe('wasm');
    for (const p of report.presets) {
      for (const d of [p.embedding, p.student, p.teacher, p.loss, ...p.grads]) expect(d.relError, `${p.preset} ${d.name}`).toBeLessThan(1e-3);
    }
  }, 300_000);

  it('is faster than the stock kernel on attention- and gradient-shaped products (logged, not asserted)', async () => {
    await tf.setBackend('wasm');
    const q = tf.randomNormal([44, 64, 64]);
    const x = tf.randomNormal([1408, 128]);
    const dy = tf.randomNormal([1408, 384]);
    const best = (f: () => tf.Tensor) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const y = f();
        y.dataSync();
        y.dispose();
        times.push(performance.now() - t0);
      }
      return Math.min(...times);
    };
    const shapes: [string, number, () => tf.Tensor][] = [
      ['scores [44,64,64]·[44,64,64]ᵀ', 2 * 44 * 64 ** 3, () => tf.matMul(q, q, false, true)],
      ['weight gradient [1408,128]ᵀ·[1408,384]', 2 * 1408 * 128 * 384, () => tf.matMul(x, dy, true, false)],
    ];
    uninstallWasmBatchMatMul();
    const stockMs = shapes.map(([, , f]) => best(f));
    installWasmBatchMatMul();
    const fastMs = shapes.map(([, , f]) => best(f));
    shapes.forEach(([name, flops], i) =>
      console.log(`[wasm matmul] ${name}: stock ${stockMs[i].toFixed(1)} ms (${(flops / stockMs[i] / 1e6).toFixed(1)} GFLOP/s), fast ${fastMs[i].toFixed(1)} ms (${(flops / fastMs[i] / 1e6).toFixed(1)} GFLOP/s)`),
    );
    tf.dispose([q, x, dy]);
  });
});
