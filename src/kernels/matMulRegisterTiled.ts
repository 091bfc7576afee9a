// An alternative WebGPU kernel for 'BatchMatMul' (tf.matMul and its gradients), OFF by default.
//
// Why: tfjs-webgpu's matmul programs stage 32×32 tiles through workgroup memory with barriers. On a software
// adapter (SwiftShader, what Chromium gives on a GPU-less machine) barriers are expensive and that design ran at
// 0.12–0.23 GFLOP/s in our measurements, while this register-tiled program without workgroup memory ran
// 6–9× faster on the same shapes (numbers in the kernels report / benchMatMul in src/selftest/kernels.ts).
// On real GPUs it has NOT been measured, so it is only switched on by an explicit call, meant for software
// adapters: useRegisterTiledMatMul(true).
//
// Each invocation computes an 8×4 block of C = op(A)·op(B) (8 rows, 4 adjacent columns) for one batch entry,
// reading A and B straight from storage (the caches do the reuse). Cases it does not cover (non-float32,
// more than 65535 batch entries or row blocks) go to tfjs's own kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { castToHalfWebgpu } from './castToHalf';
import { matMulPackedHalfWebgpu, pairedMatMulCode } from './matMulPackedHalf';
import { writeRowFn } from './registerTileWgsl';

const ROWS = 8;
const COLS = 4;

/** C[b] = op(A[b or 0]) · op(B[b or 0]); op = transpose when the flag is set. Shapes are the 3-D views. */
export class MatMulRegisterTiledProgram implements WebGPUProgram {
  variableNames = ['A', 'B'];
  uniforms = 'dimM : i32, dimK : i32, dimN : i32, batchA : i32, batchB : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [8, 8, 1];

  constructor(batch: number, m: number, n: number, private transposeA: boolean, private transposeB: boolean) {
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / COLS / 8), Math.ceil(m / ROWS / 8), batch];
    this.shaderKey = `vocoMatMulRegTiled_${transposeA}_${transposeB}`;
  }

  getUserCode(): string {
    const rows = Array.from({ length: ROWS }, (_, i) => i);
    // Element (row m, inner k) of A and (inner k, column n) of B in their stored layouts.
    const aIndex = (row: string) => (this.transposeA ? `aBase + k * M + ${row}` : `aBase + ${row} * K + k`);
    const bIndex = (col: string) => (this.transposeB ? `bBase + ${col} * K + k` : `bBase + k * N + ${col}`);
    return `
      fn main() {
        let M = uniforms.dimM;
        let K = uniforms.dimK;
        let N = uniforms.dimN;
        let col0 = i32(globalId.x) * ${COLS};
        let row0 = i32(globalId.y) * ${ROWS};
        let batch = i32(globalId.z);
        if (col0 >= N || row0 >= M) { return; }
        let aBase = select(batch, 0, uniforms.batchA == 1) * M * K;
        let bBase = select(batch, 0, uniforms.batchB == 1) * K * N;
        // Rows/columns past the edge read a valid clamped element and are never written.
        ${rows.map((i) => `let r${i} = min(row0 + ${i}, M - 1);`).join('\n        ')}
        let c0 = col0;
        let c1 = min(col0 + 1, N - 1);
        let c2 = min(col0 + 2, N - 1);
        let c3 = min(col0 + 3, N - 1);
        ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join('\n        ')}
        for (var k = 0; k < K; k++) {
          let b = vec4<f32>(B[${bIndex('c0')}], B[${bIndex('c1')}], B[${bIndex('c2')}], B[${bIndex('c3')}]);
          ${rows.map((i) => `acc${i} = fma(vec4<f32>(A[${aIndex(`r${i}`)}]), b, acc${i});`).join('\n          ')}
        }
        let outBase = batch * M * N;
        ${rows.map((i) => `writeRow(outBase, row0 + ${i}, col0, M, N, acc${i});`).join('\n        ')}
      }

      ${writeRowFn('writeRow')}
    `;
  }
}

/**
 * Subgroup variant: the same 8×4 block per invocation, but a workgroup is one row of 32 invocations (so every
 * subgroup, whatever its size, shares the 8 rows), and each chunk of `subgroup_size` k-steps loads op(A) once per
 * lane and hands it round with subgroupShuffle instead of every lane loading the same 8 values. Needs the
 * `subgroups` feature on the device and `enable subgroups;` hoisted to the top of the shader (see
 * hoistEnableDirectives in src/backend/backends.ts). No early return: subgroup operations need uniform control
 * flow, so lanes past the edge compute on clamped indices and skip only the stores.
 */
export class MatMulRegisterTiledSubgroupProgram implements WebGPUProgram {
  variableNames = ['A', 'B'];
  uniforms = 'dimM : i32, dimK : i32, dimN : i32, batchA : i32, batchB : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [32, 1, 1];

