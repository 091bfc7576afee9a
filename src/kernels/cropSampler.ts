// Kernel 'VocoCropSample': cuts every training crop of a step out of the device-resident packed volumes,
// applies its flips / quarter turn / intensity shift and writes patch tokens, all in one dispatch.
//
// Semantics of one crop of edge r (CONTRACTS.md), coordinates (x, y, z) with x fastest:
//   C0[x,y,z] = V[ox+x, oy+y, oz+z], 0 where that voxel lies outside the volume
//   C1        = C0 flipped along every axis whose flip flag is set
//   C2        = np.rot90(C1, k, axes=(0,1)): a quarter turn from axis x towards axis y, applied AFTER the flips:
//                 k=0: C2[x,y,z] = C1[x,     y,     z]
//                 k=1: C2[x,y,z] = C1[y,     r-1-x, z]
//                 k=2: C2[x,y,z] = C1[r-1-x, r-1-y, z]
//                 k=3: C2[x,y,z] = C1[r-1-y, x,     z]
//               (k is taken modulo 4, so -1 means 3, as in numpy)
//   C3        = C2 + shift (everywhere, so voxels outside the volume come out as `shift`)
// Output [numCrops, T, p³], g = r/p, T = g³: out[c][t][k] = C3[tx*p+dx, ty*p+dy, tz*p+dz] with
//   t = (tz*g + ty)*g + tx and k = (dz*p + dy)*p + dx (x fastest), i.e. patch tokens ready for a matmul embedding.
//
// Each crop's whole chain of flips and turns is a signed permutation of (x, y) plus a reflection of z, so the
// crop table stores it as an integer affine map from output coordinates to volume voxels (see buildCropTable);
// every backend (WGSL, GLSL, the CPU twin) evaluates the same map. Tests check it against a literal
// flip-then-rot90 reference.
//
// Backends: 'webgpu' runs CropSampleProgram (WGSL, each invocation fills up to 8 values of one patch row); 'webgl' runs
// CropSampleGLProgram (GLSL fragment program, one fragment per output value); 'cpu' and 'wasm' run the CPU twin
// on the backend's own memory (wasm: straight on the heap). No gradient is registered: the volumes are data.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { VolumeLayout } from './packVolumes';

export const CROP_SAMPLE_KERNEL = 'VocoCropSample';

/** One crop (structurally identical to CropSpec in src/voco/cropPlan.ts). */
export interface CropSpec {
  /** Index into the packed volume list. */
  volume: number;
  /** Voxel of the volume that becomes crop voxel (0,0,0) before augmentation; may lie outside the volume. */
  origin: [number, number, number];
  flip: [boolean, boolean, boolean];
  /** Quarter turns in the x-y plane (np.rot90 convention, after the flips). */
  rot90: number;
  /** Intensity offset added to every voxel of the crop. */
  shift: number;
}

/**
 * Crop table row (int32), one per crop:
 *   0 offset  first voxel of the crop's volume in the packed buffer
 *   1 nx, 2 ny, 3 nz  the volume's dims
 *   4 bx, 5 by, 6 bz  volume voxel that output voxel (0,0,0) reads (before the bounds check)
 *   7 sxx, 8 sxy      d(source x)/dx, d(source x)/dy of the output coordinates
 *   9 syx, 10 syy     d(source y)/dx, d(source y)/dy
 *   11 szz            d(source z)/dz (±1)
 * so output voxel (x,y,z) reads V[bx + sxx*x + sxy*y, by + syx*x + syy*y, bz + szz*z] (0 outside the volume).
 * The shift of each crop travels in a separate float32 vector.
 */
export const CROP_TABLE_COLUMNS = 12;

export interface CropSampleAttrs {
  r: number;
  patch: number;
}

/** Volume voxel that output voxel (x,y,z) of the augmented crop reads: the contract's chain written out literally. */
export function cropSourceVoxel(crop: CropSpec, r: number, x: number, y: number, z: number): [number, number, number] {
  // Undo the quarter turn: C2[x,y] = C1[u,v].
  let u: number;
  let v: number;
  switch (normaliseRot90(crop.rot90)) {
    case 0: [u, v] = [x, y]; break;
    case 1: [u, v] = [y, r - 1 - x]; break;
    case 2: [u, v] = [r - 1 - x, r - 1 - y]; break;
    default: [u, v] = [r - 1 - y, x]; break;
  }
  // Undo the flips: C1[u,v,z] = C0[a,b,c].
  const a = crop.flip[0] ? r - 1 - u : u;
  const b = crop.flip[1] ? r - 1 - v : v;
  const c = crop.flip[2] ? r - 1 - z : z;
  return [crop.origin[0] + a, crop.origin[1] + b, crop.origin[2] + c];
}

