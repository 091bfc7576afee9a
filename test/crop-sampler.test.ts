// Crop sampler: voxel-by-voxel against a literal flip → np.rot90 → shift reference on cpu (tensor kernel and
// plain-TS twin), then webgpu (Dawn under Node) and wasm compared exactly against cpu.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, type NodeWebgpuResult } from './helpers/nodeWebgpu';
import type * as tfTypes from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { CropSpec } from '../src/kernels/cropSampler';

// Loaded after the WebGPU helper: navigator.gpu has to exist before tfjs-backend-webgpu is imported.
let gpu: NodeWebgpuResult;
let tf: typeof tfTypes;
let kernels: typeof import('../src/kernels/cropSampler');
let packing: typeof import('../src/kernels/packVolumes');

beforeAll(async () => {
  gpu = await initNodeWebgpu();
  tf = await import('@tensorflow/tfjs-core');
  kernels = await import('../src/kernels/cropSampler');
  packing = await import('../src/kernels/packVolumes');
  await tf.setBackend('cpu');
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

// ---- synthetic volumes: every voxel value encodes (volume, x, y, z), exactly representable in float32 ----------

type Dims = [number, number, number];
const code = (vol: number, x: number, y: number, z: number) => 1 + x + 64 * y + 4096 * z + 262144 * vol; // < 2^24

function codedVolume(vol: number, dims: Dims): { dims: Dims; data: Float32Array } {
  const data = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++) for (let y = 0; y < dims[1]; y++) for (let x = 0; x < dims[0]; x++) data[i++] = code(vol, x, y, z);
  return { dims, data };
}

// ---- reference: the contract's chain written with whole-array operations ------------------------------------------

/** A cube r×r×r stored as nested arrays a[x][y][z]. */
type Cube = number[][][];

function cutC0(vol: { dims: Dims; data: Float32Array }, origin: Dims, r: number): Cube {
  const [nx, ny, nz] = vol.dims;
  return Array.from({ length: r }, (_, x) => Array.from({ length: r }, (_, y) => Array.from({ length: r }, (_, z) => {
    const [vx, vy, vz] = [origin[0] + x, origin[1] + y, origin[2] + z];
    const inside = vx >= 0 && vx < nx && vy >= 0 && vy < ny && vz >= 0 && vz < nz;
    return inside ? vol.data[vx + nx * (vy + ny * vz)] : 0;
  })));
}

function flipAxis(a: Cube, axis: number): Cube {
  const r = a.length;
  return a.map((plane, x) => plane.map((line, y) => line.map((_, z) => {
    const s = [x, y, z];
    s[axis] = r - 1 - s[axis];
    return a[s[0]][s[1]][s[2]];
  })));
}

const swapXY = (a: Cube): Cube => a.map((plane, x) => plane.map((line, y) => line.map((_, z) => a[y][x][z])));

/** numpy's own recipe for np.rot90(m, k, axes=(0,1)). */
function rot90(a: Cube, k: number): Cube {
  switch (((k % 4) + 4) % 4) {
    case 0: return a;
    case 1: return swapXY(flipAxis(a, 1));
    case 2: return flipAxis(flipAxis(a, 0), 1);
    default: return flipAxis(swapXY(a), 1);
  }
}

function referenceCrop(vol: { dims: Dims; data: Float32Array }, crop: CropSpec, r: number): Cube {
  let c = cutC0(vol, crop.origin, r);
  crop.flip.forEach((f, axis) => { if (f) c = flipAxis(c, axis); });
  c = rot90(c, crop.rot90);
  return c.map((plane) => plane.map((line) => line.map((v) => Math.fround(v + Math.fround(crop.shift)))));
}

/** Patch tokens [T][p³] of one cube, in the contract's order. */
function tokenise(c: Cube, p: number): Float32Array {
  const r = c.length;
  const g = r / p;
  const out = new Float32Array(r * r * r);
  let o = 0;
  for (let tz = 0; tz < g; tz++) for (let ty = 0; ty < g; ty++) for (let tx = 0; tx < g; tx++)
    for (let dz = 0; dz < p; dz++) for (let dy = 0; dy < p; dy++) for (let dx = 0; dx < p; dx++)
      out[o++] = c[tx * p + dx][ty * p + dy][tz * p + dz];
  return out;
}

function referenceBatch(vols: { dims: Dims; data: Float32Array }[], crops: CropSpec[], r: number, p: number): Float32Array {
  const out = new Float32Array(crops.length * r ** 3);
  crops.forEach((crop, i) => out.set(tokenise(referenceCrop(vols[crop.volume], crop, r), p), i * r ** 3));
  return out;
}

/** First mismatching index (or -1) with a readable description, so failures say where. */
function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i]) && actual[i] !== expected[i]) return `index ${i}: got ${actual[i]}, expected ${expected[i]}`;
  }
  return null;
}

