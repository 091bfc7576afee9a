import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormNoAffine, dropout1dRows } from '../src/model/heads';
import { ParamFactory } from '../src/model/init';
import { attention, createAttention, softmaxRows } from '../src/model/layers/attention';
import { createLinear, linear } from '../src/model/layers/linear';
import { colMean, colSum, rowMean, rowSum } from '../src/model/layers/reductions';
import { createLayerNorm, layerNorm } from '../src/model/layers/layerNorm';
import { gelu } from '../src/model/layers/mlp';
import { sinCos3d } from '../src/model/layers/posEmbed';
import { forwardFlops, stepFlops } from '../src/model/flops';
import { DEFAULT_PRESET, embedDim, isSwinPreset, paramCount, PRESETS, validatePreset, type EncoderPreset } from '../src/model/presets';

/** The ViT-3D presets (the Swin ones, src/model/swin/, are tested in swin-*.test.ts: they need r ≥ 64). */
const VIT_NAMES = Object.keys(PRESETS).filter((n) => !isSwinPreset(PRESETS[n]));
import { VocoModel } from '../src/model/vocoModel';
import { fromSafetensors, toSafetensors } from '../src/model/weights';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Deterministic pseudo-random tokens [n, T, p³] for a preset at crop size r. */
function tokens(preset: EncoderPreset, r: number, n: number, salt = 1): tf.Tensor3D {
  const t = (r / preset.patch) ** 3;
  const v = preset.patch ** 3;
  const data = new Float32Array(n * t * v);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + salt) * 0.8 + Math.cos(i * 0.011 * salt);
  return tf.tensor3d(data, [n, t, v]);
}

const sizeOf = (vs: { size: number }[]) => vs.reduce((a, v) => a + v.size, 0);

describe('presets', () => {
  it('are all valid and the default exists', () => {
    for (const n of VIT_NAMES) validatePreset(PRESETS[n], 32);
    for (const p of Object.values(PRESETS)) validatePreset(p, 64);
    expect(PRESETS[DEFAULT_PRESET]).toBeDefined();
    expect(Object.keys(PRESETS)).toEqual(expect.arrayContaining(['tiny', 'B', 'L', 'H']));
  });

  it('reject bad presets and crop sizes with a message naming the preset', () => {
    expect(() => validatePreset({ ...PRESETS.tiny, heads: 3 })).toThrow(/'tiny'.*divisible/);
    expect(() => validatePreset({ ...PRESETS.tiny, stageEnds: [0, 2, 1] })).toThrow(/increasing/);
    expect(() => validatePreset({ ...PRESETS.tiny, stageEnds: [0, 1] })).toThrow(/last block/);
    expect(() => validatePreset(PRESETS.B, 20)).toThrow(/multiple of the patch size 8/);
  });
});

describe('VocoModel shapes and parameter counts', () => {
  for (const name of VIT_NAMES) {
    it(`${name}: embed/student/teacher shapes at r=16, param counts match the variables`, () => {
      const preset = PRESETS[name];
      const model = VocoModel.create(preset, 16, 7);
      const n = 3;
      const [e, s, t] = tf.tidy(() => {
        const emb = model.embed(tokens(preset, 16, n));
        return [emb.shape, model.student(emb, true).shape, model.teacher(emb).shape];
      });
      expect(e).toEqual([n, embedDim(preset)]);
      expect(s).toEqual([n, preset.headOut]);
      expect(t).toEqual([n, preset.headOut]);
      const counts = paramCount(preset, 16);
      expect(sizeOf(model.trainableVariables())).toBe(counts.total);
      expect(sizeOf(model.namedWeights().map((w) => w.tensor))).toBe(counts.total + counts.head);
      expect(counts.total).toBe(counts.encoder + counts.head);
      const names = model.namedWeights().map((w) => w.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names).toContain('encoder.blocks.0.attn.qkv.weight');
      expect(names).toContain('student.6.bias');
      expect(names).toContain('teacher.0.weight');
      model.dispose();
    });
  }

  it('rejects tokens of the wrong patch size, and use after dispose', () => {
    const model = VocoModel.create(PRESETS.tiny, 16, 1);
    expect(() => tf.tidy(() => model.embed(tokens(PRESETS.B, 16, 2)))).toThrow(/patch 4 \(p³ = 64\) but tokens have 512/);
    model.dispose();
    expect(() => model.embed(tokens(PRESETS.tiny, 16, 2))).toThrow(/after dispose/);
  });

  it('embeds each crop independently of the others in the batch (attention stays within a crop)', () => {
    const preset = PRESETS.tiny;
    const model = VocoModel.create(preset, 16, 3);
    const [all, swapped] = tf.tidy(() => {
      const x = tokens(preset, 16, 3);
      const perm = tf.tensor1d([2, 0, 1], 'int32');
      return [model.embed(x).arraySync(), model.embed(tf.gather(x, perm)).arraySync()];
    });
    for (const [i, j] of [[0, 2], [1, 0], [2, 1]]) {
      swapped[i].forEach((v, k) => expect(v).toBeCloseTo(all[j][k], 5));
    }
    model.dispose();
  });
});

