// Kernel 'VocoMatMulPackedHalf': C = op(A) · op(B) from half-precision operands (packed by castToHalf.ts; layout in
// half.ts), accumulated in float32. Same tiling as the float32 register-tiled program (matMulRegisterTiled.ts): each
// invocation computes an 8×4 block of C for one batch entry, reading straight from storage, but operands cost 2
// bytes a value, and k advances two at a time (one u32 word holds two consecutive values of a row).
//
// Two storages, one generator:
// - 'packed': the operands are u32 words decoded with WGSL's core unpack2x16float (exact: every half is a float32).
//   Runs on every adapter; no feature needed.
// - 'native': `enable f16;` and the operands bound as array<vec2<f16>> (the same bytes), converted with vec2<f32>(…).
//   Needs a device created with `shader-f16`; tfjs declares every int32 input as array<i32>, so the shader marks the
//   bindings to retype and retypeHalfBindings (called from the device's createShaderModule wrapper in
//   src/backend/backends.ts) rewrites their declarations.
// It changes numerics (operands rounded to 11 significant bits), so it is never on unless asked for: the per-device
// kernel choice (src/backend/webgpuKernelChoice.ts) only considers it when the run opts in.
// cpu: the CPU twin (matMulHalfCPU in half.ts), bit for bit what the GPU computes.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { halfWordsPerRow, matMulHalfCPU, unpackHalfRows } from './half';
import { writeRowFn } from './registerTileWgsl';

export const MATMUL_PACKED_HALF_KERNEL = 'VocoMatMulPackedHalf';
export type HalfStorage = 'packed' | 'native';

const ROWS = 8;
const COLS = 4;
const RETYPE_MARK = '// vocoHalfBindings:';

/** C[b] = op(A[b or 0]) · op(B[b or 0]) from packed-half A [batchA, rows, words] and B, float32 out. */
export class MatMulPackedHalfProgram implements WebGPUProgram {
  variableNames = ['A', 'B'];
  uniforms = 'dimM : i32, dimK : i32, dimN : i32, batchA : i32, batchB : i32, wordsA : i32, wordsB : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [8, 8, 1];

  constructor(batch: number, m: number, n: number, private transposeA: boolean, private transposeB: boolean, private storage: HalfStorage) {
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / COLS / 8), Math.ceil(m / ROWS / 8), batch];
    this.shaderKey = `vocoMatMulHalf_${storage}_${transposeA}_${transposeB}`;
  }

  getUserCode(): string {
    const native = this.storage === 'native';
    return pairedMatMulCode(this.transposeA, this.transposeB,
      (expr) => (native ? `vec2<f32>(${expr})` : `unpack2x16float(bitcast<u32>(${expr}))`),
      native ? `enable f16;\n      ${RETYPE_MARK} A B` : '');
  }
}

/**
 * The paired-k register-tiled matmul body (8×4 outputs per invocation, k two at a time): A and B are arrays whose
 * element holds two consecutive values of a stored row (`words` per row, uniforms wordsA/wordsB) and `dec` turns one
 * element into a vec2<f32>. Shared by the half-precision storages here and the float32 pairs program
 * (matMulRegisterTiled.ts, vec2<f32> elements).
 */