const crop = (volume: number, origin: Dims, extra: Partial<CropSpec> = {}): CropSpec => ({
  volume, origin, flip: [false, false, false], rot90: 0, shift: 0, ...extra,
});

/** Every flip combination × every quarter turn, plus shifted and out-of-bounds crops. */
function augmentationGrid(volume: number, origin: Dims): CropSpec[] {
  const list: CropSpec[] = [];
  for (let f = 0; f < 8; f++) for (let k = 0; k < 4; k++) {
    list.push(crop(volume, origin, { flip: [!!(f & 1), !!(f & 2), !!(f & 4)], rot90: k }));
  }
  return list;
}

// ---- scenarios shared by the cpu, webgpu and wasm runs -------------------------------------------------------------

interface Scenario { name: string; vols: { dims: Dims; data: Float32Array }[]; crops: CropSpec[]; r: number; p: number }

function scenarios(): Scenario[] {
  const cube = [codedVolume(0, [20, 18, 16])];
  const odd = [codedVolume(0, [13, 11, 9]), codedVolume(1, [17, 7, 15]), codedVolume(2, [9, 19, 11])];
  const grid8 = augmentationGrid(0, [3, 5, 2]);
  const edgeCases: CropSpec[] = [
    crop(0, [0, 0, 0], { shift: 0.5 }),
    crop(0, [2, 1, 3], { shift: -0.25, flip: [true, false, true], rot90: 3 }),
    crop(0, [-3, -2, -5]), // partly before the start on every axis
    crop(0, [15, 14, 12], { rot90: 1, flip: [false, true, false] }), // partly past the end
    crop(0, [-40, 0, 0], { shift: 0.125 }), // wholly outside → every value equals the shift
    crop(0, [4, 4, 4], { rot90: -1 }), // numpy accepts negative k: -1 ≡ 3
    crop(0, [4, 4, 4], { rot90: 6 }), // 6 ≡ 2
  ];
  const oddCrops: CropSpec[] = [
    crop(0, [1, 0, -1], { rot90: 1 }),
    crop(1, [3, -2, 2], { flip: [true, true, false], rot90: 2, shift: 0.75 }),
    crop(2, [-1, 4, 0], { flip: [false, false, true], rot90: 3 }),
    crop(1, [8, 0, 6], { flip: [true, false, false] }),
    crop(2, [0, 10, 2], { rot90: 1, flip: [false, true, true], shift: -1 }),
    crop(0, [6, 5, 4]),
  ];
  return [
    { name: 'r=8 p=8 (one token), all flips × rot90', vols: cube, crops: grid8, r: 8, p: 8 },
    { name: 'r=8 p=4 (r/2), all flips × rot90', vols: cube, crops: grid8, r: 8, p: 4 },
    { name: 'r=8 p=2 (r/4), all flips × rot90', vols: cube, crops: grid8, r: 8, p: 2 },
    { name: 'r=8 p=4 shift and out-of-bounds', vols: cube, crops: edgeCases, r: 8, p: 4 },
    { name: 'r=12 p=4, 3 volumes of odd dims', vols: odd, crops: oddCrops, r: 12, p: 4 },
    { name: 'r=12 p=3, 3 volumes of odd dims, all flips × rot90', vols: odd, crops: augmentationGrid(1, [2, -3, 1]), r: 12, p: 3 },
  ];
}

// ---- cpu: the reference itself, the plain-TS twin and the tensor kernel --------------------------------------------

