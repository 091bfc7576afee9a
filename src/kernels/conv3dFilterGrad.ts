// Kernel 'VocoConv3dFilterGrad': the weight gradient of conv3dImplicitGemm.ts, in split-K partial sums.
//
//   dw[s, t·Cin + ci, co] = Σ_{m in chunk s} x[m + o_t, ci] · dy[m, co]      (x = 0 outside m's volume)
//
// over the flat voxel rows m of N·V, cut into S equal chunks (the last one shorter). Σ_s dw[s] is the gradient
// [k³·Cin, Cout] of Σ y·dy with respect to w: the GEMM im2col(x)ᵀ·dy, again without writing im2col. The chunks
// give a GPU enough independent work when k³·Cin·Cout is small and N·V large (encoder1: 27×48 outputs, 2·64³
// rows); conv3d.ts picks S and sums the partials.
//
// Backends: 'webgpu' runs Conv3dFilterGradProgram (WGSL, 8 weight rows × 4 output channels per invocation, one
// chunk per z); 'webgl' runs Conv3dFilterGradGLProgram (one fragment per output value); 'cpu' and 'wasm' the
// CPU twin.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export const CONV3D_FILTER_GRAD_KERNEL = 'VocoConv3dFilterGrad';

export interface Conv3dFilterGradAttrs {
  dims: [number, number, number];
  k: number;
  /** Number of chunks S of the N·V rows (≥ 1). */
  chunks: number;
}

