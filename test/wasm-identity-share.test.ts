// src/kernels/wasmIdentityShare.ts: wasm's Identity (tf.clone, and every tensor a gradient saves) shares the buffer
// instead of copying it. The clone reads the same values, outlives its source, frees the buffer only when the last
// holder goes; a variable assigned after cloning leaves the clone unchanged; gradients through customGrad saves equal
// the copying kernel's, with no tensor or byte leaked.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmIdentityShare, sharedIdentityRuns, useSharedIdentity } from '../src/kernels/wasmIdentityShare';
import { layerNorm } from '../src/model/layers/layerNorm';
import { gelu } from '../src/model/layers/mlp';

describe('wasm Identity sharing the buffer', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    expect(installWasmIdentityShare()).toBe(true);
    expect(installWasmIdentityShare()).toBe(true);
  });

  it('a clone shares the buffer, outlives its source and frees it last', async () => {
    const before = tf.memory();
    const x = tf.tensor1d([1, 2, 3, 4]);
    const runs = sharedIdentityRuns.count;
    const y = tf.clone(x);
    expect(sharedIdentityRuns.count).toBe(runs + 1);
    expect(y.dataId).toBe(x.dataId); // one buffer for both
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    y.dispose();
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(tf.memory().numTensors).toBe(before.numTensors);
  });

  it('assigning a variable after cloning it leaves the clone as it was', async () => {
    const v = tf.variable(tf.tensor1d([5, 6]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([7, 8]));
    expect(Array.from(await c.data())).toEqual([5, 6]);
    expect(Array.from(await v.data())).toEqual([7, 8]);
    tf.dispose([v, c]);
  });

  it('gradients through saved tensors (LayerNorm, GELU) equal those with the copying kernel; nothing leaks', async () => {
    const x = tf.tensor2d(Float32Array.from({ length: 12 * 8 }, (_, i) => Math.sin(i) * 2), [12, 8]);
    const g = tf.variable(tf.ones([8]));
    const b = tf.variable(tf.zeros([8]));
    const run = () =>
      tf.tidy(() => tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(gelu(layerNorm(xx as tf.Tensor2D, { weight: gg as tf.Variable, bias: bb as tf.Variable })), xx)))([x, g, b]));
    const tensorsBefore = tf.memory().numTensors;
    const runs = sharedIdentityRuns.count;
    const shared = run();
    expect(sharedIdentityRuns.count).toBeGreaterThan(runs);
    useSharedIdentity(false);
    const copied = run();
    useSharedIdentity(true);
    for (let i = 0; i < 3; i++) expect(Array.from(await shared[i].data())).toEqual(Array.from(await copied[i].data()));
    tf.dispose([...shared, ...copied]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose([x, g, b]);
  });
});