describe('seeded initialisation', () => {
  const weights = async (seed: number) => {
    const m = VocoModel.create(PRESETS.tiny, 16, seed);
    const w = await m.readWeights();
    m.dispose();
    return w;
  };

  it('same seed → bit-identical weights; different seed → different weights; teacher independent of student', async () => {
    const a = await weights(42);
    const b = await weights(42);
    const c = await weights(43);
    expect(a.map((w) => w.name)).toEqual(b.map((w) => w.name));
    a.forEach((w, i) => expect(Buffer.from(w.data.buffer).equals(Buffer.from(b[i].data.buffer))).toBe(true));
    const differs = a.filter((w, i) => !Buffer.from(w.data.buffer).equals(Buffer.from(c[i].data.buffer)));
    // Everything random differs; constant inits (LayerNorm γ=1, β=0, zero biases) are equal by design.
    expect(differs.map((w) => w.name)).toContain('encoder.blocks.0.attn.qkv.weight');
    expect(differs.map((w) => w.name)).toContain('student.0.weight');
    const student0 = a.find((w) => w.name === 'student.0.weight')!.data;
    const teacher0 = a.find((w) => w.name === 'teacher.0.weight')!.data;
    expect(Buffer.from(student0.buffer).equals(Buffer.from(teacher0.buffer))).toBe(false);
  });

  it('draws from the stated distributions', async () => {
    const w = await weights(5);
    const qkv = w.find((x) => x.name === 'encoder.blocks.0.attn.qkv.weight')!.data;
    const std = Math.sqrt(qkv.reduce((a, v) => a + v * v, 0) / qkv.length);
    expect(std).toBeGreaterThan(0.015); // N(0, 0.02²) truncated at ±2σ has std ≈ 0.0176
    expect(std).toBeLessThan(0.02);
    expect(Math.max(...qkv.map(Math.abs))).toBeLessThanOrEqual(0.04 + 1e-7);
    const head = w.find((x) => x.name === 'student.0.weight')!;
    const bound = 1 / Math.sqrt(head.shape[0]);
    expect(Math.max(...head.data.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...head.data.map(Math.abs))).toBeGreaterThan(0.95 * bound);
  });
});

