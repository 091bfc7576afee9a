// Browser checks of the round-2 performance kernels (called from e2e/perf-kernels.spec.ts through
// window.selftest.perfKernels): the WebAssembly SIMD batched matmul in tfjs-backend-wasm (plain and relaxed SIMD)
// and the fused AdamW kernel on wasm and webgpu, each against its CPU twin. Returns plain JSON only.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { initBackend } from '../backend/backends';
import * as simd from '../kernels/wasmSimdBatchMatMul';
import { adamwUpdateInPlace, fusedAdamW, fusedAdamWRuns, type AdamWHyper } from '../kernels/fusedAdamW';
import * as ln from '../kernels/layerNormRows';
import * as gelu from '../kernels/geluTanh';
import * as sm from '../kernels/softmaxRows';
import * as gemm from '../kernels/wasmSimdGemm';
import { gemmHelperTasks, useGemmHelpers } from '../kernels/wasmSimdGemmThreads';

const values = (n: number, salt: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.613 + salt) * scale * (1 + (i % 4) * 0.25));

function maxRelErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    err = Math.max(err, Math.abs(got[i] - ref[i]));
  }
  return err / Math.max(scale, 1e-30);
}

export interface SimdParityCase { name: string; relaxed: boolean; maxRelErr: number; simdRan: boolean }

/**
 * On the studio's wasm backend (initBackend: the BatchMatMul policy is installed): attention's products, a
 * matrix-vector product and column sums through tf.matMul, against the CPU twin; with relaxed SIMD off and, where
 * the engine validates it, on.
 */
export async function wasmSimdParity(): Promise<{ ran: string; support: { simd: boolean; relaxed: boolean }; cases: SimdParityCase[] }> {
  await initBackend('wasm', { useStore: false });
  const support = simd.simdSupport();
  const shapes: [string, simd.BatchMatMulShape][] = [
    ['scores q·kᵀ [44,64,64]', { batch: 44, batchA: 44, batchB: 44, m: 64, k: 64, n: 64, transposeA: false, transposeB: true }],
    ['context p·v', { batch: 44, batchA: 44, batchB: 44, m: 64, k: 64, n: 64, transposeA: false, transposeB: false }],
    ['dv = pᵀ·dctx', { batch: 44, batchA: 44, batchB: 44, m: 64, k: 64, n: 64, transposeA: true, transposeB: false }],
    ['aᵀ·bᵀ, odd m', { batch: 6, batchA: 6, batchB: 6, m: 13, k: 9, n: 16, transposeA: true, transposeB: true }],
    ['row means [1408,128]·[128,1]', { batch: 1, batchA: 1, batchB: 1, m: 1408, k: 128, n: 1, transposeA: false, transposeB: false }],
    ['column sums [1408,128]ᵀ·[1408,1]', { batch: 1, batchA: 1, batchB: 1, m: 128, k: 1408, n: 1, transposeA: true, transposeB: false }],
  ];
  const cases: SimdParityCase[] = [];
  try {
    for (const relaxed of [false, ...(support.relaxed ? [true] : [])]) {
      simd.setSimdRelaxed(relaxed);
      for (const [name, s] of shapes) {
        const aShape = [...(s.batchA > 1 ? [s.batchA] : []), ...(s.transposeA ? [s.k, s.m] : [s.m, s.k])];
        const bShape = [...(s.batchB > 1 ? [s.batchB] : []), ...(s.transposeB ? [s.n, s.k] : [s.k, s.n])];
        const av = values(s.batchA * s.m * s.k, 1);
        const bv = values(s.batchB * s.k * s.n, 2);
        const before = simd.simdProductsRun;
        const y = tf.tidy(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), s.transposeA, s.transposeB));
        const got = (await y.data()) as Float32Array;
        y.dispose();
        cases.push({ name, relaxed, maxRelErr: maxRelErr(got, simd.batchMatMulReference(av, bv, s)), simdRan: simd.simdProductsRun === before + 1 });
      }
    }
  } finally {
    simd.setSimdRelaxed(null);
  }
  return { ran: tf.getBackend(), support, cases };
}

export interface AdamWParity { backend: string; ran: string; runs: number; maxRelErr: number; gpuErrors: string[]; error: string | null }

