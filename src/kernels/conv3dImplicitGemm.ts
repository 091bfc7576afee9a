// Kernel 'VocoConv3d': 3-D convolution, stride 1, zero padding (k-1)/2, no bias, as an implicit GEMM.
//
//   y[n, p, co] = Σ_{t, ci} x[n, p + o_t, ci] · w[t·Cin + ci, co]     (x = 0 outside the volume)
//
// Layouts (channels-last, token-major; all ranks ≤ 3 so nothing hits tfjs-webgpu's rank-5 traps):
//   x [N, V, Cin] with V = D·H·W and voxel p = (d·H + h)·W + w (PyTorch's NCDHW spatial order, D first);
//   w [k³·Cin, Cout], row t·Cin + ci with tap t = (kd·k + kh)·k + kw, o_t = (kd, kh, kw) - (k-1)/2;
//   y [N, V, Cout].
// It is the GEMM [N·V, k³·Cin]·[k³·Cin, Cout] with the im2col matrix never written: every backend reads the
// neighbour straight from x. The data gradient is the same kernel on dy with flipped, transposed weights
// (conv3d.ts); the weight gradient is conv3dFilterGrad.ts.
//
// Backends: 'webgpu' runs Conv3dProgram (WGSL, register-tiled like matMulRegisterTiled.ts: 8 voxels × 4 output
// channels per invocation, no workgroup memory); 'webgl' runs Conv3dGLProgram (one fragment per output value);
// 'cpu' and 'wasm' run the CPU twin (wasm: on the heap in place).
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export const CONV3D_KERNEL = 'VocoConv3d';

export interface Conv3dAttrs {
  /** Spatial dims [D, H, W] of every volume in the batch. */
  dims: [number, number, number];
  /** Kernel edge (odd). */
  k: number;
}

