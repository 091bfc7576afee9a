// Golden test against the VoCo authors' PyTorch functions (fixtures/voco-reference.json, float64). Override the
// fixture with VOCO_REFERENCE=/path/to/file.json to check a freshly generated set.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { positionLabels, stopGradient, vocoLosses } from '../src/voco';
import { lossCaseTensors, relativeError, type LossCase } from './helpers/vocoFixture';
import { VOCO_REFERENCE } from './helpers/paths';

interface LabelCase {
  roi: number;
  num_crops: number;
  center_x: number;
  center_y: number;
  labels: number[];
}

const fixturePath = VOCO_REFERENCE;
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { position_labels: LabelCase[]; losses: LossCase[] };
const TOL = 1e-4;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe(`VoCo golden values (${fixturePath})`, () => {
  it('has cases to check', () => {
    // A silently empty or truncated fixture must fail rather than pass vacuously.
    expect(fixture.position_labels.length).toBeGreaterThanOrEqual(process.env.VOCO_REFERENCE ? 1 : 16);
    expect(fixture.losses.length).toBeGreaterThanOrEqual(process.env.VOCO_REFERENCE ? 1 : 6);
  });

  it('position labels match exactly', () => {
    let checked = 0;
    for (const c of fixture.position_labels) {
      const got = positionLabels(c.roi, c.num_crops, c.center_x, c.center_y);
      expect(got.length).toBe(c.num_crops * c.num_crops);
      expect(Array.from(got)).toEqual(c.labels.map(Math.fround));
      checked++;
    }
    expect(checked).toBe(fixture.position_labels.length);
  });

  it('losses and gradients match within 1e-4 relative (float32)', () => {
    let checked = 0;
    for (const [index, c] of fixture.losses.entries()) {
      const where = `loss case ${index} (batch ${c.batch}, sw ${c.sw}, bases ${c.bases}, dim ${c.dim})`;
      const t = lossCaseTensors(c);
      const lossOf = (xStudent: tf.Tensor, basesStudent: tf.Tensor) =>
        vocoLosses({ ...t, xStudent: xStudent as tf.Tensor2D, basesStudent: basesStudent as tf.Tensor2D, batch: c.batch, sw: c.sw, bases: c.bases }).total;

      const out = vocoLosses({ ...t, batch: c.batch, sw: c.sw, bases: c.bases });
      for (const key of ['intra', 'inter', 'reg'] as const) {
        expect(relativeError(out[key].dataSync(), [c[key]]), `${where}: ${key}`).toBeLessThan(TOL);
      }
      expect(relativeError(out.total.dataSync(), [c.loss]), `${where}: loss`).toBeLessThan(TOL);
      expect(out.logits.shape).toEqual([c.batch, c.sw, c.bases]);

      const [gx, gb] = tf.grads(lossOf)([t.xStudent, t.basesStudent]);
      expect(relativeError(gx.dataSync(), c.grad_x_student.flat()), `${where}: grad_x_student`).toBeLessThan(TOL);
      expect(relativeError(gb.dataSync(), c.grad_bases_student.flat()), `${where}: grad_bases_student`).toBeLessThan(TOL);
      tf.dispose([out.intra, out.inter, out.reg, out.total, out.logits, gx, gb, ...Object.values(t)]);
      checked++;
    }
    expect(checked).toBe(fixture.losses.length);
  });

  it('sends no gradient through the teacher even when the teacher is computed from the same inputs', () => {
    // In the model the teacher head reads the encoder's embeddings, so the teacher projections sit on the tape
    // downstream of the trained variables. Rebuild that: teacher = student·0 + reference teacher.
    let checked = 0;
    for (const [index, c] of fixture.losses.entries()) {
      const t = lossCaseTensors(c);
      const [gx, gb] = tf.grads((xs: tf.Tensor, bs: tf.Tensor) =>
        vocoLosses({
          ...t,
          xStudent: xs as tf.Tensor2D,
          basesStudent: bs as tf.Tensor2D,
          xTeacher: tf.add(tf.mul(xs, 0), t.xTeacher) as tf.Tensor2D,
          basesTeacher: tf.add(tf.mul(bs, 0), t.basesTeacher) as tf.Tensor2D,
          batch: c.batch,
          sw: c.sw,
          bases: c.bases,
        }).total,
      )([t.xStudent, t.basesStudent]);
      expect(relativeError(gx.dataSync(), c.grad_x_student.flat()), `loss case ${index}: grad_x_student`).toBeLessThan(TOL);
      expect(relativeError(gb.dataSync(), c.grad_bases_student.flat()), `loss case ${index}: grad_bases_student`).toBeLessThan(TOL);
      tf.dispose([gx, gb, ...Object.values(t)]);
      checked++;
    }
    expect(checked).toBe(fixture.losses.length);
  });

  it('stopGradient is the identity forward and blocks the gradient backward', () => {
    const x = tf.tensor1d([1, -2, 3]);
    expect(Array.from(stopGradient(x).dataSync())).toEqual([1, -2, 3]);
    // d/dx sum(x · stop(x)) = stop(x) = x, not 2x.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, stopGradient(v))))(x);
    expect(Array.from(g.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([x, g]);
  });

  it('leaves no tensors behind beyond its outputs', () => {
    const c = fixture.losses[0];
    const t = lossCaseTensors(c);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const out = vocoLosses({ ...t, batch: c.batch, sw: c.sw, bases: c.bases });
      tf.dispose([out.intra, out.inter, out.reg, out.total, out.logits]);
      const grads = tf.grads((xs: tf.Tensor, bs: tf.Tensor) =>
        vocoLosses({ ...t, xStudent: xs as tf.Tensor2D, basesStudent: bs as tf.Tensor2D, batch: c.batch, sw: c.sw, bases: c.bases }).total,
      )([t.xStudent, t.basesStudent]);
      tf.dispose(grads);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(t));
  });
});
