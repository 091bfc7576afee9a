// `npm run bench:kernels` (KERNEL_ROUNDS=N, default 15): the cpu/wasm fused kernels and wasm kernel replacements
// (src/kernels) one by one, in Node on tfjs-backend-wasm (single-threaded under Node; initBackend's kernels installed).
// Each case times the same forward + backward at the B preset's shapes with its switch on and off, interleaved round
// by round; prints the fastest and the median with the load average: on a busy machine the fastest round is the one
// the load disturbed least, so fastest-vs-fastest is the steadier comparison. Not a test (asserts nothing): it runs
// under Vitest only because Vitest loads tfjs's wasm backend in Node as the unit tests do
// (bench/kernels.vitest.config.ts).
import { test } from 'vitest';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../src/backend/backends';
import { useFusedLayerNorm } from '../src/kernels/layerNormRows';
import { useFusedGelu } from '../src/kernels/geluTanh';
import { useFusedSoftmax } from '../src/kernels/softmaxRows';
import { useSplitColumnsKernel } from '../src/kernels/splitColumns';
import { useSharedIdentity } from '../src/kernels/wasmIdentityShare';
import { layerNorm } from '../src/model/layers/layerNorm';
import { gelu } from '../src/model/layers/mlp';
import { linear, useFusedBiasMatMul } from '../src/model/layers/linear';
import { attention } from '../src/model/layers/attention';
import { PRESETS } from '../src/model/presets';

export interface MicroCase {
  name: string;
  shape: string;
  onMs: number[];
  offMs: number[];
}

const allSwitches = (on: boolean) => {
  useFusedLayerNorm(on);
  useFusedGelu(on);
  useFusedSoftmax(on);
  useSplitColumnsKernel(on);
  useSharedIdentity(on);
  useFusedBiasMatMul(on);
};

async function runKernelMicro(rounds: number): Promise<{ backend: string; cases: MicroCase[] }> {
  const info = await initBackend('wasm', { useStore: false });
  const p = PRESETS.B;
  const crops = 22;
  const t = 64;
  const m = crops * t;
  const d = p.dim;
  const hidden = p.dim * p.mlpRatio;
  const rnd = (shape: number[], s = 1) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 7), s);
  const x = tf.keep(rnd([m, d]) as tf.Tensor2D);
  const h = tf.keep(rnd([m, hidden]));
  const v = (shape: number[], s = 0.05) => tf.variable(rnd(shape, s) as tf.Tensor);
  const ln = { weight: tf.variable(tf.ones([d])), bias: tf.variable(tf.zeros([d])) };
  const fc1 = { weight: v([d, hidden]), bias: v([hidden]) };
  const att = { qkv: { weight: v([d, 3 * d]), bias: v([3 * d]) }, proj: { weight: v([d, d]), bias: v([d]) } };
  // Gradients for x (the input) and the named variables only.
  const grads = (f: (xx: tf.Tensor2D) => tf.Scalar, vars: tf.Variable[]) => () => {
    const { value, grads: g } = tf.variableGrads(() => f(x), vars);
    return [value, ...Object.values(g), tf.grad((xx: tf.Tensor) => f(xx as tf.Tensor2D))(x)];
  };
  const attVars = [att.qkv.weight, att.qkv.bias, att.proj.weight, att.proj.bias] as tf.Variable[];
  const cases: { name: string; shape: string; set: (on: boolean) => void; run: () => tf.Tensor[] }[] = [
    { name: 'LayerNorm fwd+bwd', shape: `[${m},${d}]`, set: useFusedLayerNorm, run: grads((a) => tf.sum(tf.mul(layerNorm(a, ln), x)), [ln.weight, ln.bias]) },
    { name: 'GELU fwd+bwd', shape: `[${m},${hidden}]`, set: useFusedGelu, run: () => [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), h)))(h)] },
    { name: 'attention fwd+bwd (fused scaled softmax)', shape: `${crops}×${t} tokens, ${p.heads} heads`, set: useFusedSoftmax, run: grads((a) => tf.sum(tf.mul(attention(a, att, crops, t, p.heads), x)), attVars) },
    { name: 'attention fwd+bwd (SplitV block copy)', shape: `qkv [${m},${3 * d}]`, set: useSplitColumnsKernel, run: grads((a) => tf.sum(tf.mul(attention(a, att, crops, t, p.heads), x)), attVars) },
    { name: 'linear fwd (bias inside the matmul)', shape: `[${m},${d}]·[${d},${hidden}]`, set: useFusedBiasMatMul, run: () => [linear(x, fc1)] },
    { name: 'LayerNorm→linear→GELU fwd+bwd (shared Identity)', shape: `[${m},${d}]→[${m},${hidden}]`, set: useSharedIdentity, run: grads((a) => tf.sum(gelu(linear(layerNorm(a, ln), fc1))), [ln.weight, ln.bias, fc1.weight, fc1.bias] as tf.Variable[]) },
    {
      name: 'block-like chain, all of the above',
      shape: 'LN→attention→LN→linear→GELU',
      set: allSwitches,
      run: grads((a) => tf.sum(gelu(linear(layerNorm(tf.add(a, attention(layerNorm(a, ln), att, crops, t, p.heads)) as tf.Tensor2D, ln), fc1))), [ln.weight, ln.bias, fc1.weight, fc1.bias, ...attVars] as tf.Variable[]),
    },
  ];
  const out: MicroCase[] = [];
  try {
    for (const c of cases) {
      const times = { on: [] as number[], off: [] as number[] };
      for (let r = 0; r <= rounds; r++) {
        for (const on of [true, false]) {
          c.set(on);
          const t0 = performance.now();
          const outs = tf.tidy(c.run);
          await Promise.all(outs.map((o) => o.data()));
          const ms = performance.now() - t0;
          tf.dispose(outs);
          if (r > 0) times[on ? 'on' : 'off'].push(ms); // round 0 warms both up
        }
      }
      out.push({ name: c.name, shape: c.shape, onMs: times.on, offMs: times.off });
    }
  } finally {
    allSwitches(true);
  }
  tf.dispose([x, h, ln.weight, ln.bias, fc1.weight, fc1.bias, att.qkv.weight, att.qkv.bias, att.proj.weight, att.proj.bias]);
  return { backend: `${info.name}, ${info.wasmThreads ?? 1} thread(s)`, cases: out };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

test('wasm kernels, on vs off (prints a table; asserts nothing)', async () => {
  const rounds = Number(process.env.KERNEL_ROUNDS ?? 15);
  const before = loadavg();
  const r = await runKernelMicro(rounds);
  const after = loadavg();
  const f = (v: number) => v.toFixed(2);
  const lines = [
    `## wasm kernels, on vs off (${r.backend}, Node ${process.versions.node}; ${rounds} interleaved rounds; load ${before.map((x) => x.toFixed(1)).join('/')} → ${after.map((x) => x.toFixed(1)).join('/')})`,
    '',
    '| case | shape | on: fastest / median ms | off: fastest / median ms | off ÷ on (fastest) | off ÷ on (median) |',
    '|---|---|---|---|---|---|',
  ];
  for (const c of r.cases) {
    const [on, off, onM, offM] = [Math.min(...c.onMs), Math.min(...c.offMs), median(c.onMs), median(c.offMs)];
    lines.push(`| ${c.name} | ${c.shape} | ${f(on)} / ${f(onM)} | ${f(off)} / ${f(offM)} | ${f(off / on)}× | ${f(offM / onM)}× |`);
  }
  console.log('\n' + lines.join('\n') + '\n');
}, 24 * 3600_000);
