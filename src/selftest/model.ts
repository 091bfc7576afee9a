// Model parity across tfjs backends (window.selftest.model in the browser; test/model-webgpu.test.ts and
// test/wasm-batch-matmul.test.ts import it under Node): for every preset, shrunk to a tiny width but with its
// own depth and stage taps, the forward embedding, both heads' outputs and the gradient of a scalar of the
// student's output w.r.t. EVERY trainable variable, on one backend against the cpu backend.
// Returns plain JSON. Tolerances are relative to the reference's largest magnitude.
import * as tf from '@tensorflow/tfjs-core';
import { PRESETS, isSwinPreset, type EncoderPreset } from '../model/presets';
import { VocoModel } from '../model/vocoModel';

export type ParityBackend = 'cpu' | 'wasm' | 'webgl' | 'webgpu';

export interface TensorDiff {
  name: string;
  /** max |a − b| / max |reference|; for a gradient that is zero in exact arithmetic, see `exactZero`. */
  relError: number;
  maxAbsRef: number;
  /**
   * The bias of a linear layer that feeds an affine-free BatchNorm: BN removes any per-feature constant, so
   * its gradient is 0 in exact arithmetic and both sides hold rounding noise only. relError is then
   * max(|a|, |b|) / the largest gradient of the model: it checks that the noise stays noise.
   */
  exactZero?: boolean;
}

export interface PresetParity {
  preset: string;
  shape: { dim: number; depth: number; heads: number; patch: number; stageEnds: number[]; crops: number; cropSize: number };
  embedding: TensorDiff;
  student: TensorDiff;
  teacher: TensorDiff;
  loss: TensorDiff;
  /** One entry per trainable variable. */
  grads: TensorDiff[];
  worst: TensorDiff;
}

export interface ParityReport {
  backend: string;
  /** tf.getBackend() while the model ran on the tested side: must equal `backend`. */
  ran: string;
  adapter: string;
  presets: PresetParity[];
  gpuErrors: string[];
  ms: number;
  error: string | null;
  /** Which BatchMatMul served the tested backend: 'stock', 'register-tiled' (webgpu) or 'wasm fast paths'. */
  matmul: string;
}

/** Loads and activates a tfjs backend; throws when the active backend is not the one asked for. */
async function useBackend(name: ParityBackend): Promise<void> {
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In the browser the .wasm binaries come from our own origin (vite plugin tfjsWasmFiles).
    if (typeof window !== 'undefined') wasm.setWasmPaths('/tfjs-wasm/');
    const { installWasmBatchMatMul } = await import('../kernels/wasmBatchMatMul');
    if (!installWasmBatchMatMul()) throw new Error('wasm BatchMatMul fast paths could not be installed');
  }
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`backend '${name}' did not start (active: ${tf.getBackend()})`);
}

/** A preset at test size: the preset's depth, stage taps and MLP ratio; tiny width, patch 4. */
export function shrink(preset: EncoderPreset): EncoderPreset {
  return { ...preset, name: `${preset.name}-shrunk`, dim: 32, heads: 2, patch: 4, headHidden: 64, headOut: 48 };
}

interface Outputs {
  embedding: Float32Array;
  student: Float32Array;
  teacher: Float32Array;
  loss: Float32Array;
  grads: { name: string; data: Float32Array }[];
}

/** Deterministic, non-trivial inputs: tokens, the student's dropout rows and a weighting of its outputs. */
function inputs(preset: EncoderPreset, cropSize: number, crops: number) {
  const t = (cropSize / preset.patch) ** 3;
  const v = preset.patch ** 3;
  const tokens = Float32Array.from({ length: crops * t * v }, (_, i) => Math.sin(i * 0.7311) + 0.5 * Math.cos(i * 0.0123));
  const weights = Float32Array.from({ length: crops * preset.headOut }, (_, i) => Math.sin(i * 1.37 + 0.3));
  const keep = Array.from({ length: crops }, (_, i) => i % 3 !== 1);
  return { tokens, shape: [crops, t, v] as [number, number, number], weights, keep };
}

