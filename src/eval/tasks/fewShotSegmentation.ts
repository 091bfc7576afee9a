// Few-shot organ segmentation: a light head on the encoder's per-token features (every stage tap, layer-normed,
// the same features the GAP embedding averages) predicts each token's class mix; trained on K labelled crops with
// soft cross-entropy against the patch's class fractions; at test time the token scores are interpolated
// trilinearly to every voxel and the argmax is compared with the voxel labels: Dice per structure (pooled over all
// test crops) and the mean over structures. The encoder is frozen, or fine-tuned with the head (lr/10).
import * as tf from '@tensorflow/tfjs-core';
import { DiceCounts, meanFinite } from '../metrics';
import { cropClasses, patchClassFractions, plainCropAt, shuffle, upsampleTokenScores, type StructureCrop } from '../sampling';
import { encoderBatch } from '../taskEncoder';
import type { Rng } from '../../voco/rng';
import { labelledSplit } from './structureCrops';
import { structureName, type DownstreamTask, type TaskRunContext } from './types';

interface SegCrop extends StructureCrop {
  /** Class of each voxel (r³, x fastest): 0 background, k+1 for structures[k]. */
  classes: Uint8Array;
}

interface SegData {
  structures: number[];
  names: string[];
  train: SegCrop[];
  test: SegCrop[];
  r: number;
  iterations: number;
  fineTune: boolean;
  lr: number;
  hidden: number;
}

export const fewShotSegmentationTask: DownstreamTask<SegData> = {
  id: 'few-shot-seg',

  mutatesEncoder: (d) => d.fineTune,

  prepare(data, rng) {
    const o = data.options;
    const s = o.segmentation;
    if (!Number.isInteger(s.shots) || s.shots < 1) return { ok: false, reason: `K (shots) must be a positive integer, got ${s.shots}` };
    if (!Number.isInteger(s.testCrops) || s.testCrops < 1) return { ok: false, reason: `test crops must be a positive integer, got ${s.testCrops}` };
    const split = labelledSplit(data, rng, o.cropsPerStructure);
    if ('reason' in split) return { ok: false, reason: split.reason };
    const train = roundRobin(rng, split.train, s.shots);
    const test = roundRobin(rng, split.test, s.testCrops);
    if (train.length === 0 || test.length === 0) return { ok: false, reason: `too few crops for ${s.shots} shots and a test set (${split.train.length} training, ${split.test.length} test crops)` };
    const classOf = new Map(split.structures.map((id, k) => [id, k + 1]));
    const byIndex = new Map(data.volumes.map((v) => [v.index, v]));
    const withClasses = (c: StructureCrop): SegCrop => {
      const v = byIndex.get(c.volume)!;
      return { ...c, classes: cropClasses(v.labels!, v.dims, c.origin, o.cropSize, classOf) };
    };
    return {
      ok: true,
      data: {
        structures: split.structures,
        names: split.structures.map((id) => structureName(data.labelNames, id)),
        train: train.map(withClasses),
        test: test.map(withClasses),
        r: o.cropSize,
        iterations: s.iterations,
        fineTune: s.fineTune,
        lr: s.lr,
        hidden: s.hidden,
      },
      notes: [split.how, `K = ${train.length} training crops, ${test.length} test crops, ${split.structures.length} structures + background`],
    };
  },

  async run(d, ctx) {
    const enc = ctx.encoder;
    const p = enc.patch;
    const g = d.r / p;
    const T = g ** 3;
    const F = enc.embedDim;
    const C = d.structures.length + 1;
    const trainCrops = d.train.map((c) => plainCropAt(c.volume, c.origin));
    const testCrops = d.test.map((c) => plainCropAt(c.volume, c.origin));
    const targets = new Float32Array(d.train.length * T * C);
    d.train.forEach((c, i) => targets.set(patchClassFractions(c.classes, d.r, p, C), i * T * C));

    const head = createHead(ctx.rng, F, d.hidden, C);
    const headVars = head.vars;
    const encoderVars = d.fineTune ? enc.encoderVariables() : [];
    const headOpt = tf.train.adam(d.lr);
    const encOpt = d.fineTune ? tf.train.adam(d.lr / 10) : null;
    const target = tf.tensor2d(targets, [d.train.length * T, C]);
    // Frozen encoder: the token features never change, compute them once.
    const frozenTrain = d.fineTune ? null : tf.tidy(() => tf.reshape(enc.tokenFeatures(trainCrops), [-1, F]) as tf.Tensor2D);
    const frozenTest = d.fineTune ? null : await testFeatures(enc, testCrops, F);
    const evalEvery = Math.max(1, Math.round(d.iterations / 12));
    let finalDice: Map<number, number> | null = null;
    try {
      for (let it = 1; it <= d.iterations; it++) {
        ctx.checkCancelled();
        // variableGrads keeps the intermediates the backward pass needs and disposes them afterwards.
        const lossFn = () => {
          const feats = frozenTrain ?? (tf.reshape(enc.tokenFeatures(trainCrops), [-1, F]) as tf.Tensor2D);
          const logits = head.forward(feats);
          return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
        };
        const { value, grads } = tf.variableGrads(lossFn, [...headVars, ...encoderVars]);
        const loss = (await value.data())[0];
        value.dispose();
        headOpt.applyGradients(headVars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
        if (encOpt) encOpt.applyGradients(encoderVars.filter((v) => grads[v.name]).map((v) => ({ name: v.name, tensor: grads[v.name] })));
        tf.dispose(Object.values(grads));
        if (!Number.isFinite(loss)) throw new Error(`few-shot segmentation: the training loss became ${loss} at iteration ${it}`);
        ctx.curve('train loss', it, loss);
        if (it % evalEvery === 0 || it === d.iterations) {
          const dice = await evaluate(d, ctx, head, frozenTest, testCrops, F, C, T);
          ctx.curve('test mean Dice', it, meanFinite(dice.values()));
          if (it === d.iterations) finalDice = dice;
        }
        await ctx.yield();
      }
    } finally {
      tf.dispose([target, ...headVars]);
      frozenTrain?.dispose();
      frozenTest?.dispose();
      headOpt.dispose();
      encOpt?.dispose();
    }
    const dice = finalDice!;
    const perStructure: Record<string, number> = {};
    d.structures.forEach((_, k) => {
      const v = dice.get(k + 1)!;
      if (Number.isFinite(v)) perStructure[d.names[k]] = v;
    });
    return {
      values: { meanDice: meanFinite(dice.values()) },
      perStructure,
      perStructureMetric: 'meanDice',
      n: d.test.length,
      notes: [
        `head: per-token ${d.hidden > 0 ? `MLP ${F}→${d.hidden}→${C}` : `linear ${F}→${C}`}, Adam lr ${d.lr}, ${d.iterations} iterations, ` +
          `encoder ${d.fineTune ? 'fine-tuned (lr/10)' : 'frozen'}; token scores at ${p}³-voxel patches, interpolated to voxels`,
      ],
    };
  },
};

interface Head {
  vars: tf.Variable[];
  forward(x: tf.Tensor2D): tf.Tensor2D;
}

let headCounter = 0;

/** A per-token head: Linear(F, C), or Linear(F, h) → ReLU → Linear(h, C); Glorot-uniform weights from the task's Rng. */
function createHead(rng: Rng, F: number, hidden: number, C: number): Head {
  const id = `benchmark.seghead.${headCounter++}`;
  const glorot = (fanIn: number, fanOut: number, name: string) => {
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    const w = Float32Array.from({ length: fanIn * fanOut }, () => rng.uniform(-bound, bound));
    // tidy frees the initial value; the variable keeps its own reference to the data.
    return tf.tidy(() => tf.variable(tf.tensor2d(w, [fanIn, fanOut]), true, `${id}.${name}`));
  };
  const zeros = (n: number, name: string) => tf.tidy(() => tf.variable(tf.zeros([n]), true, `${id}.${name}`));
  if (hidden > 0) {
    const w1 = glorot(F, hidden, 'w1');
    const b1 = zeros(hidden, 'b1');
    const w2 = glorot(hidden, C, 'w2');
    const b2 = zeros(C, 'b2');
    return { vars: [w1, b1, w2, b2], forward: (x) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2) };
  }
  const w = glorot(F, C, 'w');
  const b = zeros(C, 'b');
  return { vars: [w, b], forward: (x) => tf.add(tf.matMul(x, w), b) };
}