export function pairedMatMulCode(ta: boolean, tb: boolean, dec: (expr: string) => string, header = ''): string {
  const rows = Array.from({ length: ROWS }, (_, i) => i);
  // op(A)[r, k0], op(A)[r, k0 + 1] for even k0 (kp = k0 / 2). Untransposed: one word. Transposed (A stored [K, M]):
  // two values from two rows of storage.
  const aPair = (r: string) => (ta
    ? `vec2<f32>(pairAtA(aBase + k0 * WA, ${r}), pairAtA(aBase + (k0 + 1) * WA, ${r}))`
    : dec(`A[aBase + ${r} * WA + kp]`));
  const aTail = (r: string) => (ta ? `pairAtA(aBase + k0 * WA, ${r})` : `${dec(`A[aBase + ${r} * WA + kp]`)}.x`);
  // op(B)[k0 .. k0+1, c0 .. c3] as two vec4s. Untransposed (B stored [K, N]): two words per k (c0 is a multiple
  // of 4, so c0 / 2 starts a word). Transposed (B stored [N, K]): one word per column gives both k.
  const bPairs = tb
    ? `let v0 = ${dec('B[bBase + c0 * WB + kp]')};
        let v1 = ${dec('B[bBase + c1 * WB + kp]')};
        let v2 = ${dec('B[bBase + c2 * WB + kp]')};
        let v3 = ${dec('B[bBase + c3 * WB + kp]')};
        let b0 = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
        let b1 = vec4<f32>(v0.y, v1.y, v2.y, v3.y);`
    : `let b0 = vec4<f32>(${dec('B[bBase + k0 * WB + cw0]')}, ${dec('B[bBase + k0 * WB + cw1]')});
        let b1 = vec4<f32>(${dec('B[bBase + (k0 + 1) * WB + cw0]')}, ${dec('B[bBase + (k0 + 1) * WB + cw1]')});`;
  const bTail = tb
    ? `let b0 = vec4<f32>(${dec('B[bBase + c0 * WB + kp]')}.x, ${dec('B[bBase + c1 * WB + kp]')}.x, ${dec('B[bBase + c2 * WB + kp]')}.x, ${dec('B[bBase + c3 * WB + kp]')}.x);`
    : `let b0 = vec4<f32>(${dec('B[bBase + k0 * WB + cw0]')}, ${dec('B[bBase + k0 * WB + cw1]')});`;
  return `
    ${header}
    fn pairAtA(rowBase : i32, col : i32) -> f32 {
      return ${dec('A[rowBase + (col >> 1u)]')}[col & 1];
    }

    fn main() {
      let M = uniforms.dimM;
      let K = uniforms.dimK;
      let N = uniforms.dimN;
      let WA = uniforms.wordsA;
      let WB = uniforms.wordsB;
      let col0 = i32(globalId.x) * ${COLS};
      let row0 = i32(globalId.y) * ${ROWS};
      let batch = i32(globalId.z);
      if (col0 >= N || row0 >= M) { return; }
      let aBase = select(batch, 0, uniforms.batchA == 1) * ${ta ? 'K' : 'M'} * WA;
      let bBase = select(batch, 0, uniforms.batchB == 1) * ${tb ? 'N' : 'K'} * WB;
      // Rows/columns past the edge read a valid clamped element and are never written.
      ${rows.map((i) => `let r${i} = min(row0 + ${i}, M - 1);`).join('\n        ')}
      let c0 = col0;
      let c1 = min(col0 + 1, N - 1);
      let c2 = min(col0 + 2, N - 1);
      let c3 = min(col0 + 3, N - 1);
      let cw0 = col0 / 2;
      let cw1 = min(cw0 + 1, WB - 1);
      ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join('\n        ')}
      // k in order, two per step: the float32 sums round exactly as the CPU twin's.
      let pairs = K / 2;
      for (var kp = 0; kp < pairs; kp++) {
        let k0 = 2 * kp;
        ${bPairs}
        ${rows.map((i) => `let a${i} = ${aPair(`r${i}`)};
        acc${i} = fma(vec4<f32>(a${i}.x), b0, acc${i});
        acc${i} = fma(vec4<f32>(a${i}.y), b1, acc${i});`).join('\n          ')}
      }
      if (K % 2 == 1) {
        let kp = pairs;
        let k0 = 2 * kp;
        ${bTail}
        ${rows.map((i) => `acc${i} = fma(vec4<f32>(${aTail(`r${i}`)}), b0, acc${i});`).join('\n          ')}
      }
      let outBase = batch * M * N;
      ${rows.map((i) => `writeRowPaired(outBase, row0 + ${i}, col0, M, N, acc${i});`).join('\n        ')}
    }

      ${writeRowFn('writeRowPaired')}
  `;
}

/**
 * For the device's createShaderModule wrapper: in a shader that marks bindings with `// vocoHalfBindings: A B`, those
 * storage bindings become array<vec2<f16>> (tfjs declared them array<i32>; same bytes, two halves per element).
 */
export function retypeHalfBindings(code: string): string {
  const mark = code.match(/\/\/ vocoHalfBindings:([ \w]+)/);
  if (!mark) return code;
  let out = code;
  for (const name of mark[1].trim().split(/\s+/)) {
    out = out.replace(new RegExp(`(var<storage, read> ${name}\\s*:\\s*)array<i32>`), '$1array<vec2<f16>>');
  }
  return out;
}

export interface PackedHalfAttrs {
  transposeA: boolean;
  transposeB: boolean;
  /** Logical columns of A and B as stored (the packed rows hold ceil(cols / 2) words). */
  colsA: number;
  colsB: number;
  storage: HalfStorage;
}

interface Dims { batchA: number; batchB: number; batch: number; rowsA: number; rowsB: number; m: number; k: number; n: number; outShape: number[] }