function checkShapes(xShape: number[], dyShape: number[], dims: number[], k: number, chunks: number): [number, number, number, number] {
  const who = CONV3D_FILTER_GRAD_KERNEL;
  if (!Array.isArray(dims) || dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${who}: dims [${dims}] must be three positive integers [D, H, W]`);
  }
  if (!Number.isInteger(k) || k < 1 || k % 2 !== 1) throw new Error(`${who}: kernel size k=${k} must be a positive odd integer`);
  if (xShape.length !== 3 || dyShape.length !== 3 || xShape[0] !== dyShape[0] || xShape[1] !== dyShape[1]) {
    throw new Error(`${who}: x [N, V, Cin] and dy [N, V, Cout] must agree in N and V; got [${xShape}] and [${dyShape}]`);
  }
  const [n, v, cin] = xShape;
  if (v !== dims[0] * dims[1] * dims[2]) throw new Error(`${who}: ${v} voxels per volume, dims [${dims}] give ${dims[0] * dims[1] * dims[2]}`);
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > n * v) throw new Error(`${who}: chunks=${chunks} must be an integer in [1, N·V=${n * v}]`);
  return [n, v, cin, dyShape[2]];
}

/** Rows per chunk: chunk s covers rows [s·L, min((s+1)·L, N·V)). */
export function filterGradChunkRows(rows: number, chunks: number): number {
  return Math.ceil(rows / chunks);
}

/**
 * The CPU twin: fills `out` (flat [S, k³·Cin, Cout]) from x (flat [N, V, Cin]) and dy (flat [N, V, Cout]).
 * Accumulates each chunk in float64: one dy row (a Cout vector) times each in-range neighbour value.
 */
export function conv3dFilterGradCPU(
  x: Float32Array, dy: Float32Array, n: number, dims: readonly number[], cin: number, cout: number, k: number, chunks: number,
  out: Float32Array = new Float32Array(chunks * k * k * k * cin * cout),
): Float32Array {
  const [D, H, W] = dims;
  const V = D * H * W;
  const r = (k - 1) >> 1;
  const K = k * k * k * cin;
  const rows = n * V;
  const perChunk = filterGradChunkRows(rows, chunks);
  const acc = new Float64Array(K * cout);
  for (let s = 0; s < chunks; s++) {
    acc.fill(0);
    const end = Math.min((s + 1) * perChunk, rows);
    for (let m = s * perChunk; m < end; m++) {
      const b = Math.floor(m / V);
      const p = m - b * V;
      const d = Math.floor(p / (H * W));
      const h = Math.floor(p / W) % H;
      const x0 = p % W;
      const dyRow = m * cout;
      for (let kd = 0; kd < k; kd++) {
        const dd = d + kd - r;
        if (dd < 0 || dd >= D) continue;
        for (let kh = 0; kh < k; kh++) {
          const hh = h + kh - r;
          if (hh < 0 || hh >= H) continue;
          for (let kw = 0; kw < k; kw++) {
            const ww = x0 + kw - r;
            if (ww < 0 || ww >= W) continue;
            const xi = (b * V + (dd * H + hh) * W + ww) * cin;
            const ai = ((kd * k + kh) * k + kw) * cin * cout;
            for (let ci = 0; ci < cin; ci++) {
              const xv = x[xi + ci];
              if (xv === 0) continue;
              const row = ai + ci * cout;
              for (let co = 0; co < cout; co++) acc[row + co] += xv * dy[dyRow + co];
            }
          }
        }
      }
    }
    out.set(acc, s * K * cout);
  }
  return out;
}

interface KernelArgs<B> {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: B;
  attrs: Conv3dFilterGradAttrs;
}

function shapesOf({ inputs, attrs }: KernelArgs<unknown>): [number, number, number, number] {
  if (inputs.x.dtype !== 'float32' || inputs.dy.dtype !== 'float32') {
    throw new Error(`${CONV3D_FILTER_GRAD_KERNEL}: x and dy must be float32, got ${inputs.x.dtype} and ${inputs.dy.dtype}`);
  }
  return checkShapes(inputs.x.shape, inputs.dy.shape, attrs.dims, attrs.k, attrs.chunks);
}

// ---- CPU twin on 'cpu' and 'wasm' -----------------------------------------------------------------------------

function filterGradCpu(args: KernelArgs<MathBackendCPU>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, , cin, cout] = shapesOf(args);
  const x = backend.data.get(inputs.x.dataId).values as Float32Array;
  const dy = backend.data.get(inputs.dy.dataId).values as Float32Array;
  const out = conv3dFilterGradCPU(x, dy, n, attrs.dims, cin, cout, attrs.k, attrs.chunks);
  return backend.makeTensorInfo([attrs.chunks, attrs.k ** 3 * cin, cout], 'float32', out);
}

function filterGradWasm(args: KernelArgs<BackendWasm>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, , cin, cout] = shapesOf(args);
  const out = backend.makeOutput([attrs.chunks, attrs.k ** 3 * cin, cout], 'float32');
  const x = backend.typedArrayFromHeap(inputs.x) as Float32Array;
  const dy = backend.typedArrayFromHeap(inputs.dy) as Float32Array;
  conv3dFilterGradCPU(x, dy, n, attrs.dims, cin, cout, attrs.k, attrs.chunks, backend.typedArrayFromHeap(out) as Float32Array);
  return out;
}

// ---- WebGPU: WGSL program -------------------------------------------------------------------------------------

const ROWS = 8;
const COLS = 4;

/**
 * Invocation (x, y, z) computes weight rows 8y..8y+7 (row = t·Cin + ci) × output channels 4x..4x+3 of chunk z,
 * looping over the chunk's voxel rows: decode the voxel once, then per weight row test its tap's neighbour and
 * fma x·dy (dy read as a vec4 when Cout % 4 == 0). No workgroup memory.
 */
export class Conv3dFilterGradProgram implements WebGPUProgram {
  variableNames = ['X', 'Dy'];
  variableComponents: number[];
  uniforms = 'dimD : i32, dimH : i32, dimW : i32, cin : i32, cout : i32, rows : i32, chunkRows : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [8, 8, 1];
  private vec4Dy: boolean;

  constructor(outputShape: [number, number, number], private k: number) {
    this.outputShape = outputShape;
    const [chunks, K, cout] = outputShape;
    this.vec4Dy = cout % 4 === 0;
    this.variableComponents = [1, this.vec4Dy ? 4 : 1];
    this.dispatch = [Math.ceil(cout / COLS / 8), Math.ceil(K / ROWS / 8), chunks];
    this.shaderKey = `vocoConv3dFilterGrad_${k}_${this.vec4Dy}`;
  }

  getUserCode(): string {
    const rows = Array.from({ length: ROWS }, (_, i) => i);
    const k = this.k;
    const r = (k - 1) / 2;
    const dyLoad = this.vec4Dy
      ? 'let g = Dy[(m * Cout + c0) / 4];'
      : 'let g = vec4<f32>(Dy[m * Cout + c0], Dy[m * Cout + c1], Dy[m * Cout + c2], Dy[m * Cout + c3]);';
    return `
      fn main() {
        let D = uniforms.dimD;
        let H = uniforms.dimH;
        let W = uniforms.dimW;
        let Cin = uniforms.cin;
        let Cout = uniforms.cout;
        let V = D * H * W;
        let K = ${k * k * k} * Cin;
        let col0 = i32(globalId.x) * ${COLS};
        let row0 = i32(globalId.y) * ${ROWS};
        let chunk = i32(globalId.z);
        if (col0 >= Cout || row0 >= K) { return; }
        let c0 = col0;
        let c1 = min(col0 + 1, Cout - 1);
        let c2 = min(col0 + 2, Cout - 1);
        let c3 = min(col0 + 3, Cout - 1);
        // Each weight row's input channel and tap offset (rows past K repeat the last one, never written).
        ${rows.map((i) => `let a${i} = min(row0 + ${i}, K - 1);
        let ci${i} = a${i} % Cin;
        let t${i} = a${i} / Cin;
        let off${i} = vec3<i32>(t${i} / ${k * k}, (t${i} / ${k}) % ${k}, t${i} % ${k}) - vec3<i32>(${r});`).join('\n        ')}
        ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join('\n        ')}
        let start = chunk * uniforms.chunkRows;
        let end = min(start + uniforms.chunkRows, uniforms.rows);
        // No branches inside the voxel loop (bounds by select): per-row if-blocks inside a loop made Chromium's
        // SwiftShader pipeline compilation run for minutes (see conv3dImplicitGemm.ts).
        let dims = vec3<i32>(D, H, W);
        for (var m = start; m < end; m++) {
          let base = (m / V) * V;
          let p = m - base;
          let voxel = vec3<i32>(p / (H * W), (p / W) % H, p % W);
          ${dyLoad}
          ${rows.map((i) => `let s${i} = voxel + off${i};
          let ok${i} = all(s${i} >= vec3<i32>(0)) & all(s${i} < dims);
          let q${i} = select(0, (base + (s${i}.x * H + s${i}.y) * W + s${i}.z) * Cin + ci${i}, ok${i});
          acc${i} = fma(vec4<f32>(select(0.0, X[q${i}], ok${i})), g, acc${i});`).join('\n          ')}
        }
        let outBase = chunk * K * Cout;
        ${rows.map((i) => `writeRow(outBase, row0 + ${i}, col0, K, Cout, acc${i});`).join('\n        ')}
      }

      fn writeRow(outBase : i32, row : i32, col0 : i32, M : i32, N : i32, acc : vec4<f32>) {
        if (row >= M) { return; }
        let at = outBase + row * N + col0;
        setOutputAtIndex(at, acc.x);
        if (col0 + 1 < N) { setOutputAtIndex(at + 1, acc.y); }
        if (col0 + 2 < N) { setOutputAtIndex(at + 2, acc.z); }
        if (col0 + 3 < N) { setOutputAtIndex(at + 3, acc.w); }
      }
    `;
  }
}

function filterGradWebgpu(args: KernelArgs<WebGPUBackend>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  const K = attrs.k ** 3 * cin;
  const program = new Conv3dFilterGradProgram([attrs.chunks, K, cout], attrs.k);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (program.dispatch.some((d) => d > limit)) {
    throw new Error(`${CONV3D_FILTER_GRAD_KERNEL}: dispatch [${program.dispatch}] exceeds this device's limit ${limit}; use fewer chunks`);
  }
  const [D, H, W] = attrs.dims;
  const uniforms = [D, H, W, cin, cout, n * v, filterGradChunkRows(n * v, attrs.chunks)].map((value) => ({ type: 'int32', data: [value] }));
  return backend.runWebGPUProgram(program, [inputs.x, inputs.dy], 'float32', uniforms);
}