function normaliseRot90(k: number): number {
  return ((k % 4) + 4) % 4;
}

/** Builds the int32 crop table (CROP_TABLE_COLUMNS per crop) and the float32 shifts; validates every crop. */
export function buildCropTable(layout: VolumeLayout[], crops: CropSpec[], r: number): { table: Int32Array; shifts: Float32Array } {
  const table = new Int32Array(crops.length * CROP_TABLE_COLUMNS);
  const shifts = new Float32Array(crops.length);
  crops.forEach((crop, i) => {
    const where = `crop ${i}`;
    if (!Number.isInteger(crop.volume) || crop.volume < 0 || crop.volume >= layout.length) {
      throw new Error(`sampleCrops: ${where} names volume ${crop.volume}, but only ${layout.length} volume(s) are packed`);
    }
    if (crop.origin?.length !== 3 || !crop.origin.every((o) => Number.isInteger(o) && Math.abs(o) < 2 ** 30)) {
      throw new Error(`sampleCrops: ${where} has origin [${crop.origin}]; expected three integers`);
    }
    if (crop.flip?.length !== 3) throw new Error(`sampleCrops: ${where} has flip [${crop.flip}]; expected three booleans`);
    if (!Number.isInteger(crop.rot90)) throw new Error(`sampleCrops: ${where} has rot90 ${crop.rot90}; expected an integer number of quarter turns`);
    if (!Number.isFinite(crop.shift)) throw new Error(`sampleCrops: ${where} has shift ${crop.shift}; expected a finite number`);
    const { offset, dims } = layout[crop.volume];
    const base = cropSourceVoxel(crop, r, 0, 0, 0);
    const stepX = cropSourceVoxel(crop, r, 1, 0, 0);
    const stepY = cropSourceVoxel(crop, r, 0, 1, 0);
    const stepZ = cropSourceVoxel(crop, r, 0, 0, 1);
    table.set(
      [offset, dims[0], dims[1], dims[2], base[0], base[1], base[2],
        stepX[0] - base[0], stepY[0] - base[0], stepX[1] - base[1], stepY[1] - base[1], stepZ[2] - base[2]],
      i * CROP_TABLE_COLUMNS,
    );
    shifts[i] = crop.shift;
  });
  return { table, shifts };
}

function checkGeometry(r: number, patch: number): number {
  if (!Number.isInteger(r) || r < 1) throw new Error(`sampleCrops: crop size r=${r} must be a positive integer`);
  if (!Number.isInteger(patch) || patch < 1 || r % patch !== 0) {
    throw new Error(`sampleCrops: patch=${patch} must be a positive integer that divides the crop size r=${r}`);
  }
  return r / patch;
}

function checkLayout(layout: VolumeLayout[], packedSize: number): void {
  layout.forEach(({ offset, dims }, i) => {
    const count = dims[0] * dims[1] * dims[2];
    if (!Number.isInteger(offset) || offset < 0 || offset + count > packedSize) {
      throw new Error(`sampleCrops: volume ${i} (offset ${offset}, dims [${dims}]) does not fit in the packed buffer of ${packedSize} voxels`);
    }
  });
}

/**
 * The CPU twin: fills `out` ([numCrops, T, p³] flat) from a packed volume buffer and a crop table.
 * Walks the output in memory order; each patch row (dx = 0..p-1) reads the volume along a fixed step.
 */
export function sampleFromTable(
  volume: Float32Array, table: Int32Array, shifts: Float32Array, r: number, patch: number,
  out: Float32Array = new Float32Array(shifts.length * r * r * r),
): Float32Array {
  const g = r / patch;
  let o = 0;
  for (let c = 0; c < shifts.length; c++) {
    const row = c * CROP_TABLE_COLUMNS;
    const offset = table[row], nx = table[row + 1], ny = table[row + 2], nz = table[row + 3];
    const bx = table[row + 4], by = table[row + 5], bz = table[row + 6];
    const sxx = table[row + 7], sxy = table[row + 8], syx = table[row + 9], syy = table[row + 10], szz = table[row + 11];
    const shift = shifts[c];
    for (let tz = 0; tz < g; tz++)
      for (let ty = 0; ty < g; ty++)
        for (let tx = 0; tx < g; tx++)
          for (let dz = 0; dz < patch; dz++) {
            const sz = bz + szz * (tz * patch + dz);
            const zInside = sz >= 0 && sz < nz;
            for (let dy = 0; dy < patch; dy++) {
              const y = ty * patch + dy;
              for (let dx = 0; dx < patch; dx++) {
                const x = tx * patch + dx;
                const sx = bx + sxx * x + sxy * y;
                const sy = by + syx * x + syy * y;
                const inside = zInside && sx >= 0 && sx < nx && sy >= 0 && sy < ny;
                out[o++] = (inside ? volume[offset + sx + nx * (sy + ny * sz)] : 0) + shift;
              }
            }
          }
  }
  return out;
}

