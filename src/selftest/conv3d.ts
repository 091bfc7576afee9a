// Browser checks of the 3-D convolution kernels (called from e2e/conv3d.spec.ts through window.selftest.conv3d):
// conv3d forward, data gradient and weight gradient, and a UNETR residual block forward + backward, on a GPU backend
// against the cpu backend (the CPU twin) in the same page, with every WebGPU error collected. Plain JSON out.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { conv3d } from '../kernels/conv3d';
import { unetrResBlock } from '../model/swin/unetrBlocks';
import { useBackend } from './kernels';

type Dims = [number, number, number];

interface Case { name: string; n: number; dims: Dims; cin: number; cout: number; k: 1 | 3; block?: boolean }

const CASES: Case[] = [
  { name: 'conv 2×(3×4×5) 3→5 k=3', n: 2, dims: [3, 4, 5], cin: 3, cout: 5, k: 3 },
  { name: 'conv 1×(9×8×7) 16→12 k=3', n: 1, dims: [9, 8, 7], cin: 16, cout: 12, k: 3 },
  { name: 'conv 2×(2×3×2) 6→7 k=1', n: 2, dims: [2, 3, 2], cin: 6, cout: 7, k: 1 },
  { name: 'conv 2×(16³) 1→12 k=3 (encoder1-like)', n: 2, dims: [16, 16, 16], cin: 1, cout: 12, k: 3 },
  { name: 'conv 2×(2³) 64→64 k=3 (deep stage)', n: 2, dims: [2, 2, 2], cin: 64, cout: 64, k: 3 },
  { name: 'UNETR block 2×(8³) 4→8 (conv3 residual)', n: 2, dims: [8, 8, 8], cin: 4, cout: 8, k: 3, block: true },
  { name: 'UNETR block 2×(4³) 8→8 (identity residual)', n: 2, dims: [4, 4, 4], cin: 8, cout: 8, k: 3, block: true },
];

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Worst |got - want| / max(|want_i|, 1e-2·max|want|). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-2 * scale, 1e-30);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/** y, dL/dx, dL/dw (dL/dw1 for a block) for L = Σ out·g, on the active backend. */
async function run(c: Case): Promise<Float32Array[]> {
  const v = c.dims[0] * c.dims[1] * c.dims[2];
  const x = tf.tensor3d(values(c.n * v * c.cin, 1), [c.n, v, c.cin]);
  const g = tf.tensor3d(values(c.n * v * c.cout, 2), [c.n, v, c.cout]);
  let out: tf.Tensor[];
  if (c.block) {
    const key = (i: number) => `b.layer.conv${i}.conv.weight`;
    const weights = new Map<string, tf.Tensor>([
      [key(1), tf.tensor2d(values(27 * c.cin * c.cout, 3), [27 * c.cin, c.cout])],
      [key(2), tf.tensor2d(values(27 * c.cout * c.cout, 4), [27 * c.cout, c.cout])],
    ]);
    if (c.cin !== c.cout) weights.set(key(3), tf.tensor2d(values(c.cin * c.cout, 5), [c.cin, c.cout]));
    const f = (xi: tf.Tensor, w1: tf.Tensor) => {
      const map = new Map(weights);
      map.set(key(1), w1);
      return tf.sum(tf.mul(unetrResBlock(xi as tf.Tensor3D, c.dims, map, 'b'), g));
    };
    const y = unetrResBlock(x, c.dims, weights, 'b');
    out = [y, ...tf.grads(f)([x, weights.get(key(1))!])];
    tf.dispose([...weights.values()]);
  } else {
    const w = tf.tensor2d(values(c.k ** 3 * c.cin * c.cout, 3), [c.k ** 3 * c.cin, c.cout]);
    const y = conv3d(x, w, c.dims, c.k);
    out = [y, ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv3d(a as tf.Tensor3D, b as tf.Tensor2D, c.dims, c.k), g)))([x, w])];
    w.dispose();
  }
  const data = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([x, g, ...out]);
  return data;
}

