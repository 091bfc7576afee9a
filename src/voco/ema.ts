// Exponential moving average of the teacher toward the student: t = m·t + (1 − m)·s, in place.
import * as tf from '@tensorflow/tfjs-core';

export function emaUpdate(teacher: tf.Variable[], student: tf.Variable[], momentum: number): void {
  if (teacher.length !== student.length) {
    throw new Error(`emaUpdate: teacher has ${teacher.length} variables, student ${student.length}`);
  }
  if (!(momentum >= 0 && momentum <= 1)) throw new Error(`emaUpdate: momentum must be in [0, 1], got ${momentum}`);
  teacher.forEach((t, i) => {
    const s = student[i];
    if (t.shape.length !== s.shape.length || t.shape.some((d, k) => d !== s.shape[k])) {
      throw new Error(`emaUpdate: variable ${i} (${t.name}) has shape [${t.shape}] but the student's has [${s.shape}]`);
    }
  });
  tf.tidy(() => {
    teacher.forEach((t, i) => t.assign(tf.add(tf.mul(t, momentum), tf.mul(student[i], 1 - momentum))));
  });
}
