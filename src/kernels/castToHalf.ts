// Kernel 'VocoCastToHalf': float32 [.., rows, cols] → packed half-precision words [.., rows, ceil(cols / 2)]
// (int32 tensors holding u32 bit patterns; layout in half.ts). The storage half of the half-precision matmul path
// (matMulPackedHalf.ts): operands read at 2 bytes a value instead of 4.
// WebGPU: one invocation per word. The rounding is written out in integer arithmetic (nearest, ties to even;
// overflow → ±Infinity; NaN → 0x7e00) because WGSL's pack2x16float leaves rounding to the implementation and an
// out-of-range value indeterminate; so every adapter produces exactly the CPU twin's bits (packHalfRows in half.ts),
// no `shader-f16` feature needed. cpu: the twin itself.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { halfWordsPerRow, packHalfRows } from './half';

export const CAST_TO_HALF_KERNEL = 'VocoCastToHalf';

/** WGSL: binary16 bits of an f32, round to nearest even (the same steps as halfBits in half.ts). */
export const WGSL_HALF_BITS = `
      fn vocoHalfBits(x : f32) -> u32 {
        let b = bitcast<u32>(x);
        let sign = (b >> 16u) & 0x8000u;
        let e = (b >> 23u) & 0xffu;
        let mant = b & 0x7fffffu;
        if (e == 0xffu) { return select(sign | 0x7c00u, 0x7e00u, mant != 0u); }
        if (e >= 143u) { return sign | 0x7c00u; }
        if (e >= 113u) {
          var q = ((e - 112u) << 10u) | (mant >> 13u);
          let r = mant & 0x1fffu;
          if (r > 0x1000u || (r == 0x1000u && (q & 1u) == 1u)) { q += 1u; }
          return sign | q;
        }
        let shift = 126u - e;
        if (shift > 24u) { return sign; }
        let m = mant | 0x800000u;
        var q = m >> shift;
        let r = m - (q << shift);
        let halfway = 1u << (shift - 1u);
        if (r > halfway || (r == halfway && (q & 1u) == 1u)) { q += 1u; }
        return sign | q;
      }`;

/** Flat dispatch over the output words; output shape [rows, words]. */
export class CastToHalfProgram implements WebGPUProgram {
  variableNames = ['X'];
  uniforms = 'cols : i32, words : i32,';
  outputShape: number[];
  shaderKey = 'vocoCastToHalf';
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(rows: number, cols: number) {
    this.outputShape = [rows, halfWordsPerRow(cols)];
    this.dispatch = [Math.ceil((rows * this.outputShape[1]) / 64), 1, 1];
  }

  getUserCode(): string {
    return `
      ${WGSL_HALF_BITS}

      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let row = index / uniforms.words;
        let c = 2 * (index - row * uniforms.words);
        let at = row * uniforms.cols + c;
        var word = vocoHalfBits(X[at]);
        if (c + 1 < uniforms.cols) { word = word | (vocoHalfBits(X[at + 1]) << 16u); }
        setOutputAtIndexI32(index, bitcast<i32>(word));
      }
    `;
  }
}

function checkInput(x: TensorInfo): number {
  if (x.dtype !== 'float32') throw new Error(`${CAST_TO_HALF_KERNEL}: input must be float32, got ${x.dtype} [${x.shape}]`);
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] < 1) throw new Error(`${CAST_TO_HALF_KERNEL}: input of shape [${x.shape}] has no columns`);
  return x.shape[x.shape.length - 1];
}

const packedShape = (shape: number[]) => [...shape.slice(0, -1), halfWordsPerRow(shape[shape.length - 1])];

/** The WebGPU cast on a backend (for kernels that pack operands themselves, e.g. the BatchMatMul replacement). */
export function castToHalfWebgpu(backend: WebGPUBackend, x: TensorInfo): TensorInfo {
  const cols = checkInput(x);
  const rows = tf.util.sizeFromShape(x.shape) / cols;
  const program = new CastToHalfProgram(rows, cols);
  const uniforms = [{ type: 'int32', data: [cols] }, { type: 'int32', data: [program.outputShape[1]] }];
  const out = backend.runWebGPUProgram(program, [{ ...x, shape: [rows, cols] }], 'int32', uniforms);
  return { dataId: out.dataId, dtype: 'int32', shape: packedShape(x.shape) };
}

function castCpu({ inputs, backend }: { inputs: { x: TensorInfo }; backend: MathBackendCPU }): TensorInfo {
  const cols = checkInput(inputs.x);
  const words = packHalfRows(backend.data.get(inputs.x.dataId).values as Float32Array, cols);
  return backend.makeTensorInfo(packedShape(inputs.x.shape), 'int32', new Int32Array(words.buffer));
}

const configs: KernelConfig[] = [
  { kernelName: CAST_TO_HALF_KERNEL, backendName: 'webgpu', kernelFunc: (({ inputs, backend }: { inputs: { x: TensorInfo }; backend: WebGPUBackend }) => castToHalfWebgpu(backend, inputs.x)) as unknown as KernelFunc },
  { kernelName: CAST_TO_HALF_KERNEL, backendName: 'cpu', kernelFunc: castCpu as unknown as KernelFunc },
];
for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);

/** x (float32, last axis = columns) as packed half words: int32 [.., rows, ceil(cols / 2)]. webgpu and cpu. */
export function castToHalf(x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(CAST_TO_HALF_KERNEL, { x }) as tf.Tensor;
}