/** Plain-TS sampler on a packed Float32Array (no tensors): returns [numCrops, T, p³] flattened. */
export function sampleCropsCPU(packed: Float32Array, layout: VolumeLayout[], crops: CropSpec[], r: number, patch: number): Float32Array {
  checkGeometry(r, patch);
  checkLayout(layout, packed.length);
  const { table, shifts } = buildCropTable(layout, crops, r);
  return sampleFromTable(packed, table, shifts, r, patch);
}

/**
 * Samples `crops` from the packed volumes resident on the current backend: returns [numCrops, T, p³] float32,
 * T = (r/patch)³. One kernel call whatever the number of crops.
 */
export function sampleCrops(packed: tf.Tensor1D, layout: VolumeLayout[], crops: CropSpec[], r: number, patch: number): tf.Tensor3D {
  const g = checkGeometry(r, patch);
  if (packed.rank !== 1 || packed.dtype !== 'float32') {
    throw new Error(`sampleCrops: the packed volumes must be a 1-D float32 tensor, got rank ${packed.rank} ${packed.dtype}`);
  }
  checkLayout(layout, packed.size);
  const { table, shifts } = buildCropTable(layout, crops, r);
  const outShape: [number, number, number] = [crops.length, g * g * g, patch * patch * patch];
  if (crops.length === 0) return tf.zeros(outShape);
  registerCropSampler();
  return tf.tidy(() => {
    const cropTable = tf.tensor2d(table, [crops.length, CROP_TABLE_COLUMNS], 'int32');
    const shift = tf.tensor1d(shifts, 'float32');
    const attrs: CropSampleAttrs = { r, patch };
    return tf.engine().runKernel(CROP_SAMPLE_KERNEL, { volume: packed, crops: cropTable, shift },
      attrs as unknown as NamedAttrMap) as tf.Tensor3D;
  });
}

interface KernelArgs<B> {
  inputs: { volume: TensorInfo; crops: TensorInfo; shift: TensorInfo };
  backend: B;
  attrs: CropSampleAttrs;
}

function outputShapeOf({ inputs, attrs }: KernelArgs<unknown>): [number, number, number] {
  const g = checkGeometry(attrs.r, attrs.patch);
  const numCrops = inputs.shift.shape[0];
  if (inputs.crops.shape[0] !== numCrops || inputs.crops.shape[1] !== CROP_TABLE_COLUMNS || inputs.crops.dtype !== 'int32') {
    throw new Error(`${CROP_SAMPLE_KERNEL}: crop table must be int32 [${numCrops}, ${CROP_TABLE_COLUMNS}], got ${inputs.crops.dtype} [${inputs.crops.shape}]`);
  }
  return [numCrops, g * g * g, attrs.patch ** 3];
}

// ---- CPU twin on the 'cpu' backend ---------------------------------------------------------------------------

function cropSampleCpu(args: KernelArgs<MathBackendCPU>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const shape = outputShapeOf(args);
  const volume = backend.data.get(inputs.volume.dataId).values as Float32Array;
  const table = backend.data.get(inputs.crops.dataId).values as Int32Array;
  const shifts = backend.data.get(inputs.shift.dataId).values as Float32Array;
  const out = sampleFromTable(volume, table, shifts, attrs.r, attrs.patch);
  return backend.makeTensorInfo(shape, 'float32', out);
}

// ---- CPU twin on the 'wasm' backend: reads and writes the wasm heap in place ----------------------------------

function cropSampleWasm(args: KernelArgs<BackendWasm>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const shape = outputShapeOf(args);
  const out = backend.makeOutput(shape, 'float32');
  // Views are taken after makeOutput: its malloc may grow the heap and detach older views.
  const volume = backend.typedArrayFromHeap(inputs.volume) as Float32Array;
  const table = backend.typedArrayFromHeap(inputs.crops) as Int32Array;
  const shifts = backend.typedArrayFromHeap(inputs.shift) as Float32Array;
  sampleFromTable(volume, table, shifts, attrs.r, attrs.patch, backend.typedArrayFromHeap(out) as Float32Array);
  return out;
}

// ---- WebGPU: WGSL program -------------------------------------------------------------------------------------