describe('heads', () => {
  it('Dropout1d on [N, C] zeroes whole rows with p = 0.2 and scales the rest by 1/0.8', () => {
    const model = VocoModel.create(PRESETS.tiny, 16, 11);
    const rows = 2000;
    const keep = model.drawDropoutRows(rows);
    const out = tf.tidy(() => dropout1dRows(tf.ones([rows, 8]) as tf.Tensor2D, keep).arraySync());
    let dropped = 0;
    out.forEach((row, i) => {
      const first = row[0];
      expect(row.every((v) => v === first)).toBe(true); // whole row, never single entries
      expect(first === 0 ? false : true).toBe(keep[i]);
      if (first === 0) dropped++;
      else expect(first).toBeCloseTo(1.25, 6);
    });
    expect(dropped / rows).toBeGreaterThan(0.17);
    expect(dropped / rows).toBeLessThan(0.23);
    model.dispose();
  });

  it('student(training) applies the given dropout rows; eval mode does not drop', () => {
    const preset = PRESETS.tiny;
    const model = VocoModel.create(preset, 16, 2);
    tf.tidy(() => {
      const emb = model.embed(tokens(preset, 16, 4));
      const keep = [true, false, true, true];
      const viaModel = model.student(emb, true, keep);
      const viaMask = model.student(tf.mul(emb, tf.tensor2d([1.25, 0, 1.25, 1.25], [4, 1])) as tf.Tensor2D, false);
      expect(tf.max(tf.abs(tf.sub(viaModel, viaMask))).dataSync()[0]).toBeLessThan(1e-6);
      const evalOut = model.student(emb, false);
      expect(tf.max(tf.abs(tf.sub(viaModel, evalOut))).dataSync()[0]).toBeGreaterThan(1e-3);
    });
    model.dispose();
  });

  it('BatchNorm without affine standardises each feature over the batch (biased variance, eps 1e-5)', () => {
    const n = 22;
    const c = 16;
    const data = Float32Array.from({ length: n * c }, (_, i) => Math.sin(i * 1.7) * (1 + (i % c)) + (i % c) * 3);
    const out = tf.tidy(() => batchNormNoAffine(tf.tensor2d(data, [n, c])).arraySync());
    for (let j = 0; j < c; j++) {
      const col = Array.from({ length: n }, (_, i) => data[i * c + j]);
      const mean = col.reduce((a, b) => a + b, 0) / n;
      const varBiased = col.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
      const got = out.map((row) => row[j]);
      got.forEach((v, i) => expect(v).toBeCloseTo((col[i] - mean) / Math.sqrt(varBiased + 1e-5), 4));
      const gm = got.reduce((a, b) => a + b, 0) / n;
      const gv = got.reduce((a, b) => a + (b - gm) ** 2, 0) / n;
      expect(Math.abs(gm)).toBeLessThan(1e-5);
      expect(gv).toBeCloseTo(varBiased / (varBiased + 1e-5), 4);
    }
    // A constant feature has zero variance: the output is 0, not NaN (eps).
    const flat = tf.tidy(() => batchNormNoAffine(tf.fill([4, 2], 3) as tf.Tensor2D).arraySync());
    expect(flat.flat().every((v) => v === 0)).toBe(true);
    expect(() => tf.tidy(() => batchNormNoAffine(tf.ones([1, 4]) as tf.Tensor2D))).toThrow(/at least 2 rows/);
  });

  it('the teacher passes no gradient back into the encoder; the student does', () => {
    const preset = PRESETS.tiny;
    const model = VocoModel.create(preset, 16, 9);
    const x = tokens(preset, 16, 3);
    const enc = model.trainableVariables().slice(0, 4);
    const viaTeacher = tf.variableGrads(() => tf.sum(model.teacher(model.embed(x))) as tf.Scalar, enc);
    Object.values(viaTeacher.grads).forEach((g) => expect(tf.max(tf.abs(g)).dataSync()[0]).toBe(0));
    const viaStudent = tf.variableGrads(() => tf.sum(tf.square(model.student(model.embed(x), false))) as tf.Scalar, enc);
    expect(Math.max(...Object.values(viaStudent.grads).map((g) => tf.max(tf.abs(g)).dataSync()[0]))).toBeGreaterThan(0);
    tf.dispose([viaTeacher.value, viaStudent.value, ...Object.values(viaTeacher.grads), ...Object.values(viaStudent.grads), x]);
    model.dispose();
  });

  it('EMA moves the teacher toward the student: t ← 0.9·t + 0.1·s', async () => {
    const model = VocoModel.create(PRESETS.tiny, 16, 4);
    const before = await model.readWeights();
    model.emaUpdate(0.9);
    const after = await model.readWeights();
    const get = (ws: typeof before, n: string) => ws.find((w) => w.name === n)!.data;
    for (const layer of ['0', '3', '6'])
      for (const kind of ['weight', 'bias']) {
        const s = get(before, `student.${layer}.${kind}`);
        const t0 = get(before, `teacher.${layer}.${kind}`);
        const t1 = get(after, `teacher.${layer}.${kind}`);
        let d0 = 0;
        let d1 = 0;
        t1.forEach((v, i) => {
          expect(v).toBeCloseTo(0.9 * t0[i] + 0.1 * s[i], 6);
          d0 += (t0[i] - s[i]) ** 2;
          d1 += (v - s[i]) ** 2;
        });
        expect(Math.sqrt(d1)).toBeCloseTo(0.9 * Math.sqrt(d0), 4);
        expect(get(after, `student.${layer}.${kind}`)).toEqual(s); // the student is untouched
      }
    expect(() => model.emaUpdate(1.5)).toThrow(/momentum/);
    model.dispose();
  });
});

