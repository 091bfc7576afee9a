// Browser checks of the half-precision storage path (window.selftest.halfPrecision, called from
// e2e/half-precision.spec.ts and bench/run-bench.mjs): parity of the cast and packed-f16 matmul kernels with their
// CPU twin on the studio's own WebGPU device (src/backend initBackend: the device our kernels really run on), the
// native `shader-f16` variant where the adapter has the feature, and a throughput comparison f32 vs f16 storage.
// Returns plain JSON only.
import * as tf from '@tensorflow/tfjs-core';
import { currentWebGpuDevice, initBackend, onGpuError } from '../backend/backends';
import { castToHalf } from '../kernels/castToHalf';
import { checkHalfMatMul, packHalfRows, type HalfMatMulCheck } from '../kernels/half';
import { matMulPackedHalf, type HalfStorage } from '../kernels/matMulPackedHalf';
import { registerTiledMatMulActive, registerTiledVariant, setRegisterTiledVariant, useRegisterTiledMatMul, type RegisterTiledVariant } from '../kernels/matMulRegisterTiled';

export interface AdapterReport { text: string; adapterFeatures: string[]; deviceFeatures: string[] }

async function startWebgpu(): Promise<{ device: GPUDevice; adapter: AdapterReport; errors: string[]; stop: () => void }> {
  const info = await initBackend('webgpu', { useStore: false });
  if (tf.getBackend() !== 'webgpu') throw new Error(`the webgpu backend did not start (active: ${tf.getBackend()})`);
  const device = currentWebGpuDevice();
  if (!device) throw new Error('no WebGPU device after initBackend(webgpu)');
  const errors: string[] = [];
  const stop = onGpuError((m) => errors.push(m));
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const a = (adapter as (GPUAdapter & { info?: GPUAdapterInfo }) | null)?.info;
  const text = [a?.vendor, a?.architecture, a?.device, a?.description].filter(Boolean).join(' / ') || info.adapter || 'unknown adapter';
  return {
    device, errors, stop,
    adapter: { text, adapterFeatures: [...(adapter?.features ?? [])].map(String).sort(), deviceFeatures: [...device.features].map(String).sort() },
  };
}

