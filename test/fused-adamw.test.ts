// src/kernels/fusedAdamW.ts ('VocoAdamW', one pass per variable) against its CPU twin and against AdamW's tf-op
// path: cpu, wasm and webgpu (Dawn under Node), amsgrad on and off, with clipping and with a norm the caller
// already knows. The kernel must really run on each backend (its run counter moves), and leak nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, type NodeWebgpuResult } from './helpers/nodeWebgpu';
import type * as tfTypes from '@tensorflow/tfjs-core';

let gpu: NodeWebgpuResult;
let tf: typeof tfTypes;
let fused: typeof import('../src/kernels/fusedAdamW');
let AdamW: typeof import('../src/voco/adamw').AdamW;

beforeAll(async () => {
  gpu = await initNodeWebgpu();
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-wasm');
  fused = await import('../src/kernels/fusedAdamW');
  AdamW = (await import('../src/voco/adamw')).AdamW;
});

const values = (n: number, salt: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + salt) * scale * (1 + (i % 3)));
const SHAPES = [[3], [17, 9], [1], [130, 64]];

/** Three AdamW steps over four variables; returns every variable and slot after the last step, flattened. */
async function run(backend: string, opts: { amsgrad: boolean; clip?: number; fused: boolean; known: boolean }) {
  await tf.setBackend(backend);
  // WebGPU errors never throw in tfjs: listen for them and fail on any.
  const device = backend === 'webgpu' ? (tf.backend() as unknown as { device: GPUDevice }).device : null;
  const gpuErrors: string[] = [];
  const onError = (e: Event) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
  device?.addEventListener('uncapturederror', onError);
  device?.pushErrorScope('validation');
  const vars = SHAPES.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(values(s.reduce((a, b) => a * b), i), s))));
  const opt = new AdamW({ weightDecay: 0.01, amsgrad: opts.amsgrad, clipNorm: opts.clip });
  const before = fused.fusedAdamWRuns[backend] ?? 0;
  const norms: number[] = [];
  for (let step = 0; step < 3; step++) {
    const grads = SHAPES.map((s, i) => tf.tensor(values(s.reduce((a, b) => a * b), 10 * step + i, step === 0 ? 3 : 0.05), s));
    const known = opts.known ? Math.sqrt((await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>))).reduce((a, d) => a + d.reduce((x, y) => x + y * y, 0), 0)) : undefined;
    opt.apply(vars, grads, 0.05, known, { fused: opts.fused });
    norms.push((await opt.readGradNorm()) ?? NaN);
    tf.dispose(grads);
  }
  const ran = (fused.fusedAdamWRuns[backend] ?? 0) - before;
  if (device) {
    const scoped = await device.popErrorScope();
    if (scoped) gpuErrors.push(scoped.message);
    await device.queue.onSubmittedWorkDone();
    device.removeEventListener('uncapturederror', onError);
  }
  expect(gpuErrors, `${backend} GPU errors`).toEqual([]);
  const state = await opt.getState();
  const out = [...(await Promise.all(vars.map((v) => v.data()))).flatMap((d) => Array.from(d)), ...Object.keys(state.tensors).sort().flatMap((k) => Array.from(state.tensors[k]))];
  opt.dispose();
  tf.dispose(vars);
  return { out, ran, norms };
}

function maxDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]) / Math.max(1, Math.abs(b[i]))), 0);
}

describe('fused AdamW kernel', () => {
  it('CPU twin equals the update written out in float64', () => {
    const n = 50;
    const p = values(n, 1), g = values(n, 2), m = values(n, 3, 0.1), v = values(n, 4, 0.01).map(Math.abs), x = v.map((y, i) => (i % 2 ? y * 2 : y / 2));
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 0.01, bc2Sqrt: 0.3, decay: 0.999, amsgrad: true };
    const want = Array.from(p, (pi, i) => {
      const gi = g[i] * 0.5;
      const mi = 0.9 * m[i] + 0.1 * gi;
      const vi = 0.999 * v[i] + 0.001 * gi * gi;
      const xi = Math.max(x[i], vi);
      return 0.999 * pi - 0.01 * (mi / (Math.sqrt(xi) / 0.3 + 1e-8));
    });
    const [pp, mm, vv, xx] = [p, m, v, x].map((a) => a.slice());
    fused.adamwUpdateInPlace(pp, g, mm, vv, xx, 0.5, h);
    expect(maxDiff(Array.from(pp), want)).toBeLessThan(1e-6);
    expect(Array.from(xx).every((xi, i) => xi >= vv[i])).toBe(true);
  });

  const backends = () => ['cpu', 'wasm', ...(gpu.ok ? ['webgpu'] : [])];
  for (const amsgrad of [true, false]) {
    for (const clip of [undefined, 0.5]) {
      it(`amsgrad ${amsgrad}, clip ${clip ?? 'off'}: fused equals the tf-op path on every backend (and ran there)`, async () => {
        if (!gpu.ok) console.warn(`[fused-adamw] webgpu skipped: ${gpu.reason}`);
        const ref = await run('cpu', { amsgrad, clip, fused: false, known: false });
        expect(ref.ran).toBe(0);
        for (const backend of backends()) {
          for (const known of [false, true]) {
            const got = await run(backend, { amsgrad, clip, fused: true, known });
            expect(got.ran, `${backend}: fused kernel runs`).toBe(3 * SHAPES.length);
            expect(maxDiff(got.out, ref.out), `${backend}, known norm ${known}`).toBeLessThan(2e-5);
            if (clip) expect(maxDiff(got.norms, ref.norms), `${backend} norms`).toBeLessThan(1e-5);
          }
        }
      }, 60_000);
    }
  }

  it('leaks no tensors on any backend', async () => {
    for (const backend of backends()) {
      await run(backend, { amsgrad: true, clip: 1, fused: true, known: false }); // warm-up (slots, programs)
      const n = tf.memory().numTensors;
      await run(backend, { amsgrad: true, clip: 1, fused: true, known: true });
      expect(tf.memory().numTensors, backend).toBe(n);
    }
  });

  it("sum of squares ('VocoSumSquares', the trainer's squared gradient norm) equals its CPU twin and the tf ops", async () => {
    const ss = await import('../src/kernels/sumSquares');
    const arrays = SHAPES.map((s, i) => values(s.reduce((a, b) => a * b), 5 + i, 0.3));
    const want = ss.sumSquaresReference(arrays);
    for (const backend of backends()) {
      await tf.setBackend(backend);
      const ts = arrays.map((a, i) => tf.tensor(a, SHAPES[i]));
      const before = ss.sumSquaresRuns[backend] ?? 0;
      const n = tf.memory().numTensors;
      const got = ss.sumOfSquares(ts);
      const value = (await got.data())[0];
      got.dispose();
      expect(tf.memory().numTensors, `${backend} leaks`).toBe(n);
      expect(Math.abs(value - want) / want, backend).toBeLessThan(1e-6);
      // One kernel on cpu and wasm; the tf-op path on webgpu.
      expect((ss.sumSquaresRuns[backend] ?? 0) - before, backend).toBe(backend === 'webgpu' ? 0 : 1);
      tf.dispose(ts);
    }
  });

  it('says which backends have it', async () => {
    await tf.setBackend('wasm');
    expect(fused.fusedAdamWAvailable()).toBe(true);
    console.log(`[fused-adamw] ran on cpu, wasm${gpu.ok ? `, webgpu (${gpu.adapter})` : ' (webgpu unavailable: ' + gpu.reason + ')'}`);
  });
});