/**
 * Flat dispatch over the output; each invocation fills `perThread` consecutive values of one patch row
 * (x = tx*p + dx .. + perThread-1, same y and z), stored as vec4s when perThread is a multiple of 4. Decoding the
 * coordinates and reading the crop table once per several outputs is what makes it fast on SwiftShader.
 * tfjs folds the dispatch into 2-D/3-D when it passes 65535 workgroups.
 */
export class CropSampleProgram implements WebGPUProgram {
  variableNames = ['Volume', 'Crops', 'Shift'];
  variableComponents = [1, 1, 1];
  uniforms = 'patchSize : i32, gridSize : i32,';
  outputShape: number[];
  outputComponent: number;
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size = true;
  private perThread: number;

  /** perThread must divide p (values of one patch row per invocation). */
  constructor(outputShape: [number, number, number], patch: number, workgroupX = 64, perThread = CropSampleProgram.bestPerThread(patch)) {
    if (patch % perThread !== 0) throw new Error(`CropSampleProgram: ${perThread} values per invocation must divide p=${patch}`);
    this.outputShape = outputShape;
    this.perThread = perThread;
    this.outputComponent = perThread % 4 === 0 ? 4 : 1;
    this.workgroupSize = [workgroupX, 1, 1];
    this.dispatchLayout = { x: [0, 1, 2] };
    const total = outputShape[0] * outputShape[1] * outputShape[2];
    this.dispatch = [Math.ceil(total / perThread / workgroupX), 1, 1];
    this.shaderKey = `vocoCropSample_${workgroupX}_${perThread}`;
  }

  static bestPerThread(patch: number): number {
    return [8, 4, 2, 1].find((n) => patch % n === 0)!;
  }

  getUserCode(): string {
    const n = this.perThread;
    const width = this.outputComponent;
    const type = width === 1 ? 'f32' : 'vec4<f32>';
    const stores = Array.from({ length: n / width }, (_, s) => {
      const lanes = Array.from({ length: width }, (_, l) => `sampleAt(row, dims, src + ${s * width + l} * step, shift)`);
      return `setOutputAtIndex(index * ${n / width} + ${s}, ${type}(${lanes.join(', ')}));`;
    });
    // main(index) and setOutputAtIndex come from tfjs's shader prologue; uniforms.size counts output components
    // (numCrops*T*p³ / width) and one invocation stores n / width of them.
    return `
      fn sampleAt(row : i32, dims : vec3<i32>, src : vec3<i32>, shift : f32) -> f32 {
        var value = 0.0;
        if (all(src >= vec3<i32>(0)) && all(src < dims)) {
          value = Volume[Crops[row] + src.x + dims.x * (src.y + dims.y * src.z)];
        }
        return value + shift;
      }

      fn main(index : i32) {
        if (index * ${n / width} >= uniforms.size) { return; }
        let flat = index * ${n};
        let p = uniforms.patchSize;
        let g = uniforms.gridSize;
        let perToken = p * p * p;
        let perCrop = g * g * g * perToken;
        let c = flat / perCrop;
        let t = (flat - c * perCrop) / perToken;
        let k = flat - c * perCrop - t * perToken;
        let x = (t % g) * p + k % p;
        let y = ((t / g) % g) * p + (k / p) % p;
        let z = (t / (g * g)) * p + k / (p * p);
        let row = c * ${CROP_TABLE_COLUMNS};
        let dims = vec3<i32>(Crops[row + 1], Crops[row + 2], Crops[row + 3]);
        let src = vec3<i32>(
          Crops[row + 4] + Crops[row + 7] * x + Crops[row + 8] * y,
          Crops[row + 5] + Crops[row + 9] * x + Crops[row + 10] * y,
          Crops[row + 6] + Crops[row + 11] * z);
        // One step along output x moves the source by (d sx/dx, d sy/dx, 0).
        let step = vec3<i32>(Crops[row + 7], Crops[row + 9], 0);
        let shift = Shift[c];
        ${stores.join('\n        ')}
      }
    `;
  }
}

/** WebGPU launch shape of the sampler: invocations per workgroup and values per invocation (0 = the default). */
export interface CropSamplerVariant {
  workgroupX: number;
  perThread: number;
}
let webgpuVariant: CropSamplerVariant | null = null;

/** Chooses the WebGPU launch shape (src/backend/webgpuKernelChoice.ts measures them per device); null = default. */
export function setCropSamplerVariant(v: CropSamplerVariant | null): void {
  webgpuVariant = v;
}

export function cropSamplerVariant(): CropSamplerVariant | null {
  return webgpuVariant;
}