function pseudoRandom(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = ((x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 31 - 1) * scale;
  return out;
}

const CASES: { name: string; a: [number, number, number]; b: [number, number, number]; ta: boolean; tb: boolean }[] = [
  { name: '13×7 · 7×5 (odd K, edges)', a: [1, 13, 7], b: [1, 7, 5], ta: false, tb: false },
  { name: 'transposeA, odd columns', a: [1, 7, 13], b: [1, 7, 5], ta: true, tb: false },
  { name: 'transposeB', a: [1, 13, 7], b: [1, 5, 7], ta: false, tb: true },
  { name: 'both transposed', a: [1, 7, 13], b: [1, 5, 7], ta: true, tb: true },
  { name: 'batch 3, broadcast A', a: [1, 17, 10], b: [3, 10, 11], ta: false, tb: false },
  { name: 'model-sized 130×128 · 128×72', a: [1, 130, 128], b: [1, 128, 72], ta: false, tb: false },
];

export interface HalfCaseReport extends HalfMatMulCheck { name: string; storage: HalfStorage; programRan: boolean }
export interface HalfParityReport {
  ran: string;
  adapter: AdapterReport;
  castWords: number;
  castMismatches: string[];
  cases: HalfCaseReport[];
  /** The float32 pairs variant (the f16 programs' loop on float32) against the plain program: values that differ. */
  pairs: { name: string; values: number; differing: number; programRan: boolean }[];
  /** Why the native variant did not run (the adapter lacks shader-f16), or null when it ran. */
  nativeSkipped: string | null;
  gpuErrors: string[];
}

async function runCases(storage: HalfStorage): Promise<HalfCaseReport[]> {
  const out: HalfCaseReport[] = [];
  for (const c of CASES) {
    const av = pseudoRandom(c.a[0] * c.a[1] * c.a[2], 1), bv = pseudoRandom(c.b[0] * c.b[1] * c.b[2], 2);
    const a = tf.tensor(av, c.a), b = tf.tensor(bv, c.b);
    const pa = castToHalf(a), pb = castToHalf(b);
    const y = matMulPackedHalf(pa, pb, { transposeA: c.ta, transposeB: c.tb, colsA: c.a[2], colsB: c.b[2], storage });
    const got = await y.data();
    tf.dispose([a, b, pa, pb, y]);
    const keys = Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
    out.push({ name: c.name, storage, programRan: keys.some((k) => k.startsWith(`vocoMatMulHalf_${storage}_${c.ta}_${c.tb}`)), ...checkHalfMatMul(got, av, c.a, bv, c.b, c.ta, c.tb) });
  }
  return out;
}

/** 'tiled-pairs' vs 'tiled' on even-column operands, every transpose case and a batch: identical sums expected. */
async function pairsAgainstPlain(): Promise<HalfParityReport['pairs']> {
  const wasActive = registerTiledMatMulActive(), wasVariant = registerTiledVariant();
  const out: HalfParityReport['pairs'] = [];
  try {
    useRegisterTiledMatMul(true);
    for (const [name, as, bs, ta, tb] of [
      ['14×10 · 10×6', [14, 10], [10, 6], false, false], ['transposeA, odd K = 7', [7, 14], [7, 6], true, false],
      ['transposeB, N = 5', [13, 10], [5, 10], false, true], ['both transposed', [10, 14], [6, 10], true, true],
      ['batch 3 · 130×64 · 64×72', [3, 130, 64], [3, 64, 72], false, false],
    ] as [string, number[], number[], boolean, boolean][]) {
      const a = tf.tensor(pseudoRandom(as.reduce((x, y) => x * y), 5), as), b = tf.tensor(pseudoRandom(bs.reduce((x, y) => x * y), 6), bs);
      setRegisterTiledVariant('tiled');
      const plain = await tf.matMul(a, b, ta, tb).data();
      setRegisterTiledVariant('tiled-pairs');
      const got = await tf.matMul(a, b, ta, tb).data();
      tf.dispose([a, b]);
      const keys = Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
      out.push({ name, values: got.length, differing: got.filter((v, i) => v !== plain[i]).length, programRan: keys.some((k) => k.startsWith(`vocoMatMulRegTiledPairs_${ta}_${tb}`)) });
    }
  } finally {
    useRegisterTiledMatMul(wasActive);
    setRegisterTiledVariant(wasVariant);
  }
  return out;
}

/** Cast (bit for bit) and packed-f16 matmul (against the twin and the f16 bound) on WebGPU; native f16 where offered. */
export async function parity(): Promise<HalfParityReport> {
  const { device, adapter, errors, stop } = await startWebgpu();
  try {
    const specials = [0, -0, 1, -1, 65504, 65520, 1e6, -Infinity, NaN, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, 1 / 3, 6.1e-5];
    const x = new Float32Array(9 * 13);
    x.set(specials);
    x.set(pseudoRandom(x.length - specials.length, 9, 300), specials.length);
    const want = packHalfRows(x, 13);
    const t = tf.tensor(x, [9, 13]);
    const packed = castToHalf(t);
    const got = new Uint32Array((await packed.data() as Int32Array).slice().buffer);
    tf.dispose([t, packed]);
    const castMismatches = Array.from(want).flatMap((w, i) => (w === got[i] ? [] : [`word ${i}: ${got[i].toString(16)} vs ${w.toString(16)}`]));
    const cases = await runCases('packed');
    let nativeSkipped: string | null = null;
    if (device.features.has('shader-f16')) cases.push(...(await runCases('native')));
    else nativeSkipped = `adapter "${adapter.text}" does not offer shader-f16 (adapter features: ${adapter.adapterFeatures.join(', ') || 'none'})`;
    const pairs = await pairsAgainstPlain();
    await device.queue.onSubmittedWorkDone();
    return { ran: tf.getBackend(), adapter, castWords: want.length, castMismatches, cases, pairs, nativeSkipped, gpuErrors: [...errors] };
  } finally {
    stop();
  }
}

export interface HalfBenchRow {
  shape: string;
  variant: string;
  ms: number;
  gflops: number;
  /** Operand + result bytes at the storage's width (A, B read once, C written once) per second: the least traffic. */
  gbPerSec: number;
  maxAbsDiffVsF32: number;
}

export interface HalfBenchReport {
  adapter: AdapterReport;
  /** Copy probe y = −x over 4 M floats (read + write): the memory ceiling for the GB/s column. */
  copyGbPerSec: number;
  rows: HalfBenchRow[];
  gpuErrors: string[];
}

interface Timed { name: string; setup?: RegisterTiledVariant | 'tfjs'; run: () => tf.Tensor }

function applySetup(v: Timed): void {
  if (!v.setup) return;
  useRegisterTiledMatMul(v.setup !== 'tfjs');
  if (v.setup !== 'tfjs') setRegisterTiledVariant(v.setup);
}

/**
 * Best ms per call of each candidate, INTERLEAVED: after one warm-up call each (compile; its values are returned),
 * every round times `perRound` queued calls of each candidate in turn (waiting on a 1-value slice of the last), so a
 * busy machine's load falls on all of them alike.
 */
async function timeInterleaved(list: Timed[], rounds: number, perRound: number): Promise<{ ms: number; values: Float32Array }[]> {
  const out = [];
  for (const v of list) {
    applySetup(v);
    const first = v.run();
    out.push({ ms: Infinity, values: (await first.data()) as Float32Array });
    first.dispose();
  }
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < list.length; i++) {
      applySetup(list[i]);
      const t0 = performance.now();
      let last: tf.Tensor | null = null;
      for (let c = 0; c < perRound; c++) {
        last?.dispose();
        last = list[i].run();
      }
      const probe = tf.slice(last!, new Array(last!.rank).fill(0), new Array(last!.rank).fill(1));
      await probe.data();
      tf.dispose([probe, last!]);
      out[i].ms = Math.min(out[i].ms, (performance.now() - t0) / perRound);
    }
  }
  return out;
}