async function run(preset: EncoderPreset, cropSize: number, crops: number, seed: number): Promise<Outputs> {
  const model = VocoModel.create(preset, cropSize, seed);
  const inp = inputs(preset, cropSize, crops);
  const names = new Map(model.namedWeights().map((w) => [w.tensor, w.name]));
  try {
    const x = tf.tensor3d(inp.tokens, inp.shape);
    const w = tf.tensor2d(inp.weights, [crops, preset.headOut]);
    const [emb, stu, tea] = tf.tidy(() => {
      const e = model.embed(x);
      return [e, model.student(e, true, inp.keep), model.teacher(e)];
    });
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.student(model.embed(x), true, inp.keep), w)) as tf.Scalar, vars);
    const out: Outputs = {
      embedding: (await emb.data()) as Float32Array,
      student: (await stu.data()) as Float32Array,
      teacher: (await tea.data()) as Float32Array,
      loss: (await value.data()) as Float32Array,
      grads: await Promise.all(vars.map(async (v) => ({ name: names.get(v)!, data: (await grads[v.name].data()) as Float32Array }))),
    };
    tf.dispose([x, w, emb, stu, tea, value, ...Object.values(grads)]);
    return out;
  } finally {
    model.dispose();
  }
}

/** Head biases followed by BatchNorm1d(affine=False): their gradient is exactly zero (see TensorDiff.exactZero). */
const BIASES_BEFORE_BN = /^student\.(0|3)\.bias$/;

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function diff(name: string, got: Float32Array, ref: Float32Array): TensorDiff {
  if (got.length !== ref.length) return { name, relError: Infinity, maxAbsRef: NaN };
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    const d = Math.abs(got[i] - ref[i]);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
  }
  return { name, relError: maxDiff / Math.max(maxRef, 1e-12), maxAbsRef: maxRef };
}

/**
 * Runs every preset (shrunk) on `backend` and on cpu, same seed and inputs, and reports the differences.
 * On webgpu it listens for uncapturederror on the device (GPU errors never throw).
 */
export async function compareWithCpu(
  backend: ParityBackend,
  opts: {
    presets?: string[];
    cropSize?: number;
    crops?: number;
    seed?: number;
    /** webgpu: run with the register-tiled matmul (what initBackend uses on a software adapter). */
    registerTiledMatMul?: boolean;
  } = {},
): Promise<ParityReport> {
  const t0 = performance.now();
  const cropSize = opts.cropSize ?? 16;
  const crops = opts.crops ?? 4;
  const seed = opts.seed ?? 1234;
  // The ViT presets (the Swin backbone has its own parity against the authors' fixture: swinParity.ts).
  const names = opts.presets ?? Object.keys(PRESETS).filter((n) => !isSwinPreset(PRESETS[n]));
  const report: ParityReport = { backend, ran: '', adapter: '', presets: [], gpuErrors: [], ms: 0, error: null, matmul: 'stock' };
  let detach = () => {};
  let tiled: typeof import('../kernels/matMulRegisterTiled') | null = null;
  try {
    await useBackend(backend);
    if (backend === 'webgpu' && opts.registerTiledMatMul !== undefined) {
      tiled = await import('../kernels/matMulRegisterTiled');
      tiled.useRegisterTiledMatMul(opts.registerTiledMatMul);
      if (tiled.registerTiledMatMulActive() !== opts.registerTiledMatMul) throw new Error('could not switch the register-tiled matmul');
    }
    if (backend === 'webgpu' && (tiled?.registerTiledMatMulActive() ?? false)) report.matmul = 'register-tiled';
    if (backend === 'wasm') report.matmul = 'wasm fast paths';
    if (backend === 'webgpu') {
      const be = tf.backend() as unknown as { device: GPUDevice; adapterInfo?: { vendor?: string; architecture?: string; description?: string } };
      const onError = (e: Event) => report.gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
      be.device.addEventListener('uncapturederror', onError);
      detach = () => be.device.removeEventListener('uncapturederror', onError);
      const info = be.adapterInfo;
      report.adapter = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
    }
    for (const name of names) {
      const preset = shrink(PRESETS[name]);
      await useBackend(backend);
      report.ran = tf.getBackend();
      const lossWeights = inputs(preset, cropSize, crops).weights;
      const got = await run(preset, cropSize, crops, seed);
      await useBackend('cpu');
      const ref = await run(preset, cropSize, crops, seed);
      const grads = got.grads.map((g, i) => diff(g.name, g.data, ref.grads[i].data));
      const gradScale = Math.max(...grads.map((g) => g.maxAbsRef));
      grads.forEach((g, i) => {
        if (!BIASES_BEFORE_BN.test(g.name)) return;
        const noise = Math.max(maxAbs(got.grads[i].data), maxAbs(ref.grads[i].data));
        grads[i] = { ...g, exactZero: true, relError: noise / gradScale };
      });
      // The scalar is a sum with cancellation: its error is measured against Σ|student · weight|, not |sum|.
      const lossScale = ref.student.reduce((a, v, i) => a + Math.abs(v * lossWeights[i]), 0);
      const loss: TensorDiff = { name: 'loss', relError: Math.abs(got.loss[0] - ref.loss[0]) / lossScale, maxAbsRef: lossScale };
      const all = [diff('embedding', got.embedding, ref.embedding), diff('student', got.student, ref.student), diff('teacher', got.teacher, ref.teacher), loss, ...grads];
      report.presets.push({
        preset: name,
        shape: { dim: preset.dim, depth: preset.depth, heads: preset.heads, patch: preset.patch, stageEnds: preset.stageEnds, crops, cropSize },
        embedding: all[0],
        student: all[1],
        teacher: all[2],
        loss: all[3],
        grads,
        worst: all.reduce((a, b) => (b.relError > a.relError ? b : a)),
      });
    }
  } catch (e) {
    report.error = (e as Error)?.message ?? String(e);
  } finally {
    detach();
    tiled?.useRegisterTiledMatMul(false);
    report.ms = Math.round(performance.now() - t0);
  }
  return report;
}