/** Checks the geometry; returns [N, V, Cin, Cout]. `who` names the caller in messages. */
export function conv3dShapes(xShape: number[], wShape: number[], dims: number[], k: number, who: string): [number, number, number, number] {
  if (!Array.isArray(dims) || dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${who}: dims [${dims}] must be three positive integers [D, H, W]`);
  }
  if (!Number.isInteger(k) || k < 1 || k % 2 !== 1) throw new Error(`${who}: kernel size k=${k} must be a positive odd integer`);
  if (xShape.length !== 3) throw new Error(`${who}: x must be [N, D·H·W, Cin], got shape [${xShape}]`);
  const [n, v, cin] = xShape;
  if (v !== dims[0] * dims[1] * dims[2]) throw new Error(`${who}: x has ${v} voxels per volume, dims [${dims}] give ${dims[0] * dims[1] * dims[2]}`);
  if (wShape.length !== 2 || wShape[0] !== k * k * k * cin) {
    throw new Error(`${who}: w must be [k³·Cin, Cout] = [${k * k * k * cin}, Cout] for k=${k}, Cin=${cin}; got shape [${wShape}]`);
  }
  return [n, v, cin, wShape[1]];
}

/**
 * The CPU twin: y (flat [N, V, Cout]) from x (flat [N, V, Cin]) and w (flat [k³·Cin, Cout]).
 * Per output voxel it accumulates in float64 over the in-range taps, one w row (a Cout vector) per input value.
 */
export function conv3dForwardCPU(
  x: Float32Array, w: Float32Array, n: number, dims: readonly number[], cin: number, cout: number, k: number,
  out: Float32Array = new Float32Array(n * dims[0] * dims[1] * dims[2] * cout),
): Float32Array {
  const [D, H, W] = dims;
  const V = D * H * W;
  const r = (k - 1) >> 1;
  const acc = new Float64Array(cout);
  for (let b = 0; b < n; b++) {
    for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let x0 = 0; x0 < W; x0++) {
      acc.fill(0);
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
            const wi = ((kd * k + kh) * k + kw) * cin * cout;
            for (let ci = 0; ci < cin; ci++) {
              const xv = x[xi + ci];
              if (xv === 0) continue;
              const row = wi + ci * cout;
              for (let co = 0; co < cout; co++) acc[co] += xv * w[row + co];
            }
          }
        }
      }
      const o = (b * V + (d * H + h) * W + x0) * cout;
      for (let co = 0; co < cout; co++) out[o + co] = acc[co];
    }
  }
  return out;
}

interface KernelArgs<B> {
  inputs: { x: TensorInfo; w: TensorInfo };
  backend: B;
  attrs: Conv3dAttrs;
}

function shapesOf({ inputs, attrs }: KernelArgs<unknown>): [number, number, number, number] {
  if (inputs.x.dtype !== 'float32' || inputs.w.dtype !== 'float32') {
    throw new Error(`${CONV3D_KERNEL}: x and w must be float32, got ${inputs.x.dtype} and ${inputs.w.dtype}`);
  }
  return conv3dShapes(inputs.x.shape, inputs.w.shape, attrs.dims, attrs.k, CONV3D_KERNEL);
}

// ---- CPU twin on 'cpu' and 'wasm' -----------------------------------------------------------------------------

function conv3dCpu(args: KernelArgs<MathBackendCPU>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  const x = backend.data.get(inputs.x.dataId).values as Float32Array;
  const w = backend.data.get(inputs.w.dataId).values as Float32Array;
  return backend.makeTensorInfo([n, v, cout], 'float32', conv3dForwardCPU(x, w, n, attrs.dims, cin, cout, attrs.k));
}

function conv3dWasm(args: KernelArgs<BackendWasm>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  const out = backend.makeOutput([n, v, cout], 'float32');
  // Views after makeOutput: its malloc may grow the heap and detach older views.
  const x = backend.typedArrayFromHeap(inputs.x) as Float32Array;
  const w = backend.typedArrayFromHeap(inputs.w) as Float32Array;
  conv3dForwardCPU(x, w, n, attrs.dims, cin, cout, attrs.k, backend.typedArrayFromHeap(out) as Float32Array);
  return out;
}

// ---- WebGPU: WGSL program -------------------------------------------------------------------------------------

const ROWS = 8;
const COLS = 4;

/**
 * Each invocation computes 8 consecutive output voxels (flat over N·V) × 4 adjacent output channels, looping over
 * the k³ taps and, inside, the input channels; neighbour indices and their bounds are worked out once per tap.
 * Reads go straight to storage (no workgroup memory, no barriers: those are what make tfjs's tiled matmul slow
 * on software adapters, see matMulRegisterTiled.ts). Row blocks beyond the per-dimension dispatch limit fold into z.
 */
export class Conv3dProgram implements WebGPUProgram {
  variableNames = ['X', 'Wt'];
  variableComponents: number[];
  uniforms = 'dimD : i32, dimH : i32, dimW : i32, cin : i32, cout : i32, rows : i32, kSize : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [8, 8, 1];
  private vec4W: boolean;

  /** k only names the pipeline (it is a uniform, see getUserCode). */
  constructor(outputShape: [number, number, number], k: number, maxWorkgroups = 65535) {
    this.outputShape = outputShape;
    const [n, v, cout] = outputShape;
    this.vec4W = cout % 4 === 0;
    this.variableComponents = [1, this.vec4W ? 4 : 1];
    const rowGroups = Math.ceil((n * v) / ROWS / 8);
    const y = Math.min(rowGroups, maxWorkgroups);
    this.dispatch = [Math.ceil(cout / COLS / 8), y, Math.ceil(rowGroups / y)];
    this.shaderKey = `vocoConv3d_${k}_${this.vec4W}`;
  }

  getUserCode(): string {
    const rows = Array.from({ length: ROWS }, (_, i) => i);
    const wLoad = this.vec4W
      ? 'let wv = Wt[(wRow + c0) / 4];'
      : 'let wv = vec4<f32>(Wt[wRow + c0], Wt[wRow + c1], Wt[wRow + c2], Wt[wRow + c3]);';
    return `
      fn main() {
        let D = uniforms.dimD;
        let H = uniforms.dimH;
        let W = uniforms.dimW;
        let Cin = uniforms.cin;
        let Cout = uniforms.cout;
        let M = uniforms.rows;
        let V = D * H * W;
        let col0 = i32(globalId.x) * ${COLS};
        let row0 = (i32(globalId.y) + i32(globalId.z) * i32(numWorkgroups.y) * 8) * ${ROWS};
        if (col0 >= Cout || row0 >= M) { return; }
        let c0 = col0;
        let c1 = min(col0 + 1, Cout - 1);
        let c2 = min(col0 + 2, Cout - 1);
        let c3 = min(col0 + 3, Cout - 1);
        // Each row's volume start and voxel coordinates (rows past the end repeat the last row, never written).
        ${rows.map((i) => `let m${i} = min(row0 + ${i}, M - 1);
        let base${i} = (m${i} / V) * V;
        let p${i} = m${i} - base${i};
        let z${i} = p${i} / (H * W);
        let y${i} = (p${i} / W) % H;
        let x${i} = p${i} % W;`).join('\n        ')}
        ${rows.map((i) => `var acc${i} = vec4<f32>(0.0);`).join('\n        ')}
        // One runtime loop over the taps, and no branches inside it (bounds by select): nested constant-bound
        // loops, or per-row if-blocks inside the tap loop, made Chromium's SwiftShader pipeline compilation run for
        // minutes (measured: > 60 s for k = 1), while this form compiles in well under a second.
        let k = uniforms.kSize;
        let r = (k - 1) / 2;
        let dims = vec3<i32>(D, H, W);
        for (var t = 0; t < k * k * k; t++) {
          let off = vec3<i32>(t / (k * k), (t / k) % k, t % k) - vec3<i32>(r);
          // Neighbour row of each voxel for this tap (row 0 of its volume where it falls in the zero padding).
          ${rows.map((i) => `let s${i} = vec3<i32>(z${i}, y${i}, x${i}) + off;
          let ok${i} = all(s${i} >= vec3<i32>(0)) & all(s${i} < dims);
          let q${i} = select(0, (base${i} + (s${i}.x * H + s${i}.y) * W + s${i}.z) * Cin, ok${i});`).join('\n          ')}
          let tapRow = t * Cin;
          for (var ci = 0; ci < Cin; ci++) {
            let wRow = (tapRow + ci) * Cout;
            ${wLoad}
            ${rows.map((i) => `acc${i} = fma(vec4<f32>(select(0.0, X[q${i} + ci], ok${i})), wv, acc${i});`).join('\n            ')}
          }
        }
        ${rows.map((i) => `writeRow(row0 + ${i}, col0, M, Cout, acc${i});`).join('\n        ')}
      }

      fn writeRow(row : i32, col0 : i32, M : i32, N : i32, acc : vec4<f32>) {
        if (row >= M) { return; }
        let at = row * N + col0;
        setOutputAtIndex(at, acc.x);
        if (col0 + 1 < N) { setOutputAtIndex(at + 1, acc.y); }
        if (col0 + 2 < N) { setOutputAtIndex(at + 2, acc.z); }
        if (col0 + 3 < N) { setOutputAtIndex(at + 3, acc.w); }
      }
    `;
  }
}

function conv3dWebgpu(args: KernelArgs<WebGPUBackend>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  const program = new Conv3dProgram([n, v, cout], attrs.k, backend.device.limits.maxComputeWorkgroupsPerDimension);
  if (program.dispatch[2] > backend.device.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`${CONV3D_KERNEL}: ${n}×${v} voxels is too many for one dispatch on this device; use a smaller batch`);
  }
  const [D, H, W] = attrs.dims;
  const uniforms = [D, H, W, cin, cout, n * v, attrs.k].map((value) => ({ type: 'int32', data: [value] }));
  return backend.runWebGPUProgram(program, [inputs.x, inputs.w], 'float32', uniforms);
}

// ---- WebGL: GLSL program --------------------------------------------------------------------------------------

/** One fragment per output value (n, p, co): loops over the in-range taps and the input channels. */
export class Conv3dGLProgram implements GPGPUProgram {
  variableNames = ['X', 'Wt'];
  outputShape: number[];
  userCode: string;
  customUniforms = [
    { name: 'dimD', type: 'int' as const },
    { name: 'dimH', type: 'int' as const },
    { name: 'dimW', type: 'int' as const },
    { name: 'cin', type: 'int' as const },
  ];

  constructor(outputShape: [number, number, number], k: number) {
    this.outputShape = outputShape;
    const r = (k - 1) / 2;
    this.userCode = `
      void main() {
        ivec3 coords = getOutputCoords();
        int n = coords.x;
        int p = coords.y;
        int co = coords.z;
        int z = p / (dimH * dimW);
        int y = imod(p / dimW, dimH);
        int x = imod(p, dimW);
        float sum = 0.0;
        for (int kd = 0; kd < ${k}; kd++) {
          int dd = z + kd - ${r};
          if (dd < 0 || dd >= dimD) continue;
          for (int kh = 0; kh < ${k}; kh++) {
            int hh = y + kh - ${r};
            if (hh < 0 || hh >= dimH) continue;
            for (int kw = 0; kw < ${k}; kw++) {
              int ww = x + kw - ${r};
              if (ww < 0 || ww >= dimW) continue;
              int q = (dd * dimH + hh) * dimW + ww;
              int tapRow = ((kd * ${k} + kh) * ${k} + kw) * cin;
              for (int ci = 0; ci < cin; ci++) {
                sum += getX(n, q, ci) * getWt(tapRow + ci, co);
              }
            }
          }
        }
        setOutput(sum);
      }
    `;
  }
}

function conv3dWebgl(args: KernelArgs<MathBackendWebGL>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const [n, v, cin, cout] = shapesOf(args);
  if (!tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')) {
    throw new Error(`${CONV3D_KERNEL}: this WebGL device only has 16-bit float textures. Use the webgpu, wasm or cpu backend.`);
  }
  const program = new Conv3dGLProgram([n, v, cout], attrs.k);
  const [D, H, W] = attrs.dims;
  return backend.runWebGLProgram(program, [inputs.x, inputs.w], 'float32', [[D], [H], [W], [cin]]);
}

// ---- registration ---------------------------------------------------------------------------------------------

const kernelConfigs: KernelConfig[] = [
  { kernelName: CONV3D_KERNEL, backendName: 'cpu', kernelFunc: conv3dCpu as unknown as KernelFunc },
  { kernelName: CONV3D_KERNEL, backendName: 'wasm', kernelFunc: conv3dWasm as unknown as KernelFunc },
  { kernelName: CONV3D_KERNEL, backendName: 'webgpu', kernelFunc: conv3dWebgpu as unknown as KernelFunc },
  { kernelName: CONV3D_KERNEL, backendName: 'webgl', kernelFunc: conv3dWebgl as unknown as KernelFunc },
];

/** Registers the kernel for cpu, wasm, webgpu and webgl (idempotent; also runs when this module loads). */
export function registerConv3d(): void {
  for (const config of kernelConfigs) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
}

/** y = conv(x, w): the raw kernel call (no gradient; conv3d.ts adds it). */
export function conv3dKernel(x: tf.Tensor3D, w: tf.Tensor2D, dims: [number, number, number], k: number): tf.Tensor3D {
  conv3dShapes(x.shape, w.shape, dims, k, 'conv3d');
  registerConv3d();
  const attrs: Conv3dAttrs = { dims: [...dims], k };
  return tf.engine().runKernel(CONV3D_KERNEL, { x, w }, attrs as unknown as NamedAttrMap) as tf.Tensor3D;
}

registerConv3d();
