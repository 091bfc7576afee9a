import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { it } from 'vitest';
import { installWasmBatchMatMul } from '../../src/kernels/wasmBatchMatMul';
import { installWasmMatMulPolicy } from '../../src/backend/wasmMatMulPolicy';
async function minMs(f: () => tf.Tensor[], reps = 20) {
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
it('fused', async () => {
  await tf.setBackend('wasm');
  const stock = tf.getKernel('BatchMatMul', 'wasm')!;
  installWasmBatchMatMul(); installWasmMatMulPolicy(stock);
  for (const [m, k, n] of [[1408, 128, 512], [1408, 512, 128], [1408, 128, 384], [22, 1024, 1024]]) {
    const x = tf.randomNormal([m, k]) as tf.Tensor2D;
    const w = tf.randomNormal([k, n]) as tf.Tensor2D;
    const b = tf.randomNormal([n]) as tf.Tensor1D;
    const d1 = await tf.max(tf.abs(tf.sub(tf.add(tf.matMul(x, w), tf.reshape(b, [1, -1])), tf.fused.matMul({ a: x, b: w, bias: b })))).data();
    for (let r = 0; r < 2; r++) {
      const plain = await minMs(() => [tf.add(tf.matMul(x, w), tf.reshape(b, [1, -1]))]);
      const fused = await minMs(() => [tf.fused.matMul({ a: x, b: w, bias: b })]);
      const mmOnly = await minMs(() => [tf.matMul(x, w)]);
      console.log(`[${m},${k}]·[${k},${n}] plain ${plain.toFixed(2)} fused ${fused.toFixed(2)} matmul only ${mmOnly.toFixed(2)} ms; maxdiff ${d1[0]}`);
    }
  }
}, 120000);