/** One fused AdamW update of a [300, 70] variable (amsgrad, clip factor 0.7) on `backend` against the CPU twin. */
export async function fusedAdamWParity(backend: 'wasm' | 'webgpu'): Promise<AdamWParity> {
  const report: AdamWParity = { backend, ran: '', runs: 0, maxRelErr: NaN, gpuErrors: [], error: null };
  try {
    await initBackend(backend, { useStore: false });
    report.ran = tf.getBackend();
    const n = 300 * 70;
    const p = values(n, 1), g = values(n, 2, 3), m = values(n, 3, 0.1), v = values(n, 4, 0.01).map(Math.abs), x = v.map((y, i) => (i % 2 ? 2 * y : y / 2));
    const h: AdamWHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 0.003, bc2Sqrt: 0.05, decay: 0.9995, amsgrad: true };
    const device = backend === 'webgpu' ? (tf.backend() as unknown as WebGPUBackend).device : null;
    const onError = (e: Event) => report.gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
    device?.addEventListener('uncapturederror', onError);
    device?.pushErrorScope('validation');
    const before = fusedAdamWRuns[backend] ?? 0;
    const outs = tf.tidy(() => fusedAdamW(...([p, g, m, v, x].map((a) => tf.tensor2d(a, [300, 70])) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]), tf.scalar(0.7), h));
    const got = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
    tf.dispose(outs);
    report.runs = (fusedAdamWRuns[backend] ?? 0) - before;
    if (device) {
      const err = await device.popErrorScope();
      if (err) report.gpuErrors.push(err.message);
      await device.queue.onSubmittedWorkDone();
      device.removeEventListener('uncapturederror', onError);
    }
    const want = [p, m, v, x].map((a) => a.slice());
    adamwUpdateInPlace(want[0], g, want[1], want[2], want[3], 0.7, h);
    report.maxRelErr = Math.max(...got.map((o, i) => maxRelErr(o, want[i])));
  } catch (err) {
    report.error = (err as Error).message;
  }
  return report;
}

export interface SubgroupMatMulParity {
  ran: string;
  adapterFeatures: string[];
  deviceHasSubgroups: boolean;
  kernels: string[];
  cases: { name: string; maxRelErr: number; ourProgramRan: boolean }[];
  gpuErrors: string[];
  error: string | null;
}

/**
 * The register-tiled matmul's subgroup variant on webgpu (where the device has `subgroups`) against a float64
 * reference: every transpose case, edges in rows/columns, K not a multiple of the subgroup size, a batch. Also
 * returns the kernels the measured choice put in place at backend start (initBackend's info.kernels).
 */
export async function subgroupMatMulParity(): Promise<SubgroupMatMulParity> {
  const { setRegisterTiledVariant, useRegisterTiledMatMul, registerTiledMatMulActive, registerTiledVariant } = await import('../kernels/matMulRegisterTiled');
  const report: SubgroupMatMulParity = { ran: '', adapterFeatures: [], deviceHasSubgroups: false, kernels: [], cases: [], gpuErrors: [], error: null };
  try {
    const info = await initBackend('webgpu', { useStore: false });
    report.ran = tf.getBackend();
    report.kernels = info.kernels ?? [];
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    report.adapterFeatures = adapter ? [...adapter.features].map(String).sort() : [];
    const device = (tf.backend() as unknown as WebGPUBackend).device;
    report.deviceHasSubgroups = device.features.has('subgroups');
    if (!report.deviceHasSubgroups) return report;
    const was = { active: registerTiledMatMulActive(), variant: registerTiledVariant() };
    const onError = (e: Event) => report.gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
    device.addEventListener('uncapturederror', onError);
    device.pushErrorScope('validation');
    useRegisterTiledMatMul(true);
    setRegisterTiledVariant('tiled-subgroups');
    try {
      const shapes: [string, number, number, number, number][] = [['13×7·7×5', 1, 13, 7, 5], ['130×64·64×72', 1, 130, 64, 72], ['batch 3 of 33×37·37×40', 3, 33, 37, 40]];
      for (const [label, batch, m, k, n] of shapes) {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const s: simd.BatchMatMulShape = { batch, batchA: batch, batchB: batch, m, k, n, transposeA: ta, transposeB: tb };
          const lead = batch > 1 ? [batch] : [];
          const av = values(batch * m * k, m + k), bv = values(batch * k * n, n + 7);
          const y = tf.tidy(() => tf.matMul(tf.tensor(av, [...lead, ...(ta ? [k, m] : [m, k])]), tf.tensor(bv, [...lead, ...(tb ? [n, k] : [k, n])]), ta, tb));
          const got = (await y.data()) as Float32Array;
          y.dispose();
          const keys = Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
          report.cases.push({ name: `${label} ta=${ta} tb=${tb}`, maxRelErr: maxRelErr(got, simd.batchMatMulReference(av, bv, s)), ourProgramRan: keys.some((x) => x.startsWith(`vocoMatMulRegTiledSubgroups_${ta}_${tb}`)) });
        }
      }
    } finally {
      useRegisterTiledMatMul(was.active);
      setRegisterTiledVariant(was.variant);
      const err = await device.popErrorScope();
      if (err) report.gpuErrors.push(err.message);
      await device.queue.onSubmittedWorkDone();
      device.removeEventListener('uncapturederror', onError);
    }
  } catch (err) {
    report.error = (err as Error).message;
  }
  return report;
}

