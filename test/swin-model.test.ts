// The Swin backbone's plain parts (src/model/swin/): the state_dict key list against the authors' (fixture key lists
// at feature sizes 12 and 48), parameter counts of the presets, layout conversions, window plans and masks, and the
// custom-gradient gathers against tfjs autodiff on the cpu backend. Cheap: no 64³ forward (swin-parity.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { VOCO_SWIN_FIXTURE } from './helpers/paths';
import { swinStateDictSpec, internalShape, internalToTorch, torchToInternal, swinParamCount } from '../src/model/swin/stateDict';
import { clampWindow, relativePositionIndex, windowPlan } from '../src/model/swin/windows';
import { rowGather } from '../src/model/swin/rowGather';
import { buildBiasIndex, relativeBias } from '../src/model/swin/relativeBias';
import { MERGE_SLOTS, spaceToDepth2 } from '../src/model/swin/patchOps';
import { PRESETS, embedDim, paramCount, validatePreset } from '../src/model/presets';
import type { SwinConfig } from '../src/model/swin/config';

const cfg = (fs: number, head: number): SwinConfig => ({ featureSize: fs, headHidden: head, headOut: head, downsample: 'merging' });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('state_dict layout', () => {
  it('feature size 48, 1024-wide heads: exactly the keys, dtypes and shapes of the authors\' VoCo-B (voco-b-keys.json), in order', () => {
    const want = JSON.parse(readFileSync(join(VOCO_SWIN_FIXTURE, 'voco-b-keys.json'), 'utf8')) as Record<string, [string, number[]]>;
    const got = swinStateDictSpec(cfg(48, 1024));
    expect(got.map((e) => e.key)).toEqual(Object.keys(want));
    for (const e of got) expect([e.dtype, e.torchShape], e.key).toEqual(want[e.key]);
  });

  it('the fixture configuration (swin-fs12.json): the same keys and shapes at its feature size and head width', () => {
    const j = JSON.parse(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8')) as { config: { feature_size: number; head_width: number }; weights: Record<string, number[]> };
    const got = swinStateDictSpec(cfg(j.config.feature_size, j.config.head_width));
    expect(got.map((e) => e.key)).toEqual(Object.keys(j.weights));
    for (const e of got) expect(e.torchShape, e.key).toEqual(j.weights[e.key]);
  });

  it('parameter counts: VoCo-B is the authors\' 53.2 M backbone (+ two 1024-wide heads), and presets agree', () => {
    const want = JSON.parse(readFileSync(join(VOCO_SWIN_FIXTURE, 'voco-b-keys.json'), 'utf8')) as Record<string, [string, number[]]>;
    let backbone = 0;
    let heads = 0;
    for (const [k, [dtype, shape]] of Object.entries(want)) {
      if (dtype !== 'float32') continue;
      const n = shape.reduce((a, b) => a * b, 1);
      if (k.startsWith('backbone.')) backbone += n;
      else heads += n;
    }
    const b = swinParamCount(cfg(48, 1024));
    expect(b.encoder).toBe(backbone);
    expect(b.encoder + 2 * b.head).toBe(backbone + heads);
    expect(paramCount(PRESETS['VoCo-B'], 64)).toEqual(b);
    for (const [name, fs] of [['swin-tiny', 12], ['VoCo-B', 48], ['VoCo-L', 96], ['VoCo-H', 192]] as const) {
      expect(embedDim(PRESETS[name])).toBe(24 * fs);
      console.log(`[swin-model] ${name}: backbone ${paramCount(PRESETS[name], 64).encoder}, head ${paramCount(PRESETS[name], 64).head}`);
    }
  });

  it('Swin presets need r ≥ 64 and a multiple of 32', () => {
    expect(() => validatePreset(PRESETS['swin-tiny'], 32)).toThrow(/below 64/);
    expect(() => validatePreset(PRESETS['swin-tiny'], 80)).toThrow(/multiple of 32/);
    expect(() => validatePreset(PRESETS['VoCo-B'], 96)).not.toThrow();
  });

  it('PyTorch ↔ our layouts round-trip, and a Linear becomes its transpose', () => {
    for (const e of swinStateDictSpec(cfg(12, 16)).filter((x) => x.dtype === 'float32').slice(0, 40)) {
      const n = e.torchShape.reduce((a, b) => a * b, 1);
      const v = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3));
      const ours = torchToInternal(e, v);
      expect(ours.length).toBe(internalShape(e).reduce((a, b) => a * b, 1));
      expect(Array.from(internalToTorch(e, ours))).toEqual(Array.from(v));
    }
    const lin = swinStateDictSpec(cfg(12, 16)).find((e) => e.key.endsWith('attn.qkv.weight'))!; // torch [36, 12]
    const v = Float32Array.from({ length: 36 * 12 }, (_, i) => i);
    expect(torchToInternal(lin, v)[1]).toBe(12); // ours[0][1] = torch[1][0]
  });
});

