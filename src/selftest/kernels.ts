// Browser checks of the custom kernels (called from e2e/kernels.spec.ts through window.selftest.kernels):
// crop-sampler parity on webgpu / wasm / webgl against the plain-TS CPU twin, and a throughput benchmark.
// Returns plain JSON only.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { sampleCrops, sampleCropsCPU, type CropSpec } from '../kernels/cropSampler';
import { packVolumes } from '../kernels/packVolumes';
import { registerTiledMatMulActive, useRegisterTiledMatMul } from '../kernels/matMulRegisterTiled';

export type KernelBackendName = 'cpu' | 'wasm' | 'webgl' | 'webgpu';

/** Loads and activates a tfjs backend; throws when the active backend is not the one asked for. */
export async function useBackend(name: KernelBackendName): Promise<void> {
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries are served from our own origin (vite plugin tfjsWasmFiles).
    wasm.setWasmPaths('/tfjs-wasm/');
  }
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`backend '${name}' did not start (active: ${tf.getBackend()})`);
}

// ---- parity ------------------------------------------------------------------------------------------------------

type Dims = [number, number, number];

/** Voxel values encode (volume, x, y, z) exactly in float32, so any misplaced read shows up as a wrong value. */
function codedVolume(vol: number, dims: Dims): { dims: Dims; data: Float32Array } {
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++)
    for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++) data[i++] = 1 + x + 64 * y + 4096 * z + 262144 * vol;
  return { dims, data };
}

const crop = (volume: number, origin: Dims, extra: Partial<CropSpec> = {}): CropSpec => ({
  volume, origin, flip: [false, false, false], rot90: 0, shift: 0, ...extra,
});

function allAugmentations(volume: number, origin: Dims): CropSpec[] {
  const list: CropSpec[] = [];
  for (let f = 0; f < 8; f++)
    for (let k = 0; k < 4; k++) list.push(crop(volume, origin, { flip: [!!(f & 1), !!(f & 2), !!(f & 4)], rot90: k, shift: (f + k) * 0.25 }));
  return list;
}

function paritySuite() {
  const cube = [codedVolume(0, [20, 18, 16])];
  const odd = [codedVolume(0, [13, 11, 9]), codedVolume(1, [17, 7, 15]), codedVolume(2, [9, 19, 11])];
  const edges = [
    crop(0, [-3, -2, -5]), crop(0, [15, 14, 12], { rot90: 1, flip: [false, true, false] }),
    crop(0, [-40, 0, 0], { shift: 0.125 }), crop(0, [2, 1, 3], { shift: -0.25, flip: [true, false, true], rot90: 3 }),
  ];
  const oddCrops = [
    crop(0, [1, 0, -1], { rot90: 1 }), crop(1, [3, -2, 2], { flip: [true, true, false], rot90: 2, shift: 0.75 }),
    crop(2, [-1, 4, 0], { flip: [false, false, true], rot90: 3 }), crop(2, [0, 10, 2], { rot90: 1, flip: [false, true, true], shift: -1 }),
  ];
  return [
    { name: 'r=8 p=8 all flips x rot90', vols: cube, crops: allAugmentations(0, [3, 5, 2]), r: 8, p: 8 },
    { name: 'r=8 p=4 all flips x rot90', vols: cube, crops: allAugmentations(0, [3, 5, 2]), r: 8, p: 4 },
    { name: 'r=8 p=2 all flips x rot90', vols: cube, crops: allAugmentations(0, [3, 5, 2]), r: 8, p: 2 },
    { name: 'r=8 p=4 out of bounds + shift', vols: cube, crops: edges, r: 8, p: 4 },
    { name: 'r=12 p=4 three odd volumes', vols: odd, crops: oddCrops, r: 12, p: 4 },
    { name: 'r=12 p=3 three odd volumes, all flips x rot90', vols: odd, crops: allAugmentations(1, [2, -3, 1]), r: 12, p: 3 },
  ];
}