function cropSampleWebgpu(args: KernelArgs<WebGPUBackend>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const shape = outputShapeOf(args);
  const v = webgpuVariant;
  // A variant whose values-per-invocation does not divide this patch size falls back to the default.
  const program = v && attrs.patch % v.perThread === 0
    ? new CropSampleProgram(shape, attrs.patch, v.workgroupX, v.perThread)
    : new CropSampleProgram(shape, attrs.patch);
  // One entry per uniform field: tfjs aligns each entry by its length (a 2-long entry would be laid out as a vec2).
  const uniformData = [{ type: 'int32', data: [attrs.patch] }, { type: 'int32', data: [attrs.r / attrs.patch] }];
  return backend.runWebGPUProgram(program, [inputs.volume, inputs.crops, inputs.shift], 'float32', uniformData);
}

// ---- WebGL: GLSL program --------------------------------------------------------------------------------------

/**
 * One fragment per output value. WebGL keeps int32 tensors in float32 textures, so table entries and volume
 * indices are exact only below 2^24: the kernel refuses larger packed buffers on WebGL rather than misread them.
 */
export class CropSampleGLProgram implements GPGPUProgram {
  variableNames = ['Volume', 'Crops', 'Shift'];
  outputShape: number[];
  userCode: string;
  customUniforms = [
    { name: 'patchSize', type: 'int' as const },
    { name: 'gridSize', type: 'int' as const },
  ];

  constructor(outputShape: [number, number, number]) {
    this.outputShape = outputShape;
    this.userCode = `
      int cropInt(int c, int column) { return int(round(getCrops(c, column))); }
      void main() {
        ivec3 coords = getOutputCoords();
        int c = coords.x;
        int t = coords.y;
        int k = coords.z;
        int p = patchSize;
        int g = gridSize;
        int x = imod(t, g) * p + imod(k, p);
        int y = imod(t / g, g) * p + imod(k / p, p);
        int z = (t / (g * g)) * p + k / (p * p);
        ivec3 dims = ivec3(cropInt(c, 1), cropInt(c, 2), cropInt(c, 3));
        ivec3 src = ivec3(
          cropInt(c, 4) + cropInt(c, 7) * x + cropInt(c, 8) * y,
          cropInt(c, 5) + cropInt(c, 9) * x + cropInt(c, 10) * y,
          cropInt(c, 6) + cropInt(c, 11) * z);
        float value = 0.0;
        if (all(greaterThanEqual(src, ivec3(0))) && all(lessThan(src, dims))) {
          value = getVolume(cropInt(c, 0) + src.x + dims.x * (src.y + dims.y * src.z));
        }
        setOutput(value + getShift(c));
      }
    `;
  }
}

function cropSampleWebgl(args: KernelArgs<MathBackendWebGL>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const shape = outputShapeOf(args);
  // (Not backend.floatPrecision(): in tfjs 4.22 it reports 16 exactly when float32 rendering IS enabled.)
  if (!tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')) {
    throw new Error(`${CROP_SAMPLE_KERNEL}: this WebGL device only has 16-bit float textures; crop indices would be inexact. Use the wasm or cpu backend.`);
  }
  if (inputs.volume.shape[0] > 2 ** 24) {
    throw new Error(`${CROP_SAMPLE_KERNEL}: on WebGL the packed volumes must hold at most 2^24 voxels (float32-exact indices); got ${inputs.volume.shape[0]}. Use fewer volumes or the webgpu/wasm backend.`);
  }
  const program = new CropSampleGLProgram(shape);
  return backend.runWebGLProgram(program, [inputs.volume, inputs.crops, inputs.shift], 'float32',
    [[attrs.patch], [attrs.r / attrs.patch]]);
}

// ---- registration ---------------------------------------------------------------------------------------------

const kernelConfigs: KernelConfig[] = [
  { kernelName: CROP_SAMPLE_KERNEL, backendName: 'cpu', kernelFunc: cropSampleCpu as unknown as KernelFunc },
  { kernelName: CROP_SAMPLE_KERNEL, backendName: 'wasm', kernelFunc: cropSampleWasm as unknown as KernelFunc },
  { kernelName: CROP_SAMPLE_KERNEL, backendName: 'webgpu', kernelFunc: cropSampleWebgpu as unknown as KernelFunc },
  { kernelName: CROP_SAMPLE_KERNEL, backendName: 'webgl', kernelFunc: cropSampleWebgl as unknown as KernelFunc },
];

/** Registers the kernel for cpu, wasm, webgpu and webgl (idempotent; also runs when this module loads). */
export function registerCropSampler(): void {
  for (const config of kernelConfigs) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
}

registerCropSampler();