function dimsOf(a: TensorInfo, b: TensorInfo, attrs: PackedHalfAttrs): Dims {
  const name = MATMUL_PACKED_HALF_KERNEL;
  for (const [t, cols, label] of [[a, attrs.colsA, 'A'], [b, attrs.colsB, 'B']] as const) {
    if (t.dtype !== 'int32' || t.shape.length < 2) throw new Error(`${name}: ${label} must be packed half words (int32, rank ≥ 2), got ${t.dtype} [${t.shape}]`);
    if (t.shape[t.shape.length - 1] !== halfWordsPerRow(cols)) {
      throw new Error(`${name}: ${label} has ${t.shape[t.shape.length - 1]} words per row, but ${cols} columns need ${halfWordsPerRow(cols)}`);
    }
  }
  const rowsA = a.shape[a.shape.length - 2], rowsB = b.shape[b.shape.length - 2];
  const m = attrs.transposeA ? attrs.colsA : rowsA;
  const k = attrs.transposeA ? rowsA : attrs.colsA;
  const kB = attrs.transposeB ? attrs.colsB : rowsB;
  const n = attrs.transposeB ? rowsB : attrs.colsB;
  if (k !== kB) throw new Error(`${name}: inner dimensions ${k} and ${kB} differ (transposeA=${attrs.transposeA}, transposeB=${attrs.transposeB})`);
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`${name}: batches ${batchA} and ${batchB} do not broadcast`);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return { batchA, batchB, batch: Math.max(batchA, batchB), rowsA, rowsB, m, k, n, outShape: [...outer, m, n] };
}

/** The WebGPU program on packed operands; null when the dispatch would pass the device's limits. */
export function matMulPackedHalfWebgpu(backend: WebGPUBackend, a: TensorInfo, b: TensorInfo, attrs: PackedHalfAttrs): TensorInfo | null {
  const d = dimsOf(a, b, attrs);
  if (attrs.storage === 'native' && !backend.device.features.has('shader-f16')) {
    throw new Error(`${MATMUL_PACKED_HALF_KERNEL}: native f16 storage needs a device with the 'shader-f16' feature (this one has ${[...backend.device.features].join(', ') || 'none'})`);
  }
  const program = new MatMulPackedHalfProgram(d.batch, d.m, d.n, attrs.transposeA, attrs.transposeB, attrs.storage);
  if (program.dispatch.some((x) => x > backend.device.limits.maxComputeWorkgroupsPerDimension)) return null;
  const a3: TensorInfo = { ...a, shape: [d.batchA, ...a.shape.slice(-2)] };
  const b3: TensorInfo = { ...b, shape: [d.batchB, ...b.shape.slice(-2)] };
  const uniforms = [d.m, d.k, d.n, d.batchA, d.batchB, a.shape[a.shape.length - 1], b.shape[b.shape.length - 1]].map((v) => ({ type: 'int32', data: [v] }));
  const out = backend.runWebGPUProgram(program, [a3, b3], 'float32', uniforms);
  return { dataId: out.dataId, dtype: 'float32', shape: d.outShape };
}

function webgpuKernel({ inputs, backend, attrs }: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WebGPUBackend; attrs: PackedHalfAttrs }): TensorInfo {
  const out = matMulPackedHalfWebgpu(backend, inputs.a, inputs.b, attrs);
  if (!out) throw new Error(`${MATMUL_PACKED_HALF_KERNEL}: shapes [${inputs.a.shape}] · [${inputs.b.shape}] pass the device's dispatch limit`);
  return out;
}

/** CPU twin: unpack to the half-rounded values and multiply as matMulHalfCPU does. */
function cpuKernel({ inputs, backend, attrs }: { inputs: { a: TensorInfo; b: TensorInfo }; backend: MathBackendCPU; attrs: PackedHalfAttrs }): TensorInfo {
  const d = dimsOf(inputs.a, inputs.b, attrs);
  const words = (t: TensorInfo) => new Uint32Array((backend.data.get(t.dataId).values as Int32Array).slice().buffer);
  const av = unpackHalfRows(words(inputs.a), attrs.colsA), bv = unpackHalfRows(words(inputs.b), attrs.colsB);
  const { values } = matMulHalfCPU(av, [d.batchA, d.rowsA, attrs.colsA], bv, [d.batchB, d.rowsB, attrs.colsB], attrs.transposeA, attrs.transposeB);
  return backend.makeTensorInfo(d.outShape, 'float32', values);
}

const configs: KernelConfig[] = [
  { kernelName: MATMUL_PACKED_HALF_KERNEL, backendName: 'webgpu', kernelFunc: webgpuKernel as unknown as KernelFunc },
  { kernelName: MATMUL_PACKED_HALF_KERNEL, backendName: 'cpu', kernelFunc: cpuKernel as unknown as KernelFunc },
];
for (const c of configs) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);

/** op(A) · op(B) from packed half operands (castToHalf's output); colsA/colsB: their logical column counts. */
export function matMulPackedHalf(a: tf.Tensor, b: tf.Tensor, attrs: Omit<PackedHalfAttrs, 'storage'> & { storage?: HalfStorage }): tf.Tensor {
  return tf.engine().runKernel(MATMUL_PACKED_HALF_KERNEL, { a, b }, { storage: 'packed', ...attrs } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
