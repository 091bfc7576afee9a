// Dropout1d zeroes whole embedding rows, so two dropped crops share one student projection. Their cosine is 1
// only up to rounding; on SIMD/FMA backends it lands above 1 and the ce's log(1 - p + 1e-6) turned NaN.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { reluCos, vocoLosses } from '../src/voco/losses';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('VoCo losses with identical rows', () => {
  it('clamps a cosine that rounds above 1 and keeps values in [0, 1] unchanged', () => {
    const out = reluCos(tf.tensor1d([-0.5, 0, 0.25, 1, 1 + 2e-6, 1.5])).arraySync();
    expect(out).toEqual([0, 0, 0.25, 1, 1, 1]);
  });

  it('gives a finite loss and finite gradients when student rows coincide (dropped crops)', () => {
    const batch = 2, sw = 2, bases = 9, dim = 64;
    const row = tf.randomNormal([1, dim], 0, 1, 'float32', 7);
    // Every student row identical: the worst case of Dropout1d followed by the projection head.
    const xStudent = tf.tile(row, [batch * sw, 1]) as tf.Tensor2D;
    const basesStudent = tf.tile(row, [batch * bases, 1]) as tf.Tensor2D;
    const xTeacher = tf.randomNormal([batch * sw, dim], 0, 1, 'float32', 8) as tf.Tensor2D;
    const basesTeacher = tf.randomNormal([batch * bases, dim], 0, 1, 'float32', 9) as tf.Tensor2D;
    const labels = tf.reshape(tf.cast(tf.oneHot(tf.tensor1d([0, 4, 8, 2], 'int32'), bases), 'float32'), [batch, sw, bases]) as tf.Tensor3D;
    const f = (xs: tf.Tensor, bs: tf.Tensor) =>
      vocoLosses({ xStudent: xs as tf.Tensor2D, basesStudent: bs as tf.Tensor2D, xTeacher, basesTeacher, labels, batch, sw, bases }).total;
    const loss = f(xStudent, basesStudent).dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
    const [gx, gb] = tf.grads(f)([xStudent, basesStudent]);
    for (const g of [gx, gb]) for (const v of g.dataSync()) expect(Number.isFinite(v)).toBe(true);
  });
});