describe('layers', () => {
  it('LayerNorm: values and hand-written gradient match autodiff of the plain formula', () => {
    const f = new ParamFactory(1, 'ln.', true);
    const p = createLayerNorm(f, 'n', 6);
    tf.tidy(() => {
      p.weight.assign(tf.tensor1d([1, 2, 0.5, -1, 3, 0.1]));
      p.bias.assign(tf.tensor1d([0, 1, -1, 0.5, 0, 2]));
      const x = tf.tensor2d(Array.from({ length: 30 }, (_, i) => Math.sin(i * 0.9) * 3 + i * 0.1), [5, 6]);
      const w = tf.tensor2d(Array.from({ length: 30 }, (_, i) => Math.cos(i * 1.3)), [5, 6]); // arbitrary upstream
      const reference = (xx: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, -1, true);
        return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
      };
      const ours = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(layerNorm(xx as tf.Tensor2D, { weight: g as tf.Variable, bias: b as tf.Variable }), w)),
      )([x, p.weight, p.bias]);
      const ref = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(xx as tf.Tensor2D, g, b), w)))([
        x,
        p.weight,
        p.bias,
      ]);
      expect(tf.max(tf.abs(tf.sub(layerNorm(x, p), reference(x, p.weight, p.bias)))).dataSync()[0]).toBeLessThan(1e-5);
      ours.forEach((g, i) => expect(tf.max(tf.abs(tf.sub(g, ref[i]))).dataSync()[0]).toBeLessThan(1e-4));
    });
    f.created.forEach((c) => c.variable.dispose());
  });

  it('GELU is the tanh-form GELU (torch approximate="tanh"), close to the erf form, with the right gradient', () => {
    tf.tidy(() => {
      const xs = [-3, -1, -0.2, 0, 0.5, 1, 2.5, 8, -8];
      const x = tf.tensor1d(xs);
      const tanhForm = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      // x·Φ(x) from Python math.erf (what torch.nn.GELU() computes)
      const erfForm = [-0.0040497, -0.1586553, -0.0841481, 0, 0.3457312, 0.8413447, 2.4844758, 8, -0];
      Array.from(gelu(x).dataSync()).forEach((v, i) => {
        expect(v).toBeCloseTo(tanhForm(xs[i]), 6);
        expect(Math.abs(v - erfForm[i])).toBeLessThan(1e-3);
      });
      const ours = tf.grad((z: tf.Tensor) => tf.sum(gelu(z)))(x);
      const ref = tf.grad((z: tf.Tensor) =>
        tf.sum(tf.mul(tf.mul(0.5, z), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3)))))))),
      )(x);
      expect(tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]).toBeLessThan(1e-5);
    });
  });

  it('attention matches a naive per-crop, per-head loop', () => {
    const n = 2;
    const t = 3;
    const d = 4;
    const heads = 2;
    const f = new ParamFactory(3, 'a.', true);
    const p = createAttention(f, 'attn', d);
    tf.tidy(() => {
      // Non-zero biases so their placement is checked too.
      p.qkv.bias.assign(tf.tensor1d(Array.from({ length: 3 * d }, (_, i) => 0.05 * i - 0.2)));
      p.proj.bias.assign(tf.tensor1d([0.1, -0.1, 0.2, 0]));
      p.qkv.weight.assign(tf.mul(p.qkv.weight, 40));
      const xData = Array.from({ length: n * t * d }, (_, i) => Math.sin(i * 0.7));
      const got = attention(tf.tensor2d(xData, [n * t, d]), p, n, t, heads).arraySync();
      const W = p.qkv.weight.arraySync() as number[][];
      const b = p.qkv.bias.arraySync() as number[];
      const P = p.proj.weight.arraySync() as number[][];
      const pb = p.proj.bias.arraySync() as number[];
      const dh = d / heads;
      for (let c = 0; c < n; c++) {
        const rows = Array.from({ length: t }, (_, i) => xData.slice((c * t + i) * d, (c * t + i + 1) * d));
        const qkv = rows.map((r) => Array.from({ length: 3 * d }, (_, o) => b[o] + r.reduce((a, v, k) => a + v * W[k][o], 0)));
        const ctx = rows.map(() => new Array(d).fill(0));
        for (let h = 0; h < heads; h++)
          for (let i = 0; i < t; i++) {
            const s = Array.from({ length: t }, (_, j) => {
              let dot = 0;
              for (let e = 0; e < dh; e++) dot += qkv[i][h * dh + e] * qkv[j][d + h * dh + e];
              return dot / Math.sqrt(dh);
            });
            const m = Math.max(...s);
            const ex = s.map((v) => Math.exp(v - m));
            const z = ex.reduce((a, v) => a + v, 0);
            for (let e = 0; e < dh; e++) ctx[i][h * dh + e] = ex.reduce((a, w, j) => a + (w / z) * qkv[j][2 * d + h * dh + e], 0);
          }
        ctx.forEach((r, i) => {
          const out = Array.from({ length: d }, (_, o) => pb[o] + r.reduce((a, v, k) => a + v * P[k][o], 0));
          out.forEach((v, o) => expect(got[c * t + i][o]).toBeCloseTo(v, 5));
        });
      }
    });
    f.created.forEach((c) => c.variable.dispose());
  });

  it('reductions as matmuls equal tf.sum / tf.mean', () => {
    tf.tidy(() => {
      const x = tf.tensor2d(Array.from({ length: 35 }, (_, i) => Math.sin(i) * 3), [5, 7]);
      const close = (a: tf.Tensor, b: tf.Tensor) => expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      close(rowSum(x), tf.sum(x, 1, true));
      close(rowMean(x), tf.mean(x, 1, true));
      close(colSum(x), tf.sum(x, 0));
      close(colMean(x), tf.mean(x, 0, true));
    });
  });

  it('linear: hand-written gradients (input, weight, bias) match autodiff; inputGradient false gives zeros', () => {
    const f = new ParamFactory(2, 'l.', true);
    const p = createLinear(f, 'fc', 6, 5, { weight: { kind: 'uniform', bound: 1 }, bias: { kind: 'uniform', bound: 1 } });
    tf.tidy(() => {
      const x = tf.tensor2d(Array.from({ length: 24 }, (_, i) => Math.cos(i * 0.7)), [4, 6]);
      const w = tf.tensor2d(Array.from({ length: 20 }, (_, i) => Math.sin(i * 1.1)), [4, 5]);
      const ours = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(linear(xx as tf.Tensor2D, { weight: ww as tf.Variable, bias: bb as tf.Variable }), w)),
      )([x, p.weight, p.bias]);
      const ref = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D), bb), w)))([
        x,
        p.weight,
        p.bias,
      ]);
      ours.forEach((g, i) => expect(tf.max(tf.abs(tf.sub(g, ref[i]))).dataSync()[0]).toBeLessThan(1e-5));
      const dxOff = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(linear(xx as tf.Tensor2D, p, { inputGradient: false }), w)))(x);
      expect(tf.max(tf.abs(dxOff)).dataSync()[0]).toBe(0);
    });
    f.created.forEach((c) => c.variable.dispose());
  });

  it('softmaxRows equals tf.softmax in value and gradient, and stays finite on huge scores', () => {
    tf.tidy(() => {
      const x = tf.tensor3d(Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.sin(i * 0.77) * 6 + (i % 5) * 3), [2, 3, 5]);
      const w = tf.tensor3d(Array.from({ length: 30 }, (_, i) => Math.cos(i * 0.31)), [2, 3, 5]);
      expect(tf.max(tf.abs(tf.sub(softmaxRows(x), tf.softmax(x)))).dataSync()[0]).toBeLessThan(1e-6);
      const ours = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(softmaxRows(z as tf.Tensor3D), w)))(x);
      const ref = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.softmax(z), w)))(x);
      expect(tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]).toBeLessThan(1e-6);
      // A row that exceeds its mean by far more than the clamp: finite, sums to 1, peaked where tf.softmax is.
      const huge = tf.tensor3d([[[0, 500, 0, -400, 1]]]);
      const y = Array.from(softmaxRows(huge).dataSync());
      expect(y.every(Number.isFinite)).toBe(true);
      expect(y.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
      expect(y[1]).toBeCloseTo(1, 6);
    });
  });

  it('BatchNorm gradient (hand-written) matches autodiff of the plain formula', () => {
    tf.tidy(() => {
      const x = tf.tensor2d(Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 4))), [6, 4]);
      const w = tf.tensor2d(Array.from({ length: 24 }, (_, i) => Math.cos(i * 0.5)), [6, 4]);
      const ours = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(batchNormNoAffine(z as tf.Tensor2D), w)))(x);
      const ref = tf.grad((z: tf.Tensor) => {
        const { mean, variance } = tf.moments(z, 0, true);
        return tf.sum(tf.mul(tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, 1e-5))), w));
      })(x);
      expect(tf.max(tf.abs(tf.sub(ours, ref))).dataSync()[0]).toBeLessThan(1e-5);
    });
  });

  it('3-D sin-cos positions: distinct per token, x fastest, zero padding channels', () => {
    const g = 3;
    const dim = 32; // 3 axes × 10 channels + 2 zero channels
    const table = sinCos3d(g, dim);
    const row = (t: number) => Array.from(table.subarray(t * dim, (t + 1) * dim));
    expect(row(0).slice(0, 10)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(row(1)[0]).toBeCloseTo(Math.sin(1), 6); // t=1 is tx=1
    expect(row(1)[10]).toBe(0); // ty = 0
    expect(row(g)[10]).toBeCloseTo(Math.sin(1), 6); // t=g is ty=1
    expect(row(g * g)[20]).toBeCloseTo(Math.sin(1), 6); // t=g² is tz=1
    expect(row(5).slice(30)).toEqual([0, 0]);
    const keys = new Set(Array.from({ length: g ** 3 }, (_, t) => row(t).map((v) => v.toFixed(5)).join()));
    expect(keys.size).toBe(g ** 3);
  });
});