export interface ParityCase { name: string; values: number; mismatches: number; firstMismatch: string | null }
export interface BackendParity { requested: string; ran: string; cases: ParityCase[]; gpuErrors: string[]; error: string | null }

/** Collects WebGPU errors (error scopes + uncapturederror) around fn; empty list on other backends. */
async function watchGpuErrors<T>(fn: () => Promise<T>): Promise<{ result: T; errors: string[] }> {
  if (tf.getBackend() !== 'webgpu') return { result: await fn(), errors: [] };
  const device = (tf.backend() as unknown as WebGPUBackend).device;
  const errors: string[] = [];
  const onError = (e: Event) => errors.push(`uncapturederror: ${(e as GPUUncapturedErrorEvent).error.message}`);
  device.addEventListener('uncapturederror', onError);
  const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
  filters.forEach((f) => device.pushErrorScope(f));
  try {
    const result = await fn();
    for (let i = 0; i < filters.length; i++) {
      const err = await device.popErrorScope();
      if (err) errors.push(err.message);
    }
    await device.queue.onSubmittedWorkDone();
    return { result, errors };
  } finally {
    device.removeEventListener('uncapturederror', onError);
  }
}

/** Runs every parity case on `name` and compares with the CPU twin value by value (exact equality). */
export async function cropSamplerParity(name: KernelBackendName): Promise<BackendParity> {
  const report: BackendParity = { requested: name, ran: '', cases: [], gpuErrors: [], error: null };
  try {
    await useBackend(name);
    report.ran = tf.getBackend();
    const { result, errors } = await watchGpuErrors(async () => {
      const cases: ParityCase[] = [];
      for (const s of paritySuite()) {
        const { data, layout } = packVolumes(s.vols);
        const expected = sampleCropsCPU(data, layout, s.crops, s.r, s.p);
        const packed = tf.tensor1d(data);
        const out = sampleCrops(packed, layout, s.crops, s.r, s.p);
        const got = (await out.data()) as Float32Array;
        tf.dispose([packed, out]);
        let mismatches = Math.abs(got.length - expected.length);
        let first: string | null = mismatches ? `length ${got.length} vs ${expected.length}` : null;
        for (let i = 0; i < Math.min(got.length, expected.length); i++) {
          if (got[i] !== expected[i]) {
            mismatches++;
            first ??= `index ${i}: got ${got[i]}, expected ${expected[i]}`;
          }
        }
        cases.push({ name: s.name, values: got.length, mismatches, firstMismatch: first });
      }
      return cases;
    });
    report.cases = result;
    report.gpuErrors = errors;
  } catch (err) {
    report.error = (err as Error)?.message ?? String(err);
  }
  return report;
}

/** Parity on webgpu, wasm and webgl (the e2e test requires all of them to be exact and error-free). */
export async function cropSamplerParityAll(): Promise<BackendParity[]> {
  const out: BackendParity[] = [];
  for (const name of ['webgpu', 'wasm', 'webgl'] as const) out.push(await cropSamplerParity(name));
  return out;
}

// ---- throughput --------------------------------------------------------------------------------------------------

export interface CropSamplerBench {
  backend: string;
  /** Crops per call, crop edge, patch edge. */
  crops: number; r: number; patch: number;
  iterations: number;
  msPerCall: number;
  /** Output bytes written per second (float32 patch tokens), in GB/s (1e9 bytes). */
  gbPerSec: number;
  outputMBPerCall: number;
  gpuErrors: string[];
}

/**
 * Throughput of sampleCrops on `backend` for a realistic step: 2 volumes of 110×90×110 resident on the device,
 * 22 crops of r=32 with patch 8 (random origins, flips, turns, shifts). Times `iterations` calls back to back,
 * including the crop-table upload each call does, and waits for the last result with a 1-value read
 * (the GPU queue runs in order), so the time covers all the sampling work.
 */