export interface Conv3dParityCase { name: string; y: number; dx: number; dw: number; ms: number }
export interface Conv3dParity {
  requested: string;
  ran: string;
  cases: Conv3dParityCase[];
  gpuErrors: string[];
  /** Our WebGPU pipelines that ran (proof that tfjs's conv was not used). */
  programs: string[];
  leakedTensors: number;
  error: string | null;
}

/** Every case on `backend` against the cpu backend; errors as relErr per tensor. */
export async function conv3dParity(backend: 'webgpu' | 'webgl', only?: number[]): Promise<Conv3dParity> {
  const picked = CASES.filter((_, i) => !only || only.includes(i));
  const report: Conv3dParity = { requested: backend, ran: '', cases: [], gpuErrors: [], programs: [], leakedTensors: 0, error: null };
  try {
    await useBackend('cpu');
    const want = [];
    for (const c of picked) want.push(await run(c));
    await useBackend(backend);
    report.ran = tf.getBackend();
    const before = tf.memory().numTensors;
    const onError = (e: Event) => report.gpuErrors.push(`uncapturederror: ${(e as GPUUncapturedErrorEvent).error.message}`);
    const device = backend === 'webgpu' ? (tf.backend() as unknown as WebGPUBackend).device : null;
    device?.addEventListener('uncapturederror', onError);
    const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
    filters.forEach((f) => device?.pushErrorScope(f));
    try {
      for (let i = 0; i < picked.length; i++) {
        const t0 = performance.now();
        const got = await run(picked[i]);
        const ms = Math.round(performance.now() - t0);
        report.cases.push({ name: picked[i].name, y: relErr(got[0], want[i][0]), dx: relErr(got[1], want[i][1]), dw: relErr(got[2], want[i][2]), ms });
      }
      if (device) {
        for (let i = 0; i < filters.length; i++) {
          const err = await device.popErrorScope();
          if (err) report.gpuErrors.push(err.message);
        }
        await device.queue.onSubmittedWorkDone();
        const cache = (tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache;
        report.programs = Object.keys(cache).filter((k) => k.startsWith('vocoConv3d')).map((k) => k.split('_').slice(0, 3).join('_'));
        report.programs = [...new Set(report.programs)].sort();
      }
    } finally {
      device?.removeEventListener('uncapturederror', onError);
    }
    report.leakedTensors = tf.memory().numTensors - before;
  } catch (e) {
    report.error = (e as Error)?.message ?? String(e);
  }
  return report;
}

/** ms per forward and per forward+backward of one conv3d shape on `backend` (median of `rounds`). */
export async function benchConv3d(backend: 'cpu' | 'wasm' | 'webgl' | 'webgpu', n: number, dims: Dims, cin: number, cout: number, rounds = 3) {
  await useBackend(backend);
  const v = dims[0] * dims[1] * dims[2];
  const x = tf.tensor3d(values(n * v * cin, 1), [n, v, cin]);
  const w = tf.tensor2d(values(27 * cin * cout, 2), [27 * cin, cout]);
  const time = async (fn: () => tf.Tensor[]) => {
    const ms: number[] = [];
    for (let r = 0; r < rounds + 1; r++) {
      const t0 = performance.now();
      const out = fn();
      await Promise.all(out.map((t) => t.data()));
      if (r > 0) ms.push(performance.now() - t0); // round 0 compiles
      tf.dispose(out);
    }
    return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
  };
  const forwardMs = await time(() => [conv3d(x, w, dims, 3)]);
  const trainMs = await time(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(conv3d(a as tf.Tensor3D, b as tf.Tensor2D, dims, 3)))([x, w]));
  tf.dispose([x, w]);
  return { backend: tf.getBackend(), shape: `${n}×${dims.join('×')}×${cin}→${cout}`, forwardMs, forwardBackwardMs: trainMs };
}
