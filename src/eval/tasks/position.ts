// Position prediction on volumes that pre-training did not see: VoCo's pretext, scored. For regions planned as in
// training (no augmentation), each random crop's predicted overlaps with the region's n×n base crops are
// relu(cos(student(x), teacher(base))) — exactly the training step's intra-volume predictions — and are compared
// with the true overlap labels: argmax accuracy (is the most-overlapped base found?) and mean absolute error.
import * as tf from '@tensorflow/tfjs-core';
import { planBatch, type VolumePlan } from '../../voco/cropPlan';
import { positionLogits } from '../../voco/losses';
import { argmaxAccuracy, mae } from '../metrics';
import type { TaskVolume } from '../sampling';
import type { DownstreamTask, TaskData } from './types';

interface PositionData {
  regions: VolumePlan[];
  n: number;
  sw: number;
}

/** Regions per head batch: the projection heads normalise with batch statistics, as in a training step (B = 2). */
const REGIONS_PER_BATCH = 2;

export const positionTask: DownstreamTask<PositionData> = {
  id: 'position',

  prepare(data: TaskData, rng) {
    const { gridN: n, cropSize: r, position } = data.options;
    const unseen = data.volumes.filter((v) => !v.seenInPretraining);
    const notes: string[] = [];
    let use: TaskVolume[] = unseen;
    if (unseen.length === 0) {
      if (data.volumes.length === 0) return { ok: false, reason: 'no volumes to score on' };
      use = data.volumes;
      notes.push('every scored volume was also used for pre-training: this measures fit, not transfer (add a held-out scan)');
    } else {
      notes.push(`${unseen.length} volume(s) not used for pre-training: ${unseen.map((v) => v.name).join(', ')}`);
    }
    if (!Number.isInteger(position.regionsPerVolume) || position.regionsPerVolume < 1) {
      return { ok: false, reason: `regions per volume must be a positive integer, got ${position.regionsPerVolume}` };
    }
    const dims = data.volumes.map((v) => v.dims);
    const regions: VolumePlan[] = [];
    for (const v of use) {
      // planBatch plans two regions per call (a batch needs B ≥ 2): here both come from the same volume.
      const slot = data.volumes.indexOf(v);
      for (let k = 0; k < position.regionsPerVolume; k += 2) {
        const plan = planBatch(rng, dims, [slot, slot], { n, r, sw: position.randomCrops, augment: null });
        regions.push(...plan.volumes.slice(0, Math.min(2, position.regionsPerVolume - k)).map((p) => ({ ...p, volume: v.index })));
      }
    }
    return { ok: true, data: { regions, n, sw: position.randomCrops }, notes };
  },

  async run(d, ctx) {
    const nb = d.n * d.n;
    const preds: number[] = [];
    const truth: number[] = [];
    let scored = 0;
    for (let start = 0; start < d.regions.length; start += REGIONS_PER_BATCH) {
      ctx.checkCancelled();
      const group = d.regions.slice(start, start + REGIONS_PER_BATCH);
      const bases = group.flatMap((g) => g.bases.map((c) => ({ ...c, volume: g.volume })));
      const randoms = group.flatMap((g) => g.randoms.map((c) => ({ ...c, volume: g.volume })));
      const emb = await ctx.encoder.embed([...bases, ...randoms]);
      const dim = ctx.encoder.embedDim;
      const logits = tf.tidy(() => {
        const all = tf.tensor2d(emb, [bases.length + randoms.length, dim]);
        const model = ctx.encoder.model;
        const student = model.student(all, false);
        const teacher = model.teacher(all);
        const [, xs] = tf.split(student, [bases.length, randoms.length], 0) as tf.Tensor2D[];
        const [bt] = tf.split(teacher, [bases.length, randoms.length], 0) as tf.Tensor2D[];
        // Each region's randoms against its own bases: the diagonal blocks of the full cosine matrix.
        return positionLogits(xs, bt);
      });
      const values = (await logits.data()) as Float32Array;
      logits.dispose();
      group.forEach((g, gi) => {
        for (let s = 0; s < d.sw; s++) {
          const row = gi * d.sw + s;
          for (let b = 0; b < nb; b++) preds.push(values[row * bases.length + gi * nb + b]);
          truth.push(...g.labels[s]);
        }
      });
      scored += group.length * d.sw;
      ctx.curve('accuracy', scored, argmaxAccuracy(preds, truth, nb));
      ctx.curve('mae', scored, mae(preds, truth));
      await ctx.yield();
    }
    return {
      values: { accuracy: argmaxAccuracy(preds, truth, nb), mae: mae(preds, truth) },
      // Guessing a base at random finds the most-overlapped one with probability ≈ 1/n² (ties add a little).
      chance: { accuracy: chanceAccuracy(truth, nb) },
      n: truth.length / nb,
      notes: [`${d.regions.length} region(s) × ${d.sw} random crop(s), n = ${d.n}`],
    };
  },
};

/** Expected argmax accuracy of a uniformly random guess: mean over crops of (#maximal bases) / n². */
function chanceAccuracy(truth: number[], nb: number): number {
  let s = 0;
  const rows = truth.length / nb;
  for (let r = 0; r < rows; r++) {
    const row = truth.slice(r * nb, (r + 1) * nb);
    const m = Math.max(...row);
    s += row.filter((v) => v >= m - 1e-9).length / nb;
  }
  return rows ? s / rows : NaN;
}