/**
 * f32 register-tiled vs half-precision storage at square sizes, on the studio's WebGPU device:
 * 'f32 tiled' (the float32 program), 'f32 pairs' (its pairs variant: the f16 programs' loop on float32), 'f16 packed (pre-cast)' (operands already stored as packed halves: the storage
 * gain alone), 'f16 packed + cast' (the BatchMatMul variant a run gets: casts both float32 operands every call),
 * and the same two for 'native f16' where the adapter has shader-f16; tfjs's own program for reference.
 */
export async function bench(sizes: number[] = [256, 512], opts: { rounds?: number; perRound?: number } = {}): Promise<HalfBenchReport> {
  const { device, adapter, errors, stop } = await startWebgpu();
  const rounds = opts.rounds ?? 3, perRound = opts.perRound ?? 2;
  const wasActive = registerTiledMatMulActive();
  const wasVariant = registerTiledVariant();
  const rows: HalfBenchRow[] = [];
  try {
    const x = tf.randomUniform([4 * 2 ** 20], -1, 1, 'float32', 3);
    const [copy] = await timeInterleaved([{ name: 'copy', run: () => tf.neg(x) }], rounds, 4);
    x.dispose();
    const copyGbPerSec = (4 * 2 ** 20 * 8) / (copy.ms * 1e6);
    const natives = device.features.has('shader-f16');
    for (const n of sizes) {
      const a = tf.tensor2d(pseudoRandom(n * n, 1), [n, n]);
      const b = tf.tensor2d(pseudoRandom(n * n, 2), [n, n]);
      const pa = castToHalf(a), pb = castToHalf(b);
      const flop = 2 * n ** 3;
      const variants: (Timed & { bytesPerValue: number })[] = [
        { name: 'f32 tiled', bytesPerValue: 4, run: () => tf.matMul(a, b), setup: 'tiled' },
        // The f16 programs' loop (vec2 loads, two k per step) on float32: separates the loop's gain from the bytes'.
        { name: 'f32 pairs', bytesPerValue: 4, run: () => tf.matMul(a, b), setup: 'tiled-pairs' },
        { name: 'f16 packed (pre-cast)', bytesPerValue: 2, run: () => matMulPackedHalf(pa, pb, { transposeA: false, transposeB: false, colsA: n, colsB: n }) },
        { name: 'f16 packed + cast', bytesPerValue: 2, run: () => tf.matMul(a, b), setup: 'tiled-f16' },
        ...(natives ? [
          { name: 'native f16 (pre-cast)', bytesPerValue: 2, run: () => matMulPackedHalf(pa, pb, { transposeA: false, transposeB: false, colsA: n, colsB: n, storage: 'native' }) },
          { name: 'native f16 + cast', bytesPerValue: 2, run: () => tf.matMul(a, b), setup: 'tiled-f16-native' as const },
        ] : []),
        { name: "tfjs's f32", bytesPerValue: 4, run: () => tf.matMul(a, b), setup: 'tfjs' as const },
      ];
      const timed = await timeInterleaved(variants, rounds, perRound);
      const reference = timed[0].values;
      variants.forEach((v, i) => {
        const t = timed[i];
        let diff = 0;
        for (let j = 0; j < t.values.length; j++) diff = Math.max(diff, Math.abs(t.values[j] - reference[j]));
        const bytes = 2 * n * n * v.bytesPerValue + n * n * 4;
        rows.push({ shape: `${n}×${n}×${n}`, variant: v.name, ms: t.ms, gflops: flop / (t.ms * 1e6), gbPerSec: bytes / (t.ms * 1e6), maxAbsDiffVsF32: diff });
      });
      tf.dispose([a, b, pa, pb]);
    }
    await device.queue.onSubmittedWorkDone();
    return { adapter, copyGbPerSec, rows, gpuErrors: [...errors] };
  } finally {
    useRegisterTiledMatMul(wasActive);
    setRegisterTiledVariant(wasVariant);
    stop();
  }
}