// ---- WebGL: GLSL program --------------------------------------------------------------------------------------

/** One fragment per output value (s, t·Cin + ci, co): loops over the chunk's voxel rows. */
export class Conv3dFilterGradGLProgram implements GPGPUProgram {
  variableNames = ['X', 'Dy'];
  outputShape: number[];
  userCode: string;
  customUniforms = [
    { name: 'dimD', type: 'int' as const },
    { name: 'dimH', type: 'int' as const },
    { name: 'dimW', type: 'int' as const },
    { name: 'cin', type: 'int' as const },
    { name: 'rows', type: 'int' as const },
    { name: 'chunkRows', type: 'int' as const },
  ];

  constructor(outputShape: [number, number, number], k: number) {
    this.outputShape = outputShape;
    const r = (k - 1) / 2;
    this.userCode = `
      void main() {
        ivec3 coords = getOutputCoords();
        int s = coords.x;
        int a = coords.y;
        int co = coords.z;
        int ci = imod(a, cin);
        int t = a / cin;
        int od = t / ${k * k} - ${r};
        int oh = imod(t / ${k}, ${k}) - ${r};
        int ow = imod(t, ${k}) - ${r};
        int V = dimD * dimH * dimW;
        int start = s * chunkRows;
        int end = min(start + chunkRows, rows);
        float sum = 0.0;
        for (int m = start; m < end; m++) {
          int n = m / V;
          int p = m - n * V;
          int dd = p / (dimH * dimW) + od;
          int hh = imod(p / dimW, dimH) + oh;
          int ww = imod(p, dimW) + ow;
          if (dd < 0 || dd >= dimD || hh < 0 || hh >= dimH || ww < 0 || ww >= dimW) continue;
          sum += getX(n, (dd * dimH + hh) * dimW + ww, ci) * getDy(n, p, co);
        }
        setOutput(sum);
      }
    `;
  }
}

