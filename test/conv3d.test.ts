// src/kernels/conv3d.ts and its kernels (conv3dImplicitGemm.ts, conv3dFilterGrad.ts): forward, data gradient and
// weight gradient against a literal float64 convolution, on cpu, wasm and WebGPU under Node (Dawn), for edge
// shapes (odd sizes, Cout not a multiple of 4, k = 1, a 1³ volume, Cin = 1, several workgroups and split-K chunks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU, type NodeWebgpuResult } from './helpers/nodeWebgpu';
import type * as tfTypes from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

let gpu: NodeWebgpuResult;
let tf: typeof tfTypes;
let conv: typeof import('../src/kernels/conv3d');

beforeAll(async () => {
  gpu = await initNodeWebgpu();
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  await import('@tensorflow/tfjs-backend-wasm');
  conv = await import('../src/kernels/conv3d');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

function values(n: number, seed: number, zeroEvery = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = zeroEvery && i % zeroEvery === 0 ? 0 : s / 2 ** 31 - 1;
  }
  return out;
}

interface Case { name: string; n: number; dims: [number, number, number]; cin: number; cout: number; k: 1 | 3 }

/** Literal convolution in float64: y, and for L = Σ y·g the gradients dx and dw. */
function reference(c: Case, x: Float32Array, w: Float32Array, g: Float32Array) {
  const [D, H, W] = c.dims;
  const V = D * H * W;
  const r = (c.k - 1) / 2;
  const y = new Float64Array(c.n * V * c.cout);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < c.n; b++)
    for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let v = 0; v < W; v++) {
      const p = (d * H + h) * W + v;
      for (let kd = 0; kd < c.k; kd++) for (let kh = 0; kh < c.k; kh++) for (let kw = 0; kw < c.k; kw++) {
        const [dd, hh, ww] = [d + kd - r, h + kh - r, v + kw - r];
        if (dd < 0 || dd >= D || hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
        const q = (dd * H + hh) * W + ww;
        const t = (kd * c.k + kh) * c.k + kw;
        for (let ci = 0; ci < c.cin; ci++) for (let co = 0; co < c.cout; co++) {
          const xi = (b * V + q) * c.cin + ci;
          const wi = (t * c.cin + ci) * c.cout + co;
          const yi = (b * V + p) * c.cout + co;
          y[yi] += x[xi] * w[wi];
          dx[xi] += g[yi] * w[wi];
          dw[wi] += g[yi] * x[xi];
        }
      }
    }
  return { y, dx, dw };
}

