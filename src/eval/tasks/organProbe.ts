// Organ classification by linear probe: crops centred inside labelled structures, frozen GAP features, a
// softmax-regression head (src/eval/logistic.ts), accuracy and macro-F1 on held-out crops.
import { accuracy, f1PerClass, macroF1 } from '../metrics';
import { fitSoftmaxRegression, predictClasses } from '../logistic';
import { plainCropAt, type StructureCrop } from '../sampling';
import { labelledSplit } from './structureCrops';
import { structureName, type DownstreamTask } from './types';

interface ProbeData {
  structures: number[];
  names: string[];
  train: StructureCrop[];
  test: StructureCrop[];
  iterations: number;
  l2: number;
}

export const organProbeTask: DownstreamTask<ProbeData> = {
  id: 'organ-probe',

  prepare(data, rng) {
    const o = data.options;
    const split = labelledSplit(data, rng, o.cropsPerStructure);
    if ('reason' in split) return { ok: false, reason: split.reason };
    if (split.test.length === 0 || split.train.length === 0) return { ok: false, reason: `too few crops to split (${split.train.length} training, ${split.test.length} test)` };
    const trainClasses = new Set(split.train.map((c) => c.label));
    if (trainClasses.size < 2) return { ok: false, reason: 'the training split holds fewer than 2 structures' };
    return {
      ok: true,
      data: {
        structures: split.structures,
        names: split.structures.map((id) => structureName(data.labelNames, id)),
        train: split.train,
        test: split.test,
        iterations: o.probe.iterations,
        l2: o.probe.l2,
      },
      notes: [split.how, `${split.structures.length} structures, ${split.train.length} training and ${split.test.length} test crops`],
    };
  },

  async run(d, ctx) {
    const classOf = new Map(d.structures.map((id, k) => [id, k]));
    const toCrops = (cs: StructureCrop[]) => cs.map((c) => plainCropAt(c.volume, c.origin));
    const xTrain = await ctx.encoder.embed(toCrops(d.train));
    ctx.checkCancelled();
    const xTest = await ctx.encoder.embed(toCrops(d.test));
    const yTrain = d.train.map((c) => classOf.get(c.label)!);
    const yTest = d.test.map((c) => classOf.get(c.label)!);
    const dim = ctx.encoder.embedDim;
    const model = fitSoftmaxRegression(xTrain, dim, yTrain, d.structures.length, {
      iterations: d.iterations,
      l2: d.l2,
      reportEvery: Math.max(1, Math.round(d.iterations / 20)),
      onIteration: (it, loss, m) => {
        const pred = predictClasses(m, xTest);
        ctx.curve('test macro-F1', it, macroF1(pred, yTest));
        ctx.curve('test accuracy', it, accuracy(pred, yTest));
        ctx.curve('train loss', it, loss);
      },
    });
    const pred = predictClasses(model, xTest);
    const perClass = f1PerClass(pred, yTest);
    const perStructure: Record<string, number> = {};
    d.structures.forEach((_, k) => {
      if (perClass.has(k)) perStructure[d.names[k]] = perClass.get(k)!;
    });
    // Chance: always answering the most frequent test structure.
    const counts = new Map<number, number>();
    for (const y of yTest) counts.set(y, (counts.get(y) ?? 0) + 1);
    const majority = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    const constant = yTest.map(() => majority);
    return {
      values: { accuracy: accuracy(pred, yTest), macroF1: macroF1(pred, yTest) },
      chance: { accuracy: accuracy(constant, yTest), macroF1: macroF1(constant, yTest) },
      perStructure,
      perStructureMetric: 'macroF1',
      n: d.test.length,
      notes: [`head: softmax regression on ${dim} standardised features, ${d.iterations} full-batch steps, L2 ${d.l2}`],
    };
  },
};