/** tol: 1e-5, or 1e-4 for dγ and dβ (float32 sums over 1408 rows on SIMD against float64 sums in the twin). */
export interface FusedRowCase { name: string; maxRelErr: number; simdRan: boolean; tol: number }

/**
 * On the studio's wasm backend (threaded: the heap is a SharedArrayBuffer here), the fused LayerNorm, GELU and scaled
 * softmax kernels forward and backward at the B preset's shapes, each against its CPU twin run on the same inputs.
 */
export async function fusedRowKernelsParity(): Promise<{ ran: string; shared: boolean; cases: FusedRowCase[] }> {
  await initBackend('wasm', { useStore: false });
  const memory = simd.wasmBackendMemory(tf.backend());
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory?.buffer instanceof SharedArrayBuffer;
  const cases: FusedRowCase[] = [];
  const read = async (t: tf.Tensor) => (await t.data()) as Float32Array;
  const push = (name: string, got: Float32Array, want: Float32Array, ran: boolean, tol = 1e-5) => cases.push({ name, maxRelErr: maxRelErr(got, want), simdRan: ran, tol });

  // LayerNorm [1408, 128] with γ, β.
  {
    const [m, d] = [1408, 128];
    const xv = values(m * d, 1, 3).map((v) => v + 2), gv = values(d, 2), bv = values(d, 3), dyv = values(m * d, 4);
    const before = { ...ln.layerNormSimdRuns };
    const outs = tf.tidy(() => {
      const [y, xhat, rstd] = ln.layerNormForwardKernel(tf.tensor2d(xv, [m, d]), 1e-5, tf.tensor1d(gv), tf.tensor1d(bv));
      return [y, xhat, rstd, ...ln.layerNormBackwardKernel(tf.tensor2d(dyv, [m, d]), xhat as tf.Tensor2D, rstd as tf.Tensor2D, tf.tensor1d(gv))];
    });
    const [y, xhat, rstd, dx, dg, db] = await Promise.all(outs.map(read));
    tf.dispose(outs);
    const ran = ln.layerNormSimdRuns.forward === before.forward + 1 && ln.layerNormSimdRuns.backward === before.backward + 1;
    const want = { y: new Float32Array(m * d), xhat: new Float32Array(m * d), rstd: new Float32Array(m), dx: new Float32Array(m * d), dg: new Float32Array(d), db: new Float32Array(d) };
    ln.layerNormForwardRows(xv, m, d, 1e-5, want.xhat, want.rstd, { gamma: gv, beta: bv, y: want.y });
    ln.layerNormBackwardRows(dyv, xhat, rstd, m, d, want.dx, { gamma: gv, dgamma: want.dg, dbeta: want.db });
    push('LayerNorm y [1408,128]', y, want.y, ran);
    push('LayerNorm dx', dx, want.dx, ran);
    push('LayerNorm dγ', dg, want.dg, ran, 1e-4);
    push('LayerNorm dβ', db, want.db, ran, 1e-4);
  }
  // GELU [1408, 512] (+ 3 values: the twin takes the tail).
  {
    const n = 1408 * 512 + 3;
    const xv = values(n, 5, 4), dyv = values(n, 6);
    const before = { ...gelu.geluSimdRuns };
    const outs = tf.tidy(() => {
      const [y, s] = gelu.geluForwardKernel(tf.tensor1d(xv));
      return [y, s, gelu.geluBackwardKernel(tf.tensor1d(dyv), tf.tensor1d(xv), s)];
    });
    const [y, s, dx] = await Promise.all(outs.map(read));
    tf.dispose(outs);
    const ran = gelu.geluSimdRuns.forward === before.forward + 1 && gelu.geluSimdRuns.backward === before.backward + 1;
    const want = { y: new Float32Array(n), s: new Float32Array(n), dx: new Float32Array(n) };
    gelu.geluForward(xv, want.y, want.s);
    gelu.geluBackward(dyv, xv, s, want.dx);
    push('GELU y [1408·512 + 3]', y, want.y, ran);
    push('GELU dx', dx, want.dx, ran);
  }
  // Scaled softmax over attention scores [44·64, 64], scale 1/8.
  {
    const [rows, cols, scale] = [44 * 64, 64, 0.125];
    const xv = values(rows * cols, 7, 20), dyv = values(rows * cols, 8);
    const before = { ...sm.softmaxSimdRuns };
    const outs = tf.tidy(() => {
      const y = sm.softmaxForwardKernel(tf.tensor3d(xv, [44, 64, cols]), scale);
      return [y, sm.softmaxBackwardKernel(tf.tensor3d(dyv, [44, 64, cols]), y, scale)];
    });
    const [y, dx] = await Promise.all(outs.map(read));
    tf.dispose(outs);
    const ran = sm.softmaxSimdRuns.forward === before.forward + 1 && sm.softmaxSimdRuns.backward === before.backward + 1;
    const want = { y: new Float32Array(rows * cols), dx: new Float32Array(rows * cols) };
    sm.softmaxForwardRows(xv, rows, cols, scale, want.y);
    sm.softmaxBackwardRows(dyv, y, rows, cols, scale, want.dx);
    push('softmax y [44,64,64]', y, want.y, ran);
    push('softmax dx', dx, want.dx, ran);
  }
  return { ran: tf.getBackend(), shared, cases };
}

