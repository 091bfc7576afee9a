// scratch microbench (not committed)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { it } from 'vitest';
import { useFusedLayerNorm } from '../../src/kernels/layerNormRows';
import { useFusedGelu } from '../../src/kernels/geluTanh';
import { layerNorm } from '../../src/model/layers/layerNorm';
import { gelu } from '../../src/model/layers/mlp';

async function minMs(f: () => tf.Tensor[], reps = 15) {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const outs = f();
    await Promise.all(outs.map((o) => o.data()));
    best = Math.min(best, performance.now() - t0);
    tf.dispose(outs);
  }
  return best;
}
it('micro', async () => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([1408, 128]) as tf.Tensor2D;
  const h = tf.randomNormal([1408, 512]);
  const g = tf.variable(tf.ones([128])), b = tf.variable(tf.zeros([128]));
  const lnF = () => tf.tidy(() => { const [v, grads] = [null, tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(layerNorm(xx as tf.Tensor2D, { weight: gg as tf.Variable, bias: bb as tf.Variable })))([x, g, b])]; return grads; });
  const geF = () => tf.tidy(() => [tf.grad((xx: tf.Tensor) => tf.sum(gelu(xx)))(h)]);
  for (let r = 0; r < 2; r++) for (const on of [true, false]) {
    useFusedLayerNorm(on); useFusedGelu(on);
    console.log(`fused ${on}: LN fwd+bwd [1408,128] ${(await minMs(lnF)).toFixed(2)} ms; GELU fwd+bwd [1408,512] ${(await minMs(geF)).toFixed(2)} ms`);
  }
}, 120000);
