// Reference-encoder benchmark worker (bench/swin-bench.mjs through window.selftest.swinBench): one tfjs backend per
// worker; times the Swin backbone's forward pass per r³ crop and its forward + backward (the encoder's share of a
// training step) on random crops, optionally with a per-kernel profile. Plain JSON back; asserts nothing.
import * as tf from '@tensorflow/tfjs-core';
import { currentWebGpuDevice, initBackend, onGpuError } from '../../backend/backends';
import { PRESETS, VocoModel, forwardFlops } from '../../model';
import { isSwinPreset } from '../../model/presets';
import { wasmBackendMemory } from '../../kernels/wasmSimdBatchMatMul';
import type { BackendChoice } from '../../worker/protocol';

export interface SwinPassRequest {
  preset: string;
  cropSize: number;
  /** Crops per pass. */
  crops: number;
  /** 'forward': embeddings only; 'gradient': forward + backward of sum(embedding) w.r.t. every encoder weight. */
  pass: 'forward' | 'gradient';
  /** Timed passes after the first (which compiles shaders / grows the heap). */
  rounds: number;
  /** Wall-clock budget: no further pass starts once the first one predicts overrunning it. */
  budgetMs: number;
  /** tf.profile over one extra pass (when the budget allows): the largest kernels. */
  profile?: boolean;
}

export interface SwinPassResult {
  preset: string;
  backend: string;
  pass: 'forward' | 'gradient';
  cropSize: number;
  crops: number;
  /** Every pass, the first (compile) one included. */
  ms: number[];
  /** Median of the passes after the first, or the first alone when the budget left no second one. */
  msPerPass: number;
  msPerCrop: number;
  /** True when msPerPass is the first pass's time (it includes shader compilation / heap growth). */
  firstOnly: boolean;
  /** Backbone matmul/convolution FLOPs of one crop's forward (src/model/swin/flops.ts). */
  forwardFlopsPerCrop: number;
  gflops: number;
  wasmHeapBytes?: number;
  gpuAllocatedBytes?: number;
  kernels?: { name: string; count: number; ms: number }[];
  gpuErrors: string[];
}

const gpuErrors: string[] = [];
onGpuError((m) => gpuErrors.push(m));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function pass(req: SwinPassRequest): Promise<SwinPassResult> {
  const preset = PRESETS[req.preset];
  if (!preset || !isSwinPreset(preset)) throw new Error(`'${req.preset}' is not a reference-encoder preset`);
  const errorsBefore = gpuErrors.length;
  const model = VocoModel.create(preset, req.cropSize, 1);
  const r = req.cropSize;
  const x = tf.randomUniform([req.crops, r, r, r], 0, 1, 'float32', 7) as tf.Tensor4D;
  const vars = model.encoderVariables();
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    if (req.pass === 'forward') {
      const e = model.embed(x);
      await e.data();
      e.dispose();
    } else {
      const { value, grads } = tf.variableGrads(() => tf.sum(model.embed(x)) as tf.Scalar, vars);
      // Reading the loss and one gradient waits for every kernel of the pass.
      await Promise.all([value.data(), grads[vars[0].name].data()]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    return performance.now() - t0;
  };
  const ms: number[] = [];
  const start = performance.now();
  try {
    ms.push(await once());
    while (ms.length <= req.rounds) {
      const spent = performance.now() - start;
      const next = ms.length > 1 ? median(ms.slice(1)) : ms[0];
      if (spent + next > req.budgetMs) break;
      ms.push(await once());
    }
    let kernels: SwinPassResult['kernels'];
    if (req.profile && performance.now() - start + ms[ms.length - 1] <= req.budgetMs) {
      const info = await tf.profile(async () => {
        await once();
      });
      const by = new Map<string, { name: string; count: number; ms: number }>();
      for (const k of info.kernels) {
        const e = by.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
        e.count++;
        e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
        by.set(k.name, e);
      }
      kernels = [...by.values()].sort((a, b) => b.ms - a.ms).slice(0, 12);
    }
    const firstOnly = ms.length === 1;
    const msPerPass = firstOnly ? ms[0] : median(ms.slice(1));
    const f = forwardFlops(preset, r);
    const forwardFlopsPerCrop = f.patchEmbed + f.blocks;
    const flops = req.crops * forwardFlopsPerCrop * (req.pass === 'forward' ? 1 : 3);
    const out: SwinPassResult = {
      preset: req.preset,
      backend: tf.getBackend(),
      pass: req.pass,
      cropSize: r,
      crops: req.crops,
      ms,
      msPerPass,
      msPerCrop: msPerPass / req.crops,
      firstOnly,
      forwardFlopsPerCrop,
      gflops: flops / (msPerPass * 1e6),
      kernels,
      gpuErrors: [],
    };
    const heap = wasmBackendMemory(tf.backend());
    if (tf.getBackend() === 'wasm' && heap) out.wasmHeapBytes = heap.buffer.byteLength;
    const mem = tf.memory() as { numBytesInGPUAllocated?: number };
    if (tf.getBackend() === 'webgpu') out.gpuAllocatedBytes = mem.numBytesInGPUAllocated;
    return out;
  } finally {
    x.dispose();
    model.dispose();
    await currentWebGpuDevice()?.queue.onSubmittedWorkDone();
    await new Promise((res) => setTimeout(res, 50));
    const errs = gpuErrors.slice(errorsBefore);
    // A WebGPU error means a kernel produced garbage: the caller reports the timing as invalid.
    if (errs.length) throw new Error(`invalid: ${errs.length} WebGPU errors, first: ${errs[0].split('\n')[0]}`);
  }
}

type Request = { id: number; cmd: 'init'; choice: BackendChoice } | { id: number; cmd: 'pass'; req: SwinPassRequest };

self.onmessage = async (e: MessageEvent<Request>) => {
  const msg = e.data;
  try {
    let value: unknown;
    if (msg.cmd === 'init') value = await initBackend(msg.choice, { useStore: false });
    else if (msg.cmd === 'pass') value = await pass(msg.req);
    else throw new Error(`unknown swin bench command ${(msg as { cmd: string }).cmd}`);
    self.postMessage({ id: msg.id, ok: true, value });
  } catch (err) {
    self.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};