/** tol: 1e-5, or 5e-5 where k > 1000 (float32 sums over 1408 or 1024 products against float64 sums in the twin). */
export interface GemmParityCase { name: string; relaxed: boolean; threads: number; maxRelErr: number; gemmRan: boolean; tol: number }

/**
 * On the studio's wasm backend (threaded, heap shared): the cache-blocked SIMD GEMM at the default preset's linear-layer
 * shapes (dW = xᵀ·dy, dX = dy·Wᵀ, the forward with its bias through tf.fused.matMul, a 22-row product) against its CPU
 * twin, with the helper threads and without, plain and (where validated) relaxed SIMD. `helperTasks`: tasks the
 * helper threads ran during the helper cases.
 */
export async function simdGemmParity(): Promise<{ ran: string; shared: boolean; threads: number; helperTasks: number; cases: GemmParityCase[] }> {
  await initBackend('wasm', { useStore: false });
  const memory = simd.wasmBackendMemory(tf.backend());
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory?.buffer instanceof SharedArrayBuffer;
  const threads = gemm.gemmThreads();
  const support = simd.simdSupport();
  const one = { batch: 1, batchA: 1, batchB: 1 };
  const shapes: [string, gemm.GemmShape, boolean][] = [
    ['dW fc1 [1408,128]ᵀ·[1408,512]', { ...one, m: 128, k: 1408, n: 512, transposeA: true, transposeB: false }, false],
    ['dW fc2 [1408,512]ᵀ·[1408,128]', { ...one, m: 512, k: 1408, n: 128, transposeA: true, transposeB: false }, false],
    ['dX fc1 [1408,512]·[128,512]ᵀ', { ...one, m: 1408, k: 512, n: 128, transposeA: false, transposeB: true }, false],
    ['forward qkv [1408,128]·[128,384] + bias (fused)', { ...one, m: 1408, k: 128, n: 384, transposeA: false, transposeB: false }, true],
    ['22 rows [22,1024]·[1024,1024]', { ...one, m: 22, k: 1024, n: 1024, transposeA: false, transposeB: false }, false],
    ['aᵀ·bᵀ, odd m [300,203]ᵀ·[40,300]ᵀ', { ...one, m: 203, k: 300, n: 40, transposeA: true, transposeB: true }, false],
  ];
  const cases: GemmParityCase[] = [];
  const helpedBefore = gemmHelperTasks();
  try {
    for (const helpers of [true, false]) {
      useGemmHelpers(helpers);
      for (const relaxed of [false, ...(support.relaxed ? [true] : [])]) {
        simd.setSimdRelaxed(relaxed);
        for (const [name, s, withBias] of shapes) {
          const av = values(s.m * s.k, 1);
          const bv = values(s.k * s.n, 2);
          const biasv = values(s.n, 3);
          const before = gemm.gemmProductsRun;
          const y = tf.tidy(() => {
            const a = tf.tensor2d(av, s.transposeA ? [s.k, s.m] : [s.m, s.k]);
            const b = tf.tensor2d(bv, s.transposeB ? [s.n, s.k] : [s.k, s.n]);
            return withBias ? tf.fused.matMul({ a, b, bias: tf.tensor1d(biasv), transposeA: s.transposeA, transposeB: s.transposeB }) : tf.matMul(a, b, s.transposeA, s.transposeB);
          });
          const got = (await y.data()) as Float32Array;
          y.dispose();
          const want = gemm.gemmReference(av, bv, s, withBias ? biasv : undefined);
          cases.push({ name, relaxed, threads: gemm.gemmThreads(), maxRelErr: maxRelErr(got, want), gemmRan: gemm.gemmProductsRun === before + 1, tol: s.k > 1000 ? 5e-5 : 1e-5 });
        }
      }
    }
  } finally {
    simd.setSimdRelaxed(null);
    useGemmHelpers(true);
  }
  return { ran: tf.getBackend(), shared, threads, helperTasks: gemmHelperTasks() - helpedBefore, cases };
}