describe('window plans', () => {
  it('clamps the window to a grid no longer than 7 and drops the shift there (MONAI get_window_size)', () => {
    expect(clampWindow([32, 32, 32], true)).toEqual({ window: [7, 7, 7], shift: [3, 3, 3] });
    expect(clampWindow([4, 4, 4], true)).toEqual({ window: [4, 4, 4], shift: [0, 0, 0] });
    expect(clampWindow([8, 8, 8], false)).toEqual({ window: [7, 7, 7], shift: [0, 0, 0] });
  });

  for (const [dims, shifted] of [[[16, 16, 16], false], [[16, 16, 16], true], [[8, 8, 8], true], [[4, 4, 4], true]] as const) {
    it(`grid ${dims.join('×')}${shifted ? ', shifted' : ''}: every token in exactly one window slot, padding slots read the zero row`, () => {
      const p = windowPlan(2, [...dims], shifted);
      const voxels = dims[0] * dims[1] * dims[2];
      const seen = new Int32Array(2 * voxels);
      p.src.forEach((t, i) => {
        if (t < 2 * voxels) {
          seen[t]++;
          expect(p.inv[t]).toBe(i);
        } else expect(t).toBe(2 * voxels);
      });
      expect(seen.every((c) => c === 1)).toBe(true);
      expect(p.src.length).toBe(2 * p.windows * p.tokens);
      if (p.mask) {
        const n = p.tokens;
        for (let w = 0; w < p.windows; w++) for (let a = 0; a < n; a += 17) {
          expect(p.mask[(w * n + a) * n + a]).toBe(0);
          for (let b = 0; b < n; b += 13) expect(p.mask[(w * n + a) * n + b]).toBe(p.mask[(w * n + b) * n + a]);
        }
        expect(p.mask.some((v) => v === -100)).toBe(true);
      } else expect(shifted && dims[0] > 7).toBe(false);
    });
  }

  it('relative position index: 7³ offsets into the 13³ table, the [:64, :64] corner for a clamped 4³ window', () => {
    const full = relativePositionIndex(343);
    expect(Math.min(...full)).toBe(0);
    expect(Math.max(...full)).toBe(2196);
    expect(full[0]).toBe(6 * 169 + 6 * 13 + 6);
    const small = relativePositionIndex(64);
    for (let a = 0; a < 64; a++) for (let b = 0; b < 64; b++) expect(small[a * 64 + b]).toBe(full[a * 343 + b]);
  });
});

describe('custom-gradient ops equal tfjs autodiff (cpu)', () => {
  it('rowGather: value and gradient of a padded partial permutation', () => {
    const p = windowPlan(1, [8, 8, 8], true);
    const x = tf.randomNormal([512, 5], 0, 1, 'float32', 3) as tf.Tensor2D;
    const w = tf.randomNormal([p.src.length, 5], 0, 1, 'float32', 4);
    const src = tf.tensor1d(p.src, 'int32');
    const inv = tf.tensor1d(p.inv, 'int32');
    const ours = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(rowGather(v as tf.Tensor2D, src, inv), w)))(x);
    const ref = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.gather(tf.concat([v, tf.zeros([1, 5])], 0), src), w)))(x);
    expect(tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]).toBeLessThan(1e-6);
  });

  it('relativeBias: value and table gradient (a clamped 4³ window: the 64×64 corner of the index)', () => {
    const idx = relativePositionIndex(64);
    const bi = buildBiasIndex(idx, 2197);
    const table = tf.randomNormal([2197, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const w = tf.randomNormal([3, 64 * 64], 0, 1, 'float32', 6);
    const ours = tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(relativeBias(t as tf.Tensor2D, bi), w)))(table);
    const ref = tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(tf.gather(t, tf.tensor1d(idx, 'int32'))), w)))(table);
    expect(Math.abs(ours.value.dataSync()[0] - ref.value.dataSync()[0])).toBeLessThan(1e-3);
    const scale = tf.max(tf.abs(ref.grad)).dataSync()[0];
    expect(tf.max(tf.abs(tf.sub(ours.grad, ref.grad))).dataSync()[0] / scale).toBeLessThan(1e-5);
  });

  it('spaceToDepth2 + MONAI ≤ 1.4 merge order: slot s holds the neighbour at offset MERGE_SLOTS.merging[s]', () => {
    // value = 100·d + 10·h + w on a 4³ grid, one channel
    const vals = new Float32Array(64).map((_, i) => 100 * Math.floor(i / 16) + 10 * (Math.floor(i / 4) % 4) + (i % 4));
    const out = spaceToDepth2(tf.tensor2d(vals, [64, 1]), 1, [4, 4, 4]).arraySync();
    const row = out[(1 * 2 + 0) * 2 + 1]; // block (1, 0, 1) → origin (2, 0, 2)
    for (let o = 0; o < 8; o++) expect(row[o]).toBe(100 * (2 + (o >> 2)) + 10 * ((o >> 1) & 1) + (2 + (o & 1)));
    expect([...MERGE_SLOTS.merging]).toEqual([0, 4, 2, 1, 5, 2, 1, 7]);
  });
});