describe('crop sampler semantics (cpu)', () => {
  it('the reference rot90 matches numpy np.rot90(m, k, axes=(0,1)) on a 3×3 example', () => {
    // m[a][b] = 3a + b; numpy's answers (printed by numpy 2.4) for k = 0..3.
    const numpy = [
      [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
      [[2, 5, 8], [1, 4, 7], [0, 3, 6]],
      [[8, 7, 6], [5, 4, 3], [2, 1, 0]],
      [[6, 3, 0], [7, 4, 1], [8, 5, 2]],
    ];
    const m: Cube = [0, 1, 2].map((a) => [0, 1, 2].map((b) => [3 * a + b]));
    for (let k = 0; k < 4; k++) expect(rot90(m, k).map((row) => row.map((v) => v[0]))).toEqual(numpy[k]);
  });

  it('pins the convention on single voxels: flips first, then the quarter turn, then the shift', () => {
    const vol = codedVolume(0, [20, 18, 16]);
    const { data, layout } = packing.packVolumes([vol]);
    const r = 4;
    const at = (c: CropSpec, x: number, y: number, z: number) => kernels.sampleCropsCPU(data, layout, [c], r, r)[x + r * (y + r * z)];
    const o: Dims = [5, 6, 7];
    // k=1: C2[x,y,z] = C1[y, r-1-x, z]; k=3: C2[x,y,z] = C1[r-1-y, x, z].
    expect(at(crop(0, o, { rot90: 1 }), 0, 0, 0)).toBe(code(0, 5 + 0, 6 + 3, 7));
    expect(at(crop(0, o, { rot90: 1 }), 1, 2, 0)).toBe(code(0, 5 + 2, 6 + 2, 7));
    expect(at(crop(0, o, { rot90: 3 }), 1, 2, 0)).toBe(code(0, 5 + 1, 6 + 1, 7));
    expect(at(crop(0, o, { rot90: 2 }), 0, 1, 2)).toBe(code(0, 5 + 3, 6 + 2, 7 + 2));
    // flip x then k=1: C2[0,0] = C1[0, 3] = C0[3, 3].
    expect(at(crop(0, o, { rot90: 1, flip: [true, false, false] }), 0, 0, 0)).toBe(code(0, 5 + 3, 6 + 3, 7));
    // flip z alone reverses depth; the shift is added afterwards, outside voxels read 0 + shift.
    expect(at(crop(0, o, { flip: [false, false, true], shift: 0.5 }), 0, 0, 0)).toBe(code(0, 5, 6, 7 + 3) + 0.5);
    expect(at(crop(0, [-1, 0, 0], { shift: 0.5 }), 0, 0, 0)).toBe(0.5);
    expect(at(crop(0, [-1, 0, 0]), 1, 0, 0)).toBe(code(0, 0, 0, 0));
  });

  it('packVolumes lays volumes end to end and rejects inconsistent input', () => {
    const a = codedVolume(0, [3, 2, 2]);
    const b = codedVolume(1, [2, 2, 1]);
    const { data, layout } = packing.packVolumes([a, b]);
    expect(layout).toEqual([{ offset: 0, dims: [3, 2, 2] }, { offset: 12, dims: [2, 2, 1] }]);
    expect(Array.from(data.subarray(12))).toEqual(Array.from(b.data));
    expect(() => packing.packVolumes([{ dims: [2, 2, 2], data: new Float32Array(7) }])).toThrow(/volume 0 holds 7 values/);
    expect(() => packing.packVolumes([{ dims: [2, 0, 2], data: new Float32Array(0) }])).toThrow(/invalid dims/);
  });

  for (const s of scenarios()) {
    it(`matches the reference voxel by voxel: ${s.name}`, () => {
      const { data, layout } = packing.packVolumes(s.vols);
      const expected = referenceBatch(s.vols, s.crops, s.r, s.p);
      expect(firstMismatch(kernels.sampleCropsCPU(data, layout, s.crops, s.r, s.p), expected)).toBeNull();
      const packed = tf.tensor1d(data);
      const out = kernels.sampleCrops(packed, layout, s.crops, s.r, s.p);
      expect(out.shape).toEqual([s.crops.length, (s.r / s.p) ** 3, s.p ** 3]);
      expect(firstMismatch(out.dataSync(), expected)).toBeNull();
      tf.dispose([packed, out]);
    });
  }

  it('a wholly outside crop is exactly its shift; no crops gives an empty batch', () => {
    const { data, layout } = packing.packVolumes([codedVolume(0, [6, 6, 6])]);
    const out = kernels.sampleCropsCPU(data, layout, [crop(0, [0, 0, 100], { shift: 0.25 })], 4, 2);
    expect(out.every((v) => v === 0.25)).toBe(true);
    const packed = tf.tensor1d(data);
    const empty = kernels.sampleCrops(packed, layout, [], 4, 2);
    expect(empty.shape).toEqual([0, 8, 8]);
    tf.dispose([packed, empty]);
  });

  it('leaves no tensors behind but its output (cpu and webgpu)', async () => {
    const { data, layout } = packing.packVolumes([codedVolume(0, [10, 9, 8])]);
    for (const backend of gpu.ok ? ['cpu', 'webgpu'] : ['cpu']) {
      await tf.setBackend(backend);
      const packed = tf.tensor1d(data);
      const before = tf.memory().numTensors;
      const out = kernels.sampleCrops(packed, layout, augmentationGrid(0, [1, 1, 1]), 4, 2);
      await out.data();
      expect(tf.memory().numTensors, backend).toBe(before + 1);
      tf.dispose([out, packed]);
    }
    await tf.setBackend('cpu');
  });

  it('rejects bad input with a message that names the problem', () => {
    const { data, layout } = packing.packVolumes([codedVolume(0, [6, 6, 6])]);
    expect(() => kernels.sampleCropsCPU(data, layout, [crop(1, [0, 0, 0])], 4, 2)).toThrow(/crop 0 names volume 1, but only 1 volume/);
    expect(() => kernels.sampleCropsCPU(data, layout, [crop(0, [0, 0, 0])], 6, 4)).toThrow(/patch=4 must .* divides the crop size r=6/);
    expect(() => kernels.sampleCropsCPU(data, layout, [crop(0, [0.5, 0, 0])], 4, 2)).toThrow(/origin/);
    expect(() => kernels.sampleCropsCPU(data, layout, [crop(0, [0, 0, 0], { rot90: 1.5 })], 4, 2)).toThrow(/rot90 1.5/);
    expect(() => kernels.sampleCropsCPU(data.subarray(0, 100), layout, [], 4, 2)).toThrow(/does not fit/);
    const packed2d = tf.tensor2d(data, [36, 6]);
    expect(() => kernels.sampleCrops(packed2d as unknown as tfTypes.Tensor1D, layout, [], 4, 2)).toThrow(/1-D float32/);
    packed2d.dispose();
  });
});

// ---- webgpu (Dawn) and wasm: exact parity with cpu -------------------------------------------------------------------

async function runOn(backend: string, s: Scenario): Promise<Float32Array> {
  await tf.setBackend(backend);
  const { data, layout } = packing.packVolumes(s.vols);
  const packed = tf.tensor1d(data);
  const out = kernels.sampleCrops(packed, layout, s.crops, s.r, s.p);
  const values = (await out.data()) as Float32Array;
  tf.dispose([packed, out]);
  return values;
}

async function cpuResult(s: Scenario): Promise<Float32Array> {
  return runOn('cpu', s);
}

describe('crop sampler on webgpu (Dawn under Node)', () => {
  it('WebGPU starts under Node', () => {
    expect(gpu.reason).toBe('');
    expect(gpu.ok).toBe(true);
  });

  /** Runs fn on webgpu inside validation + out-of-memory + internal error scopes, and with an uncapturederror listener. */
  async function withGpuErrors<T>(fn: () => Promise<T>): Promise<{ result: T; errors: string[] }> {
    await tf.setBackend('webgpu');
    const device = (tf.backend() as unknown as WebGPUBackend).device;
    const errors: string[] = [];
    const onError = (e: Event) => errors.push(`uncaptured: ${(e as GPUUncapturedErrorEvent).error.message}`);
    device.addEventListener('uncapturederror', onError);
    const scopes: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
    scopes.forEach((f) => device.pushErrorScope(f));
    try {
      const result = await fn();
      for (let i = 0; i < scopes.length; i++) {
        const err = await device.popErrorScope();
        if (err) errors.push(err.message);
      }
      return { result, errors };
    } finally {
      device.removeEventListener('uncapturederror', onError);
    }
  }

  for (const s of scenarios()) {
    it(`equals cpu exactly: ${s.name}`, async () => {
      if (!gpu.ok) throw new Error(`WebGPU unavailable: ${gpu.reason}`);
      const expected = await cpuResult(s);
      const { result, errors } = await withGpuErrors(() => runOn('webgpu', s));
      expect(errors).toEqual([]);
      expect(tf.getBackend()).toBe('webgpu');
      expect(firstMismatch(result, expected)).toBeNull();
    });
  }

  // Small workgroups push the flat dispatch past 65535 workgroups along x, so tfjs folds it into 2-D: every
  // values-per-invocation variant (scalar, vec4, two vec4) must index the output correctly there too.
  for (const [workgroupX, perThread] of [[16, 1], [2, 4], [1, 8]] as const) {
    it(`equals cpu with a folded 2-D dispatch (workgroup ${workgroupX}, ${perThread} values per invocation)`, async () => {
      if (!gpu.ok) throw new Error(`WebGPU unavailable: ${gpu.reason}`);
      const vols = [codedVolume(0, [40, 36, 30]), codedVolume(1, [31, 33, 29])];
      const crops = Array.from({ length: 36 }, (_, i) => crop(i % 2, [i - 8, 2 * i - 30, 13 - i], {
        flip: [!!(i & 1), !!(i & 2), !!(i & 4)], rot90: i % 4, shift: (i % 3) * 0.5,
      }));
      const r = 32, p = 8;
      const { data, layout } = packing.packVolumes(vols);
      const expected = kernels.sampleCropsCPU(data, layout, crops, r, p);
      const { result, errors } = await withGpuErrors(async () => {
        const backend = tf.backend() as unknown as WebGPUBackend;
        const packed = tf.tensor1d(data);
        const { table, shifts } = kernels.buildCropTable(layout, crops, r);
        const tableT = tf.tensor2d(table, [crops.length, kernels.CROP_TABLE_COLUMNS], 'int32');
        const shiftT = tf.tensor1d(shifts);
        const program = new kernels.CropSampleProgram([crops.length, (r / p) ** 3, p ** 3], p, workgroupX, perThread);
        expect(program.dispatch[0]).toBeGreaterThan(65535);
        const info = backend.runWebGPUProgram(program, [packed, tableT, shiftT], 'float32',
          [{ type: 'int32', data: [p] }, { type: 'int32', data: [r / p] }]);
        expect(program.dispatch[1]).toBeGreaterThan(1); // tfjs reshaped it
        const out = tf.engine().makeTensorFromTensorInfo(info);
        const values = (await out.data()) as Float32Array;
        tf.dispose([packed, tableT, shiftT, out]);
        return values;
      });
      expect(errors).toEqual([]);
      expect(firstMismatch(result, expected)).toBeNull();
    });
  }

  it('the GPU error watch does catch errors (so a clean run means something)', async () => {
    if (!gpu.ok) throw new Error(`WebGPU unavailable: ${gpu.reason}`);
    const { errors } = await withGpuErrors(async () => {
      const device = (tf.backend() as unknown as WebGPUBackend).device;
      device.createShaderModule({ code: 'this is not WGSL' });
    });
    expect(errors.length).toBeGreaterThan(0);
  });

  for (const p of [1, 2, 3, 4, 6, 12]) {
    it(`equals cpu for every values-per-invocation choice the kernel makes: r=12 p=${p}`, async () => {
      if (!gpu.ok) throw new Error(`WebGPU unavailable: ${gpu.reason}`);
      const s: Scenario = { name: `p=${p}`, vols: [codedVolume(0, [13, 11, 9]), codedVolume(1, [17, 7, 15])],
        crops: augmentationGrid(1, [3, -2, 1]).concat(augmentationGrid(0, [-4, 2, -3])), r: 12, p };
      const expected = await cpuResult(s);
      const { result, errors } = await withGpuErrors(() => runOn('webgpu', s));
      expect(errors).toEqual([]);
      expect(firstMismatch(result, expected)).toBeNull();
    });
  }
});

describe('crop sampler on wasm (Node)', () => {
  let wasmOk = false;
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    wasmOk = await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  });

  for (const s of scenarios()) {
    it(`equals cpu exactly: ${s.name}`, async () => {
      expect(wasmOk).toBe(true);
      const expected = await cpuResult(s);
      const result = await runOn('wasm', s);
      expect(tf.getBackend()).toBe('wasm');
      expect(firstMismatch(result, expected)).toBeNull();
    });
  }
});
