// tfjs-backend-webgpu 4.22's AddN binds every input as its own storage buffer. A device allows only
// `maxStorageBuffersPerShaderStage` of them (8 by default, 10 on SwiftShader), so tf.addN over more tensors
// fails pipeline validation and, like every WebGPU error in tfjs, silently yields garbage (the trainer's and
// AdamW's gradient norms sum 30–60 per-variable terms with addN). This replacement sums in chunks that fit,
// with tfjs's own AddN kernel, so results are those of tfjs wherever its kernel works.
import { AddN, getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

const MARK = Symbol.for('voco.webgpuChunkedAddN');

interface WebGpuLike {
  device: GPUDevice;
  disposeData(dataId: object): boolean;
}

/** Installs the chunked AddN for 'webgpu' (idempotent). Returns false when webgpu has no AddN kernel. */
export function installChunkedAddN(): boolean {
  const original = getKernel(AddN, 'webgpu');
  if (!original) return false;
  if ((original as unknown as Record<symbol, boolean>)[MARK]) return true;
  const addN = original.kernelFunc;
  const chunked: KernelFunc = (args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const backend = args.backend as unknown as WebGpuLike;
    // One storage buffer is the output.
    const maxInputs = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    if (inputs.length <= maxInputs) return addN(args);
    // A tree of partial sums; every partial is a new tensor (AddN of one input is tfjs's identity, which takes
    // its own reference), so each level after the first (the caller's) can be released once summed.
    let level: TensorInfo[] = inputs;
    let owned = false;
    while (level.length > 1) {
      const next: TensorInfo[] = [];
      for (let i = 0; i < level.length; i += maxInputs) {
        next.push(addN({ ...args, inputs: level.slice(i, i + maxInputs) as never }) as TensorInfo);
      }
      if (owned) for (const t of level) backend.disposeData(t.dataId);
      level = next;
      owned = true;
    }
    return level[0];
  };
  const config: KernelConfig = { ...original, kernelFunc: chunked };
  (config as unknown as Record<symbol, boolean>)[MARK] = true;
  unregisterKernel(AddN, 'webgpu');
  registerKernel(config);
  return true;
}

