// src/kernels/splitColumns.ts: wasm's SplitV along the last axis as a SIMD row-block copy. On a bare memory against
// the CPU twin; inside tfjs-backend-wasm (installWasmSplitV) against the cpu backend for equal and unequal parts,
// with the SIMD path counted, and the cases it leaves to tfjs (width not a multiple of 4, another axis) still right;
// the gradient through the split (tfjs's concatenation) unchanged.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import * as sc from '../src/kernels/splitColumns';

const values = (n: number, salt: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + salt) * (1 + (i % 3)));

describe('row-block copy (bare memory)', () => {
  for (const shared of [false, true]) {
    it(`${shared ? 'shared' : 'unshared'} memory: equals the CPU twin, writes nothing else`, () => {
      const memory = shared ? new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }) : new WebAssembly.Memory({ initial: 2 });
      const copy = sc.copyBlockFor(memory)!;
      expect(copy).not.toBeNull();
      const [m, parts, d] = [13, 3, 8];
      const x = values(m * parts * d, 1);
      const f = new Float32Array(memory.buffer);
      f.fill(7);
      f.set(x, 16);
      const outOff = (p: number) => 64 + 4 * x.length + 64 + p * (4 * m * d + 64);
      for (let p = 0; p < parts; p++) copy(64 + 4 * p * d, outOff(p), m, 4 * parts * d, 4 * d);
      const want = Array.from({ length: parts }, () => new Float32Array(m * d));
      sc.splitColumns(x, m, parts, d, want);
      for (let p = 0; p < parts; p++) {
        expect(Array.from(new Float32Array(memory.buffer, outOff(p), m * d))).toEqual(Array.from(want[p]));
        expect(f[outOff(p) / 4 + m * d]).toBe(7);
      }
    });
  }
});

describe('wasm SplitV on the block copy', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    expect(sc.installWasmSplitV()).toBe(true);
    expect(sc.installWasmSplitV()).toBe(true); // idempotent
  });

  const cases: [string, number[], number | number[], number, boolean][] = [
    ['q | k | v of [37, 24]', [37, 24], 3, 1, true],
    ['unequal parts [8, 12, 4], rank 3, axis −1', [2, 5, 24], [8, 12, 4], -1, true],
    ['width 6 (not a multiple of 4): tfjs', [5, 18], 3, 1, false],
    ['axis 0: tfjs', [6, 8], 2, 0, false],
  ];
  for (const [name, shape, splits, axis, simd] of cases) {
    it(`${name}: equals the cpu backend${simd ? ', on the block copy' : ''}`, async () => {
      const x = values(shape.reduce((a, b) => a * b, 1), 2);
      await tf.setBackend('cpu');
      const want = await Promise.all(tf.split(tf.tensor(x, shape), splits, axis).map((t) => t.data()));
      await tf.setBackend('wasm');
      const before = sc.splitColumnsSimdRuns.count;
      const got = tf.split(tf.tensor(x, shape), splits, axis);
      expect(sc.splitColumnsSimdRuns.count - before).toBe(simd ? 1 : 0);
      expect(got.length).toBe(want.length);
      for (let i = 0; i < got.length; i++) expect(Array.from(await got[i].data())).toEqual(Array.from(want[i]));
    });
  }

  it('the gradient through the split is the concatenation of the parts\' gradients', async () => {
    const x = tf.tensor2d(values(40, 3), [5, 8]);
    const g = tf.grad((t: tf.Tensor) => {
      const [a, b] = tf.split(t, 2, 1);
      return tf.add(tf.sum(tf.mul(a, 2)), tf.sum(tf.mul(b, b)));
    })(x);
    const xv = await x.data();
    const want = Array.from(xv, (v, i) => (i % 8 < 4 ? 2 : 2 * v));
    const got = Array.from(await g.data());
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it('switched off, tfjs\'s kernel runs', () => {
    sc.useSplitColumnsKernel(false);
    const before = sc.splitColumnsSimdRuns.count;
    tf.dispose(tf.split(tf.zeros([4, 8]), 2, 1));
    expect(sc.splitColumnsSimdRuns.count).toBe(before);
    sc.useSplitColumnsKernel(true);
  });
});