  constructor(batch: number, m: number, n: number, private transposeA: boolean, private transposeB: boolean) {
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / COLS / 32), Math.ceil(m / ROWS), batch];
    this.shaderKey = `vocoMatMulRegTiledSubgroups_${transposeA}_${transposeB}`;
  }

  getUserCode(): string {
    const rows = Array.from({ length: ROWS }, (_, i) => i);
    const aIndex = (row: string, k: string) => (this.transposeA ? `aBase + (${k}) * M + ${row}` : `aBase + ${row} * K + (${k})`);
    const bIndex = (col: string) => (this.transposeB ? `bBase + ${col} * K + k` : `bBase + k * N + ${col}`);
    const fmaRows = (a: (i: number) => string) => rows.map((i) => `acc${i} = fma(vec4<f32>(${a(i)}), b, acc${i});`).join('\n            ');
    return `
      enable subgroups;
      fn main() {
        let M = uniforms.dimM;
        let K = uniforms.dimK;
        let N = uniforms.dimN;
        let col0 = i32(globalId.x) * ${COLS};
        let row0 = i32(globalId.y) * ${ROWS};
        let batch = i32(globalId.z);
        let aBase = select(batch, 0, uniforms.batchA == 1) * M * K;
        let bBase = select(batch, 0, uniforms.batchB == 1) * K * N;
        ${rows.map((i) => `let r${i} = min(row0 + ${i}, M - 1);`).join('\n        ')}
        let c0 = min(col0, N - 1);
        let c1 = min(col0 + 1, N - 1);
        let c2 = min(col0 + 2, N - 1);
        let c3 = min(col0 + 3, N - 1);
        // tfjs's entry point declares no subgroup builtins; with every lane active (no early return) the active-lane
        // count is the subgroup size and the exclusive prefix count is this lane's index.
        let sg = i32(subgroupAdd(1u));
        let lane = i32(subgroupExclusiveAdd(1u));
        ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join('\n        ')}
        var kb = 0;
        for (; kb + sg <= K; kb += sg) {
          // Lane l holds op(A)[r_i, kb + l]; step kk takes lane kk's value.
          ${rows.map((i) => `let own${i} = A[${aIndex(`r${i}`, 'kb + lane')}];`).join('\n          ')}
          for (var kk = 0; kk < sg; kk++) {
            let k = kb + kk;
            let b = vec4<f32>(B[${bIndex('c0')}], B[${bIndex('c1')}], B[${bIndex('c2')}], B[${bIndex('c3')}]);
            ${fmaRows((i) => `subgroupShuffle(own${i}, u32(kk))`)}
          }
        }
        for (var k = kb; k < K; k++) {
          let b = vec4<f32>(B[${bIndex('c0')}], B[${bIndex('c1')}], B[${bIndex('c2')}], B[${bIndex('c3')}]);
          ${fmaRows((i) => `A[${aIndex(`r${i}`, 'k')}]`)}
        }
        if (col0 >= N) { return; }
        let outBase = batch * M * N;
        ${rows.map((i) => `writeRowSg(outBase, row0 + ${i}, col0, M, N, acc${i});`).join('\n        ')}
      }

      ${writeRowFn('writeRowSg')}
    `;
  }
}

/**
 * Pairs variant (float32, exact): the same 8×4 block, but operands bound as vec2<f32> (two consecutive values of a
 * stored row per load) and k two at a time, the loop of the half-precision program (pairedMatMulCode in
 * matMulPackedHalf.ts) on float32 storage. Sums in the same k order as the plain program, so results are identical;
 * only the loads differ. Needs an even number of columns in both stored operands (else the plain program runs).
 */
export class MatMulRegisterTiledPairsProgram implements WebGPUProgram {
  variableNames = ['A', 'B'];
  variableComponents = [2, 2];
  uniforms = 'dimM : i32, dimK : i32, dimN : i32, batchA : i32, batchB : i32, wordsA : i32, wordsB : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [8, 8, 1];

  constructor(batch: number, m: number, n: number, private transposeA: boolean, private transposeB: boolean) {
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / COLS / 8), Math.ceil(m / ROWS / 8), batch];
    this.shaderKey = `vocoMatMulRegTiledPairs_${transposeA}_${transposeB}`;
  }

  getUserCode(): string {
    return pairedMatMulCode(this.transposeA, this.transposeB, (expr) => expr);
  }
}

/**
 * Which register-tiled program serves BatchMatMul while the replacement is active ('tiled-pairs': the pairs program
 * where both operands have an even number of columns, the plain one otherwise). The f16 ones round both operands
 * to half precision (cast, then matMulPackedHalf.ts; float32 sums): they change numerics and are only used when a run
 * opts in ('tiled-f16-native' also needs `shader-f16`).
 */
export type RegisterTiledVariant = 'tiled' | 'tiled-pairs' | 'tiled-subgroups' | 'tiled-f16' | 'tiled-f16-native';
let variant: RegisterTiledVariant = 'tiled';