export async function benchCropSampler(backend: KernelBackendName, opts: { iterations?: number; minMs?: number } = {}): Promise<CropSamplerBench> {
  await useBackend(backend);
  const dims: Dims = [110, 90, 110];
  const vols = [0, 1].map(() => {
    const data = new Float32Array(dims[0] * dims[1] * dims[2]);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 0) / 2 ** 32;
    return { dims, data };
  });
  const r = 32, patch = 8, numCrops = 22;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const crops: CropSpec[] = Array.from({ length: numCrops }, (_, i) => ({
    volume: i % 2,
    origin: [Math.floor(rand() * (dims[0] - r)), Math.floor(rand() * (dims[1] - r)), Math.floor(rand() * (dims[2] - r))],
    flip: [rand() < 0.2, rand() < 0.2, rand() < 0.2],
    rot90: rand() < 0.2 ? 1 + Math.floor(rand() * 3) : 0,
    shift: rand() < 0.5 ? (rand() * 2 - 1) * 0.1 : 0,
  }));
  const { data, layout } = packVolumes(vols);
  const packed = tf.tensor1d(data);
  const outBytes = numCrops * r ** 3 * 4;
  const { result, errors } = await watchGpuErrors(async () => {
    // Warm-up: compiles the pipeline and fills buffer pools.
    for (let i = 0; i < 2; i++) {
      const out = sampleCrops(packed, layout, crops, r, patch);
      await out.data();
      out.dispose();
    }
    const minMs = opts.minMs ?? 1000;
    let iterations = 0;
    const t0 = performance.now();
    let elapsed = 0;
    do {
      const batch = opts.iterations ?? Math.max(1, Math.min(50, iterations || 3));
      let last: tf.Tensor | null = null;
      for (let i = 0; i < batch; i++) {
        last?.dispose();
        last = sampleCrops(packed, layout, crops, r, patch);
      }
      const probe = tf.slice(last!, [0, 0, 0], [1, 1, 1]);
      await probe.data();
      tf.dispose([probe, last!]);
      iterations += batch;
      elapsed = performance.now() - t0;
    } while (opts.iterations === undefined && elapsed < minMs);
    return { iterations, elapsed };
  });
  packed.dispose();
  const msPerCall = result.elapsed / result.iterations;
  return {
    backend: tf.getBackend(), crops: numCrops, r, patch, iterations: result.iterations,
    msPerCall: Math.round(msPerCall * 1000) / 1000,
    gbPerSec: Math.round((outBytes / (msPerCall / 1000) / 1e9) * 1000) / 1000,
    outputMBPerCall: Math.round((outBytes / 1e6) * 100) / 100,
    gpuErrors: errors,
  };
}

// ---- register-tiled matmul (opt-in BatchMatMul replacement for software WebGPU adapters) --------------------------

function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 31 - 1;
  return out;
}

/** float64 op(A)·op(B) for 2-D operands. */
function matMulReference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) sum += a[ta ? q * m + i : i * k + q] * b[tb ? j * k + q : q * n + j];
      out[i * n + j] = sum;
    }
  return out;
}

export interface MatMulParityCase { name: string; maxRelErr: number; ourProgramRan: boolean }

