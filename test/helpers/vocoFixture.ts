// Shared by the VoCo golden tests (cpu and webgpu): fixture case → tensors, and the error measure.
import * as tf from '@tensorflow/tfjs-core';

export interface LossCase {
  batch: number;
  sw: number;
  bases: number;
  dim: number;
  x_student: number[][];
  bases_student: number[][];
  x_teacher: number[][];
  bases_teacher: number[][];
  labels: number[][][];
  intra: number;
  inter: number;
  reg: number;
  loss: number;
  grad_x_student: number[][];
  grad_bases_student: number[][];
}

export function lossCaseTensors(c: LossCase) {
  return {
    xStudent: tf.tensor2d(c.x_student),
    basesStudent: tf.tensor2d(c.bases_student),
    xTeacher: tf.tensor2d(c.x_teacher),
    basesTeacher: tf.tensor2d(c.bases_teacher),
    labels: tf.tensor3d(c.labels),
  };
}

/**
 * Worst error of `got` against `want`, relative to the larger of |want_i| and 1e-2·max|want| per element, so
 * near-zero entries of a gradient are judged on the gradient's own scale rather than against 0.
 */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-2 * scale, 1e-30);
    if (!(err <= worst)) worst = err; // NaN counts as worst
  }
  return worst;
}