export interface StepTiming {
  backend: string;
  preset: string;
  cropSize: number;
  crops: number;
  /** Forward + backward of one step's crops (embed, student, teacher, all gradients), after one warm-up step. */
  ms: number[];
  warmupMs: number;
  error: string | null;
}

/**
 * Times the model's share of a training step (no sampling, losses or optimiser): embed → student (training)
 * and teacher → gradients of a scalar w.r.t. every trainable variable, read back to the CPU.
 */
export async function timeStep(
  backend: ParityBackend,
  opts: { preset?: string; cropSize?: number; crops?: number; reps?: number; registerTiledMatMul?: boolean } = {},
): Promise<StepTiming> {
  const name = opts.preset ?? 'tiny';
  const cropSize = opts.cropSize ?? 16;
  const crops = opts.crops ?? 22;
  const out: StepTiming = { backend, preset: name, cropSize, crops, ms: [], warmupMs: 0, error: null };
  let tiled: typeof import('../kernels/matMulRegisterTiled') | null = null;
  let model: VocoModel | null = null;
  let x: tf.Tensor3D | null = null;
  try {
    await useBackend(backend);
    if (backend === 'webgpu' && opts.registerTiledMatMul) {
      tiled = await import('../kernels/matMulRegisterTiled');
      tiled.useRegisterTiledMatMul(true);
    }
    const preset = PRESETS[name];
    model = VocoModel.create(preset, cropSize, 1);
    const inp = inputs(preset, cropSize, crops);
    x = tf.tensor3d(inp.tokens, inp.shape);
    const step = async () => {
      const t0 = performance.now();
      const { value, grads } = tf.variableGrads(() => {
        const emb = model!.embed(x!);
        return tf.add(tf.sum(model!.student(emb, true, inp.keep)), tf.sum(model!.teacher(emb))) as tf.Scalar;
      }, model!.trainableVariables());
      await Promise.all([value, ...Object.values(grads)].map((t) => t.data()));
      tf.dispose([value, ...Object.values(grads)]);
      return performance.now() - t0;
    };
    out.warmupMs = Math.round(await step());
    for (let i = 0; i < (opts.reps ?? 2); i++) out.ms.push(Math.round(await step()));
  } catch (e) {
    out.error = (e as Error)?.message ?? String(e);
  } finally {
    x?.dispose();
    model?.dispose();
    tiled?.useRegisterTiledMatMul(false);
  }
  return out;
}