/** Register-tiled BatchMatMul on webgpu against a float64 reference (2-D, every transpose combination). */
export async function matMulParity(): Promise<{ ran: string; cases: MatMulParityCase[]; gpuErrors: string[] }> {
  await useBackend('webgpu');
  const wasActive = registerTiledMatMulActive();
  useRegisterTiledMatMul(true);
  try {
    const { result, errors } = await watchGpuErrors(async () => {
      const cases: MatMulParityCase[] = [];
      for (const [m, k, n] of [[13, 7, 5], [130, 64, 72]]) {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
          const av = pseudoRandom(m * k, m + k), bv = pseudoRandom(k * n, n + 7);
          const a = tf.tensor2d(av, ta ? [k, m] : [m, k]);
          const b = tf.tensor2d(bv, tb ? [n, k] : [k, n]);
          const out = tf.matMul(a, b, ta, tb);
          const got = await out.data();
          tf.dispose([a, b, out]);
          const want = matMulReference(av, bv, m, k, n, ta, tb);
          let worst = 0;
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
          const keys = Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
          cases.push({ name: `${m}x${k}x${n} ta=${ta} tb=${tb}`, maxRelErr: worst,
            ourProgramRan: keys.some((key) => key.startsWith(`vocoMatMulRegTiled_${ta}_${tb}`)) });
        }
      }
      return cases;
    });
    return { ran: tf.getBackend(), cases: result, gpuErrors: errors };
  } finally {
    useRegisterTiledMatMul(wasActive);
  }
}

export interface MatMulBench { shape: string; tfjsMs: number; tiledMs: number; tfjsGflops: number; tiledGflops: number; maxAbsDiff: number }

/**
 * tfjs's own webgpu matMul against the register-tiled kernel, same operands, same warm machine.
 * Default shapes follow the studio's step (22 crops × 64 tokens = 1408 rows): patch embedding 512→128,
 * qkv 128→384, MLP 128→512 and back, plus 512³.
 */
export async function benchMatMul(shapes: [number, number, number][] = [[1408, 512, 128], [1408, 128, 384], [1408, 128, 512], [1408, 512, 128], [512, 512, 512]],
  opts: { rounds?: number; perRound?: number } = {}): Promise<MatMulBench[]> {
  await useBackend('webgpu');
  const wasActive = registerTiledMatMulActive();
  const rounds = opts.rounds ?? 3, perRound = opts.perRound ?? 4;
  const results: MatMulBench[] = [];
  try {
    for (const [m, k, n] of shapes) {
      const a = tf.tensor2d(pseudoRandom(m * k, 1), [m, k]);
      const b = tf.tensor2d(pseudoRandom(k * n, 2), [k, n]);
      const time = async (tiled: boolean) => {
        useRegisterTiledMatMul(tiled);
        const first = tf.matMul(a, b);
        const values = (await first.data()) as Float32Array;
        first.dispose();
        let best = Infinity;
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now();
          let last: tf.Tensor | null = null;
          for (let i = 0; i < perRound; i++) { last?.dispose(); last = tf.matMul(a, b); }
          const probe = tf.slice(last!, [0, 0], [1, 1]);
          await probe.data();
          tf.dispose([probe, last!]);
          best = Math.min(best, (performance.now() - t0) / perRound);
        }
        return { ms: best, values };
      };
      const ours = await time(true);
      const theirs = await time(false);
      let diff = 0;
      for (let i = 0; i < ours.values.length; i++) diff = Math.max(diff, Math.abs(ours.values[i] - theirs.values[i]));
      const gflop = (2 * m * k * n) / 1e9;
      results.push({ shape: `${m}x${k}x${n}`, tfjsMs: Math.round(theirs.ms * 10) / 10, tiledMs: Math.round(ours.ms * 10) / 10,
        tfjsGflops: Math.round((gflop / (theirs.ms / 1000)) * 1000) / 1000, tiledGflops: Math.round((gflop / (ours.ms / 1000)) * 1000) / 1000,
        maxAbsDiff: diff });
      tf.dispose([a, b]);
    }
  } finally {
    useRegisterTiledMatMul(wasActive);
  }
  return results;
}

/** The WebGPU adapter's own description (to tell SwiftShader from a real GPU in reports). */
export async function webgpuAdapterInfo(): Promise<Record<string, string>> {
  const adapter = await navigator.gpu?.requestAdapter();
  const info = (adapter as (GPUAdapter & { info?: GPUAdapterInfo }) | null)?.info;
  return { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '' };
}
