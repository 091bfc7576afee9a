// Retrieval: for crops centred in each structure, the share of their k nearest neighbours (cosine of the GAP
// features) that are centred in the same structure. With several labelled volumes a crop's neighbours are searched
// in the OTHER volumes only (neighbouring crops of one scan overlap, and finding them proves little); with one
// labelled volume, crops that share a voxel with the query are not candidates.
import { retrievalChance, retrievalCurve } from '../metrics';
import { cropsOverlap } from '../blockSplit';
import { plainCropAt, type StructureCrop } from '../sampling';
import { labelledCrops } from './structureCrops';
import type { DownstreamTask } from './types';

interface RetrievalData {
  crops: StructureCrop[];
  k: number;
  crossVolume: boolean;
  r: number;
  /** The former one-volume search (overlapping neighbours count): only to measure the leak. */
  leaky: boolean;
}

export const retrievalTask: DownstreamTask<RetrievalData> = {
  id: 'retrieval',

  prepare(data, rng) {
    const o = data.options;
    if (!Number.isInteger(o.retrieval.k) || o.retrieval.k < 1) return { ok: false, reason: `k must be a positive integer, got ${o.retrieval.k}` };
    const found = labelledCrops(data, rng, o.cropsPerStructure);
    if ('reason' in found) return { ok: false, reason: found.reason };
    const crossVolume = found.labelled.length >= 2;
    const leaky = !crossVolume && o.oneVolumeSplit === 'overlapping';
    const r = o.cropSize;
    const candidates = crossVolume
      ? Math.min(...found.labelled.map((_, slot) => found.crops.filter((c) => c.volumeSlot !== slot).length))
      : leaky
        ? found.crops.length - 1
        : Math.min(...found.crops.map((q) => found.crops.filter((c) => !cropsOverlap(q.center, c.center, r)).length));
    if (candidates < o.retrieval.k) return { ok: false, reason: `k = ${o.retrieval.k} but a query has only ${candidates} candidate neighbours` };
    return {
      ok: true,
      data: { crops: found.crops, k: o.retrieval.k, crossVolume, r, leaky },
      notes: [
        crossVolume
          ? `${found.crops.length} crops of ${found.structures.length} structures; neighbours from other volumes only`
          : leaky
            ? `${found.crops.length} crops of ${found.structures.length} structures in one volume, overlapping neighbours allowed (leaky: the former search)`
            : `${found.crops.length} crops of ${found.structures.length} structures in one volume; crops sharing a voxel with the query are not candidates (same patient: optimistic)`,
      ],
    };
  },

  async run(d, ctx) {
    const features = await ctx.encoder.embed(d.crops.map((c) => plainCropAt(c.volume, c.origin)));
    ctx.checkCancelled();
    const labels = d.crops.map((c) => c.label);
    const groups = d.crossVolume ? d.crops.map((c) => c.volumeSlot) : undefined;
    const excluded = d.crossVolume || d.leaky ? undefined : (i: number, j: number) => cropsOverlap(d.crops[i].center, d.crops[j].center, d.r);
    const curve = retrievalCurve(features, ctx.encoder.embedDim, labels, d.k, { groups, excluded });
    curve.forEach((v, i) => ctx.curve('precision@k', i + 1, v));
    return {
      values: { precisionAtK: curve[d.k - 1] },
      chance: { precisionAtK: retrievalChance(labels, groups, excluded) },
      n: d.crops.length,
      notes: [`k = ${d.k}, cosine similarity of ${ctx.encoder.embedDim} GAP features`],
    };
  },
};