describe('flops', () => {
  it('counts matmuls of the tiny preset by hand', () => {
    const p = PRESETS.tiny; // patch 4, dim 32, depth 2, mlp 64, head 96→64→64→64
    const t = 64; // r=16
    const f = forwardFlops(p, 16);
    expect(f.patchEmbed).toBe(2 * t * 64 * 32);
    const block = 2 * t * 32 * 96 + 2 * t * 32 * t * 2 + 2 * t * 32 * 32 + 2 * (2 * t * 32 * 64);
    expect(f.blocks).toBe(2 * block);
    expect(f.head).toBe(2 * (96 * 64 + 64 * 64 + 64 * 64));
    expect(stepFlops(p, 16, 22)).toBe(22 * (2 * f.patchEmbed + 3 * f.blocks + 4 * f.head));
  });
});

describe('safetensors', () => {
  it('round-trips every weight bit-exactly with metadata, and loads into a fresh model', async () => {
    const a = VocoModel.create(PRESETS.tiny, 16, 21);
    const weights = await a.readWeights();
    weights[0].data[0] = NaN; // odd values survive too
    weights[0].data[1] = -0;
    const bytes = toSafetensors(weights, { preset: JSON.stringify(PRESETS.tiny), format: 'voco-studio' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    expect(header['encoder.patch_embed.weight']).toEqual({ dtype: 'F32', shape: [64, 32], data_offsets: [0, 64 * 32 * 4] });
    const back = fromSafetensors(bytes);
    expect(back.metadata).toEqual({ preset: JSON.stringify(PRESETS.tiny), format: 'voco-studio' });
    expect(back.tensors.map((t) => t.name)).toEqual(weights.map((w) => w.name));
    back.tensors.forEach((t, i) => {
      expect(t.shape).toEqual(weights[i].shape);
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(weights[i].data.buffer))).toBe(true);
    });
    const b = VocoModel.create(PRESETS.tiny, 16, 99);
    const clean = await a.readWeights();
    b.loadWeights(fromSafetensors(toSafetensors(clean)).tensors);
    const loaded = await b.readWeights();
    loaded.forEach((w, i) => expect(Buffer.from(w.data.buffer).equals(Buffer.from(clean[i].data.buffer))).toBe(true));
    a.dispose();
    b.dispose();
  });

  it('rejects corrupt files and mismatched weights with clear messages', async () => {
    const m = VocoModel.create(PRESETS.tiny, 16, 1);
    const w = await m.readWeights();
    const bytes = toSafetensors(w);
    expect(() => fromSafetensors(bytes.subarray(0, 5), 'ckpt.safetensors')).toThrow(/ckpt.safetensors: too short/);
    expect(() => fromSafetensors(bytes.subarray(0, bytes.length - 4))).toThrow(/data_offsets|trailing/);
    const garbled = bytes.slice();
    garbled[9] = 0x7b; // '{' inside the JSON
    garbled[10] = 0x7b;
    expect(() => fromSafetensors(garbled)).toThrow(/not valid UTF-8 JSON/);
    expect(() => m.loadWeights(w.slice(1))).toThrow(/missing 'encoder.patch_embed.weight'/);
    expect(() => m.loadWeights([...w, { name: 'x', shape: [1], data: new Float32Array(1) }])).toThrow(/unexpected 'x'/);
    expect(() => m.loadWeights(w.map((x, i) => (i === 0 ? { ...x, shape: [32, 64] } : x)))).toThrow(/has shape \[32,64\]/);
    m.dispose();
  });

  it('reads F16 and BF16 tensors', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } });
    const hb = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + hb.length + 6);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, BigInt(hb.length), true);
    bytes.set(hb, 8);
    view.setUint16(8 + hb.length, 0x3c00, true); // 1.0
    view.setUint16(8 + hb.length + 2, 0xc000, true); // -2.0
    view.setUint16(8 + hb.length + 4, 0x4049, true); // bf16 ≈ 3.140625
    const { tensors } = fromSafetensors(bytes);
    expect(Array.from(tensors[0].data)).toEqual([1, -2]);
    expect(tensors[1].data[0]).toBeCloseTo(3.140625, 6);
  });
});

describe('memory', () => {
  it('embed/student/teacher leak no tensors under tf.tidy, nor a gradient step', () => {
    const preset = PRESETS.tiny;
    const model = VocoModel.create(preset, 16, 8);
    const x = tokens(preset, 16, 4);
    // Warm-up: the position table is created once and cached on the model.
    tf.tidy(() => model.embed(x));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const emb = model.embed(x);
      model.student(emb, true);
      model.teacher(emb);
    });
    expect(tf.memory().numTensors).toBe(before);
    const { value, grads } = tf.variableGrads(() => {
      const emb = model.embed(x);
      return tf.add(tf.sum(model.student(emb, true)), tf.sum(model.teacher(emb))) as tf.Scalar;
    }, model.trainableVariables());
    expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});