async function testFeatures(enc: TaskRunContext['encoder'], crops: ReturnType<typeof plainCropAt>[], F: number): Promise<tf.Tensor2D> {
  const parts: tf.Tensor2D[] = [];
  const batch = encoderBatch(enc.cropSize);
  for (let s = 0; s < crops.length; s += batch) parts.push(tf.tidy(() => tf.reshape(enc.tokenFeatures(crops.slice(s, s + batch)), [-1, F]) as tf.Tensor2D));
  const all = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  if (parts.length > 1) tf.dispose(parts);
  return all;
}

/** Dice per class (1..C−1) of the head's voxel predictions on the test crops, pooled over the crops. */
async function evaluate(d: SegData, ctx: TaskRunContext, head: Head, frozen: tf.Tensor2D | null, crops: ReturnType<typeof plainCropAt>[], F: number, C: number, T: number): Promise<Map<number, number>> {
  const feats = frozen ?? (await testFeatures(ctx.encoder, crops, F));
  const probs = tf.tidy(() => tf.softmax(head.forward(feats)));
  if (!frozen) feats.dispose();
  const values = (await probs.data()) as Float32Array;
  probs.dispose();
  const counts = new DiceCounts(Array.from({ length: C - 1 }, (_, k) => k + 1));
  d.test.forEach((c, i) => {
    const pred = upsampleTokenScores(values.subarray(i * T * C, (i + 1) * T * C), d.r, ctx.encoder.patch, C);
    counts.add(pred, c.classes);
  });
  return counts.scores();
}

/** Up to `count` items, taking structures in turn (a shuffled pick within each), so every structure gets shots. */
function roundRobin(rng: Rng, items: StructureCrop[], count: number): StructureCrop[] {
  const byLabel = new Map<number, StructureCrop[]>();
  for (const c of items) byLabel.set(c.label, [...(byLabel.get(c.label) ?? []), c]);
  const queues = [...byLabel.keys()].sort((a, b) => a - b).map((k) => shuffle(rng, byLabel.get(k)!.length).map((i) => byLabel.get(k)![i]));
  const out: StructureCrop[] = [];
  for (let round = 0; out.length < count; round++) {
    let took = false;
    for (const q of queues) {
      if (round < q.length && out.length < count) {
        out.push(q[round]);
        took = true;
      }
    }
    if (!took) break;
  }
  return out;
}
