// Which WebGPU kernels serve this device, chosen by MEASUREMENT on whatever adapter it is (software or a real GPU):
// - BatchMatMul: tfjs's own programs vs our register-tiled program (src/kernels/matMulRegisterTiled.ts), its pairs
//   variant (vec2 loads, two k per step; identical sums), its subgroup variant where the adapter offers `subgroups`; and, ONLY when the run opts in to half-precision storage
//   (it rounds matmul operands to f16, so it changes the numbers), the packed-f16 variant (matMulPackedHalf.ts) and
//   its native `shader-f16` form where the adapter offers that;
// - the crop sampler's launch shape (workgroup size × values per invocation).
// Timed on training-shaped work after a warm-up (shader compile); the fastest wins. The choice is remembered per
// device (adapter + browser) in IndexedDB like the auto backend choice, so a later start applies it without timing.
import * as tf from '@tensorflow/tfjs-core';
import { registerTiledMatMulActive, setRegisterTiledVariant, useRegisterTiledMatMul, type RegisterTiledVariant } from '../kernels/matMulRegisterTiled';
import { sampleCrops, setCropSamplerVariant, type CropSamplerVariant, type CropSpec } from '../kernels/cropSampler';
import { packVolumes } from '../kernels/packVolumes';
import { recallValue, rememberValue } from './remember';

export type MatMulChoice = 'tfjs' | RegisterTiledVariant;

export interface WebGpuKernelChoice {
  matmul: MatMulChoice;
  cropSampler: CropSamplerVariant;
  /** ms per candidate (median of the timed rounds), for reports. */
  matmulMs: Partial<Record<MatMulChoice, number>>;
  cropSamplerMs: Record<string, number>;
  /** Adapter features that decided which candidates ran. */
  features: string[];
  /** Whether half-precision storage candidates were allowed (the run opted in). */
  halfPrecision?: boolean;
  at?: string;
}

const KEY_PREFIX = 'webgpu-kernels v1 | ';
const memo = new Map<string, WebGpuKernelChoice>();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Median ms of `run` (which returns a tensor to wait on) over `rounds` after `warmups` warm-up calls. A candidate whose
 * last warm-up still takes more than 4× `best` (the best median so far) is not timed further: that time stands. Our
 * own programs get two warm-ups (the first compiles shaders, which can cost several runs' worth); tfjs's one, since
 * on a software adapter each of its calls costs seconds.
 */
async function timeIt(run: () => tf.Tensor, rounds: number, best = Infinity, warmups = 1): Promise<number> {
  let warmMs = Infinity;
  for (let i = 0; i < warmups; i++) {
    const w0 = performance.now();
    const warm = run();
    await warm.data();
    warm.dispose();
    warmMs = performance.now() - w0;
  }
  if (warmMs > 4 * best) return warmMs;
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const y = run();
    await y.data();
    ms.push(performance.now() - t0);
    y.dispose();
  }
  return median(ms);
}

/**
 * Times every candidate on the running webgpu backend. Shapes are a linear layer's forward and weight gradient at
 * the default preset's widths (rows cut to 512 so a software adapter finishes in about a second).
 */