function filterGradWebgl(args: KernelArgs<MathBackendWebGL>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  if (!tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')) {
    throw new Error(`${CONV3D_FILTER_GRAD_KERNEL}: this WebGL device only has 16-bit float textures. Use the webgpu, wasm or cpu backend.`);
  }
  const program = new Conv3dFilterGradGLProgram([attrs.chunks, attrs.k ** 3 * cin, cout], attrs.k);
  const [D, H, W] = attrs.dims;
  return backend.runWebGLProgram(program, [inputs.x, inputs.dy], 'float32',
    [[D], [H], [W], [cin], [n * v], [filterGradChunkRows(n * v, attrs.chunks)]]);
}

// ---- registration ---------------------------------------------------------------------------------------------

const kernelConfigs: KernelConfig[] = [
  { kernelName: CONV3D_FILTER_GRAD_KERNEL, backendName: 'cpu', kernelFunc: filterGradCpu as unknown as KernelFunc },
  { kernelName: CONV3D_FILTER_GRAD_KERNEL, backendName: 'wasm', kernelFunc: filterGradWasm as unknown as KernelFunc },
  { kernelName: CONV3D_FILTER_GRAD_KERNEL, backendName: 'webgpu', kernelFunc: filterGradWebgpu as unknown as KernelFunc },
  { kernelName: CONV3D_FILTER_GRAD_KERNEL, backendName: 'webgl', kernelFunc: filterGradWebgl as unknown as KernelFunc },
];

/** Registers the kernel for cpu, wasm, webgpu and webgl (idempotent; also runs when this module loads). */
export function registerConv3dFilterGrad(): void {
  for (const config of kernelConfigs) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
}

/** Partial weight gradients [S, k³·Cin, Cout] (sum over axis 0 for the gradient). */
export function conv3dFilterGradKernel(
  x: tf.Tensor3D, dy: tf.Tensor3D, dims: [number, number, number], k: number, chunks: number,
): tf.Tensor3D {
  checkShapes(x.shape, dy.shape, dims, k, chunks);
  registerConv3dFilterGrad();
  const attrs: Conv3dFilterGradAttrs = { dims: [...dims], k, chunks };
  return tf.engine().runKernel(CONV3D_FILTER_GRAD_KERNEL, { x, dy }, attrs as unknown as NamedAttrMap) as tf.Tensor3D;
}

registerConv3dFilterGrad();
