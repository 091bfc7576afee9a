// The reference encoder's forward pass without gradients (SwinEncoder.forward outside a tape: maps, benchmark)
// frees each stage's and encoder block's intermediates as it goes: it must give the same embedding as forwardAll
// (the path with a tape) and leave no tensor behind. One 64³ crop of the fixture model on wasm.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect, it } from 'vitest';
import { fixtureBytes } from './helpers/swinFixture';
import { SwinEncoder } from '../src/model/swin/swinEncoder';
import { loadSwinWeights } from '../src/model/swin/weights';
import { fromSafetensors } from '../src/model/weights';

it('wasm: forward() without a tape gives forwardAll()\'s embedding (the peaks are logged)', async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  const cfg = { featureSize: 12, headHidden: 128, headOut: 128, downsample: 'merging' as const };
  const weights = loadSwinWeights(cfg, fromSafetensors(fixtureBytes().weights, 'swin weights fixture').tensors, 'fixture');
  const enc = new SwinEncoder(cfg, weights);
  const x = tf.randomUniform([1, 64, 64, 64], 0, 1, 'float32', 3) as tf.Tensor4D;
  tf.dispose(enc.forward(x)); // builds the window plans and masks (kept between calls) outside the measurements
  const before = tf.memory().numTensors;
  const live = tf.memory().numBytes;
  let light: Float32Array | null = null;
  let full: Float32Array | null = null;
  const a = await tf.profile(async () => {
    const e = enc.forward(x);
    light = (await e.data()) as Float32Array;
    e.dispose();
  });
  const b = await tf.profile(async () => {
    const e = tf.tidy(() => enc.forwardAll(x).embedding);
    full = (await e.data()) as Float32Array;
    e.dispose();
  });
  // tf.profile's peakBytes is the engine's high-water mark since it started: the highest snapshot of each pass instead.
  const peak = (p: tf.TensorContainer & { kernels: { totalBytesSnapshot: number }[] }) => Math.max(...p.kernels.map((k) => k.totalBytesSnapshot)) - live;
  const [pa, pb] = [peak(a as never), peak(b as never)];
  console.log(`[swin-inference] peak tensor bytes above the weights: forward ${(pa / 2 ** 20).toFixed(0)} MiB, forwardAll ${(pb / 2 ** 20).toFixed(0)} MiB`);
  expect(light!.length).toBe(288);
  expect(Array.from(light!)).toEqual(Array.from(full!));
  expect(tf.memory().numTensors).toBe(before);
  enc.dispose();
  x.dispose();
  for (const v of weights.values()) v.dispose();
}, 600_000);