export async function measureWebGpuKernels(features: readonly string[], rounds = 3, halfPrecision = false): Promise<WebGpuKernelChoice> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`measureWebGpuKernels: the webgpu backend is not running (active: ${tf.getBackend()})`);
  const wasActive = registerTiledMatMulActive();
  const matmulMs: Partial<Record<MatMulChoice, number>> = {};
  const x = tf.randomUniform([512, 128], -1, 1, 'float32', 1);
  const w = tf.randomUniform([128, 384], -1, 1, 'float32', 2);
  const dy = tf.randomUniform([512, 384], -1, 1, 'float32', 3);
  // Ours first: on a software adapter tfjs's is ~10× slower and is then cut short after its warm-up.
  const candidates: MatMulChoice[] = ['tiled', 'tiled-pairs', ...(features.includes('subgroups') ? (['tiled-subgroups'] as const) : []),
    ...(halfPrecision ? halfCandidates(features) : []), 'tfjs'];
  try {
    for (const c of candidates) {
      useRegisterTiledMatMul(c !== 'tfjs');
      if (c !== 'tfjs') setRegisterTiledVariant(c);
      const best = Math.min(...Object.values(matmulMs));
      matmulMs[c] = await timeIt(() => tf.tidy(() => tf.add(tf.matMul(x, w), tf.sum(tf.matMul(x, dy, true, false)))), rounds, best, c === 'tfjs' ? 1 : 2);
    }
  } finally {
    tf.dispose([x, w, dy]);
    useRegisterTiledMatMul(wasActive);
    setRegisterTiledVariant('tiled');
  }
  const matmul = candidates.reduce((a, b) => (matmulMs[b]! < matmulMs[a]! ? b : a));

  // Crop sampler: 22 crops of 32³ (p = 8) from two 80×70×60 volumes.
  const dims: [number, number, number] = [80, 70, 60];
  const vol = { dims, data: Float32Array.from({ length: dims[0] * dims[1] * dims[2] }, (_, i) => (i % 977) / 977) };
  const { data, layout } = packVolumes([vol, vol]);
  const packed = tf.tensor1d(data);
  const crops: CropSpec[] = Array.from({ length: 22 }, (_, i) => ({ volume: i % 2, origin: [i, 2 * i, i % 7], flip: [i % 3 === 0, false, i % 5 === 0], rot90: i % 4, shift: 0 }));
  const variants: CropSamplerVariant[] = [
    { workgroupX: 64, perThread: 8 },
    { workgroupX: 256, perThread: 8 },
    { workgroupX: 64, perThread: 4 },
    { workgroupX: 128, perThread: 1 },
  ];
  const cropSamplerMs: Record<string, number> = {};
  try {
    for (const v of variants) {
      setCropSamplerVariant(v);
      const best = Math.min(...Object.values(cropSamplerMs));
      cropSamplerMs[`${v.workgroupX}x${v.perThread}`] = await timeIt(() => sampleCrops(packed, layout, crops, 32, 8), rounds, best);
    }
  } finally {
    packed.dispose();
    setCropSamplerVariant(null);
  }
  const cropSampler = variants.reduce((a, b) => (cropSamplerMs[`${b.workgroupX}x${b.perThread}`] < cropSamplerMs[`${a.workgroupX}x${a.perThread}`] ? b : a));
  return { matmul, cropSampler, matmulMs, cropSamplerMs, features: [...features], halfPrecision };
}

/** The half-precision storage variants this adapter can run (native f16 needs `shader-f16`). */
export function halfCandidates(features: readonly string[]): MatMulChoice[] {
  return ['tiled-f16', ...(features.includes('shader-f16') ? (['tiled-f16-native'] as const) : [])];
}

const isHalf = (c: MatMulChoice) => c === 'tiled-f16' || c === 'tiled-f16-native';

/** Makes a choice take effect (matmul kernel registration, sampler launch shape). */
export function applyWebGpuKernelChoice(c: Pick<WebGpuKernelChoice, 'matmul' | 'cropSampler'>): void {
  useRegisterTiledMatMul(c.matmul !== 'tfjs');
  setRegisterTiledVariant(c.matmul === 'tfjs' ? 'tiled' : c.matmul);
  setCropSamplerVariant(c.cropSampler);
}

/**
 * The choice for this device: remembered (memory, then IndexedDB unless useStore is false) or measured now and
 * remembered. A remembered choice that names a variant the adapter no longer offers is measured again.
 */
export async function chooseWebGpuKernels(deviceKey: string, features: readonly string[], opts: { useStore?: boolean; remeasure?: boolean; halfPrecision?: boolean } = {}): Promise<WebGpuKernelChoice & { source: 'measured' | 'remembered' }> {
  const half = !!opts.halfPrecision;
  // A run that allows f16 storage and one that does not are different choices for the same device.
  const key = KEY_PREFIX + deviceKey + (half ? ' | f16 storage allowed' : '');
  const useStore = opts.useStore ?? true;
  if (!opts.remeasure) {
    const hit = memo.get(key) ?? (useStore ? await recallValue<WebGpuKernelChoice>(key) : null);
    const usable = hit && (hit.matmul !== 'tiled-subgroups' || features.includes('subgroups')) && hit.cropSampler?.perThread > 0 &&
      (!isHalf(hit.matmul) || (half && (hit.matmul === 'tiled-f16' || features.includes('shader-f16'))));
    if (usable) {
      memo.set(key, hit);
      return { ...hit, source: 'remembered' };
    }
  }
  const measured = { ...(await measureWebGpuKernels(features, 3, half)), at: new Date().toISOString() };
  memo.set(key, measured);
  if (useStore) await rememberValue(key, measured);
  return { ...measured, source: 'measured' };
}

/** One line for reports: what runs and what it was measured at. */
export function describeWebGpuKernelChoice(c: WebGpuKernelChoice & { source?: string }): string {
  const mm = Object.entries(c.matmulMs).map(([k, v]) => `${k} ${v!.toFixed(1)} ms`).join(', ');
  const cs = Object.entries(c.cropSamplerMs).map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(', ');
  const f16 = c.halfPrecision ? ' [f16 storage allowed by the run]' : '';
  return `BatchMatMul → ${c.matmul === 'tfjs' ? "tfjs's" : c.matmul}${f16} (${mm}); crop sampler ${c.cropSampler.workgroupX}×${c.cropSampler.perThread} (${cs})${c.source ? `, ${c.source}` : ''}`;
}