/** Picks the program (the subgroup one needs a device created with the `subgroups` feature). */
export function setRegisterTiledVariant(v: RegisterTiledVariant): void {
  variant = v;
}

export function registerTiledVariant(): RegisterTiledVariant {
  return variant;
}

interface BatchMatMulArgs {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: WebGPUBackend;
  attrs: { transposeA: boolean; transposeB: boolean };
}

/** Runs the register-tiled program, or returns null when the case is one it leaves to tfjs. */
export function registerTiledBatchMatMul({ inputs, backend, attrs }: BatchMatMulArgs): TensorInfo | null {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const innerA = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const innerB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  if (innerA !== innerB) {
    throw new Error(`matMul: inner dimensions ${innerA} and ${innerB} of shapes [${a.shape}] and [${b.shape}] ` +
      `(transposeA=${transposeA}, transposeB=${transposeB}) must match`);
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  // Only whole-batch broadcasting (one side has a single matrix), like the 3-D views tfjs itself uses.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  const batch = Math.max(batchA, batchB);
  const outerDims = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outerDims, m, n];
  if (tf.util.sizeFromShape(outShape) === 0 || innerA === 0) return null;
  // 3-D views share the inputs' buffers (what tfjs's reshape does too).
  const a3d: TensorInfo = { dataId: a.dataId, dtype: a.dtype, shape: [batchA, ...a.shape.slice(-2)] };
  const b3d: TensorInfo = { dataId: b.dataId, dtype: b.dtype, shape: [batchB, ...b.shape.slice(-2)] };
  if (variant === 'tiled-f16' || variant === 'tiled-f16-native') {
    const aHalf = castToHalfWebgpu(backend, a3d);
    const bHalf = castToHalfWebgpu(backend, b3d);
    try {
      const out = matMulPackedHalfWebgpu(backend, aHalf, bHalf, {
        transposeA, transposeB, colsA: a.shape[aRank - 1], colsB: b.shape[bRank - 1], storage: variant === 'tiled-f16' ? 'packed' : 'native',
      });
      return out && { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    } finally {
      backend.disposeData(aHalf.dataId);
      backend.disposeData(bHalf.dataId);
    }
  }
  const colsA = a.shape[aRank - 1], colsB = b.shape[bRank - 1];
  const pairs = variant === 'tiled-pairs' && colsA % 2 === 0 && colsB % 2 === 0;
  const program = variant === 'tiled-subgroups'
    ? new MatMulRegisterTiledSubgroupProgram(batch, m, n, transposeA, transposeB)
    : pairs ? new MatMulRegisterTiledPairsProgram(batch, m, n, transposeA, transposeB) : new MatMulRegisterTiledProgram(batch, m, n, transposeA, transposeB);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (program.dispatch.some((d) => d > limit)) return null;
  if (pairs) {
    const uniforms = [m, innerA, n, batchA, batchB, colsA / 2, colsB / 2].map((v) => ({ type: 'int32', data: [v] }));
    const out = backend.runWebGPUProgram(program, [a3d, b3d], 'float32', uniforms);
    return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
  }
  const uniforms = [m, innerA, n, batchA, batchB].map((v) => ({ type: 'int32', data: [v] }));
  const out = backend.runWebGPUProgram(program, [a3d, b3d], 'float32', uniforms);
  return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
}

let tfjsBatchMatMul: KernelConfig | null = null;

/**
 * Swaps the 'webgpu' BatchMatMul kernel (forward and backward of tf.matMul) for the register-tiled program
 * (true) or puts tfjs's own back (false). Idempotent. Intended for software WebGPU adapters only.
 */
export function useRegisterTiledMatMul(enable: boolean): void {
  const current = tf.getKernel('BatchMatMul', 'webgpu');
  if (!current) throw new Error('useRegisterTiledMatMul: import @tensorflow/tfjs-backend-webgpu first (no webgpu BatchMatMul kernel registered)');
  const active = current.kernelFunc === (replacement.kernelFunc as unknown);
  if (enable === active) return;
  tf.unregisterKernel('BatchMatMul', 'webgpu');
  if (enable) {
    tfjsBatchMatMul = current;
    tf.registerKernel(replacement);
  } else {
    tf.registerKernel(tfjsBatchMatMul!);
  }
}

/** Whether the register-tiled kernel currently serves BatchMatMul on webgpu. */
export function registerTiledMatMulActive(): boolean {
  return tf.getKernel('BatchMatMul', 'webgpu')?.kernelFunc === (replacement.kernelFunc as unknown);
}

const replacement: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'webgpu',
  kernelFunc: ((args: BatchMatMulArgs) =>
    registerTiledBatchMatMul(args) ?? (tfjsBatchMatMul!.kernelFunc as unknown as (x: BatchMatMulArgs) => TensorInfo)(args)) as unknown as KernelFunc,
};