/** Worst |got - want| relative to max(|want_i|, 1e-2·max|want|) (the fixture tests' measure). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-2 * scale, 1e-30);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

const CASES: Case[] = [
  { name: '2×(3×4×5), 3→5, k=3 (odd sizes, Cout % 4 ≠ 0)', n: 2, dims: [3, 4, 5], cin: 3, cout: 5, k: 3 },
  { name: '1×(5×3×4), 4→8, k=3 (vec4 weights)', n: 1, dims: [5, 3, 4], cin: 4, cout: 8, k: 3 },
  { name: '2×(2×3×2), 6→7, k=1', n: 2, dims: [2, 3, 2], cin: 6, cout: 7, k: 1 },
  { name: '3×(1×1×1), 2→4, k=3 (all neighbours padding)', n: 3, dims: [1, 1, 1], cin: 2, cout: 4, k: 3 },
  { name: '2×(6×6×6), 1→12, k=3 (Cin = 1, as encoder1)', n: 2, dims: [6, 6, 6], cin: 1, cout: 12, k: 3 },
  { name: '1×(9×8×7), 16→12, k=3 (many workgroups)', n: 1, dims: [9, 8, 7], cin: 16, cout: 12, k: 3 },
  { name: '2×(2×2×2), 40→36, k=3 (deep stage shape)', n: 2, dims: [2, 2, 2], cin: 40, cout: 36, k: 3 },
];

async function runCase(c: Case, backend: string) {
  await tf.setBackend(backend);
  const V = c.dims[0] * c.dims[1] * c.dims[2];
  const xv = values(c.n * V * c.cin, 11, 7), wv = values(c.k ** 3 * c.cin * c.cout, 12), gv = values(c.n * V * c.cout, 13);
  const before = tf.memory().numTensors;
  const x = tf.tensor3d(xv, [c.n, V, c.cin]);
  const w = tf.tensor2d(wv, [c.k ** 3 * c.cin, c.cout]);
  const g = tf.tensor3d(gv, [c.n, V, c.cout]);
  const y = conv.conv3d(x, w, c.dims, c.k);
  const [dx, dw] = tf.grads((a: tfTypes.Tensor, b: tfTypes.Tensor) =>
    tf.sum(tf.mul(conv.conv3d(a as tfTypes.Tensor3D, b as tfTypes.Tensor2D, c.dims, c.k), g)))([x, w]);
  const out = { y: await y.data(), dx: await dx.data(), dw: await dw.data(), shape: y.shape };
  tf.dispose([x, w, g, y, dx, dw]);
  const leaked = tf.memory().numTensors - before;
  return { ...out, leaked, ref: reference(c, xv, wv, gv) };
}

function checkCase(r: Awaited<ReturnType<typeof runCase>>, c: Case, tol: number): void {
  const V = c.dims[0] * c.dims[1] * c.dims[2];
  expect(r.shape).toEqual([c.n, V, c.cout]);
  expect(relErr(r.y, r.ref.y), 'y').toBeLessThan(tol);
  expect(relErr(r.dx, r.ref.dx), 'dx').toBeLessThan(tol);
  expect(relErr(r.dw, r.ref.dw), 'dw').toBeLessThan(tol);
  expect(r.leaked).toBe(0);
}

describe('conv3d weight layout', () => {
  it('pytorchConvWeightToOurs places torch[co][ci][kd][kh][kw] at row ((kd·k+kh)·k+kw)·Cin+ci, column co, and inverts', () => {
    const [cout, cin, k] = [5, 3, 3];
    const torch = values(cout * cin * 27, 3);
    const ours = conv.pytorchConvWeightToOurs(torch, cout, cin, k);
    for (let co = 0; co < cout; co++) for (let ci = 0; ci < cin; ci++)
      for (let kd = 0; kd < 3; kd++) for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) {
        const t = (kd * 3 + kh) * 3 + kw;
        expect(ours[(t * cin + ci) * cout + co]).toBe(torch[(((co * cin + ci) * 3 + kd) * 3 + kh) * 3 + kw]);
      }
    expect(conv.oursConvWeightToPytorch(ours, cout, cin, k)).toEqual(torch);
    expect(() => conv.pytorchConvWeightToOurs(torch, cout, cin + 1, k)).toThrow(/do not make/);
  });

  it('refuses shapes that do not fit', async () => {
    await tf.setBackend('cpu');
    const x = tf.zeros([1, 8, 2]) as tfTypes.Tensor3D;
    expect(() => conv.conv3d(x, tf.zeros([54, 3]) as tfTypes.Tensor2D, [2, 2, 3], 3)).toThrow(/voxels per volume/);
    expect(() => conv.conv3d(x, tf.zeros([27, 3]) as tfTypes.Tensor2D, [2, 2, 2], 3)).toThrow(/w must be/);
  });
});

describe('conv3d against a float64 reference', () => {
  for (const backend of ['cpu', 'wasm']) {
    for (const c of CASES) {
      it(`${backend}: ${c.name}`, async () => {
        // cpu: the CPU twin sums in float64; wasm: blocks of im2col rows through the backend's float32 matmul
        // (src/kernels/im2col3d.ts), held to the GPU kernels' float32 bound.
        checkCase(await runCase(c, backend), c, backend === 'cpu' ? 1e-5 : 1e-4);
      });
    }
  }
});

describe.skipIf(SKIP_NODE_WEBGPU)('conv3d on WebGPU (Dawn) against a float64 reference', () => {
  beforeAll(() => requireWebgpu(gpu));

  for (const c of CASES) {
    it(`webgpu: ${c.name}`, async () => {
      await tf.setBackend('webgpu');
      const backend = tf.backend() as unknown as WebGPUBackend;
      backend.device.pushErrorScope('validation');
      const r = await runCase(c, 'webgpu');
      expect(await backend.device.popErrorScope()).toBeNull();
      // Proof that our programs ran: their pipelines are in the backend's cache.
      const keys = Object.keys((backend as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
      expect(keys.some((key) => key.startsWith(`vocoConv3d_${c.k}`))).toBe(true);
      expect(keys.some((key) => key.startsWith(`vocoConv3dFilterGrad_${c.k}`))).toBe(true);
      // float32 accumulation over k³·Cin terms on the GPU (the CPU twin sums in float64)
      checkCase(r, c, 1e-4);
    });
  }
});

describe('conv3d on wasm: blocks of im2col rows through the matmul', () => {
  it('several blocks (a 100-float block: forward, dx and dw split into many GEMMs) match the float64 reference, and the im2col kernel ran', async () => {
    const before = conv.setIm2colBlockFloats(100);
    try {
      for (const c of [CASES[1], CASES[4], CASES[6]]) {
        let r: Awaited<ReturnType<typeof runCase>> | null = null;
        const info = await tf.profile(async () => {
          r = await runCase(c, 'wasm');
        });
        expect(info.kernels.some((k) => k.name === 'VocoIm2col3d'), c.name).toBe(true);
        expect(info.kernels.some((k) => k.name === 'VocoConv3d' || k.name === 'VocoConv3dFilterGrad'), c.name).toBe(false);
        checkCase(r!, c, 1e-4);
      }
    } finally {
      conv.setIm2colBlockFloats(before);
    }
  });
});

describe('conv3d options', () => {
  it('inputGradient: false skips dx (zeros) and keeps dw', async () => {
    await tf.setBackend('cpu');
    const c = CASES[0];
    const V = c.dims[0] * c.dims[1] * c.dims[2];
    const x = tf.tensor3d(values(c.n * V * c.cin, 11), [c.n, V, c.cin]);
    const w = tf.tensor2d(values(27 * c.cin * c.cout, 12), [27 * c.cin, c.cout]);
    const [dx, dw] = tf.grads((a: tfTypes.Tensor, b: tfTypes.Tensor) =>
      tf.sum(conv.conv3d(a as tfTypes.Tensor3D, b as tfTypes.Tensor2D, c.dims, 3, { inputGradient: false })))([x, w]);
    const [dxFull, dwFull] = tf.grads((a: tfTypes.Tensor, b: tfTypes.Tensor) =>
      tf.sum(conv.conv3d(a as tfTypes.Tensor3D, b as tfTypes.Tensor2D, c.dims, 3)))([x, w]);
    expect(Array.from(await dx.data()).every((v) => v === 0)).toBe(true);
    expect(Array.from(await dxFull.data()).some((v) => v !== 0)).toBe(true);
    expect(await dw.data()).toEqual(await dwFull.data());
  });
});
