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
  /** Which crops are scored as queries. */
  queries: boolean[];
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
    const k = o.retrieval.k;
    // One scan: a crop that has fewer than k crops sharing no voxel with it is not a query (it stays a candidate).
    const disjoint = crossVolume || leaky ? null : found.crops.map((q) => found.crops.filter((c) => !cropsOverlap(q.center, c.center, r)).length);
    const queries = disjoint ? disjoint.map((n) => n >= k) : found.crops.map(() => true);
    const nQueries = queries.filter(Boolean).length;
    const candidates = crossVolume
      ? Math.min(...found.labelled.map((_, slot) => found.crops.filter((c) => c.volumeSlot !== slot).length))
      : leaky
        ? found.crops.length - 1
        : nQueries > 0 ? k : 0;
    if (candidates < k) {
      return {
        ok: false,
        reason: disjoint
          ? `k = ${k} but no crop has ${k} others that share no voxel with it (${found.crops.length} crops of ${r}³ voxels in one scan)`
          : `k = ${k} but a query has only ${candidates} candidate neighbours`,
      };
    }
    const leftOut = found.crops.length - nQueries;
    return {
      ok: true,
      data: { crops: found.crops, k, crossVolume, r, leaky, queries },
      notes: [
        crossVolume
          ? `${found.crops.length} crops of ${found.structures.length} structures; neighbours from other volumes only`
          : leaky
            ? `${found.crops.length} crops of ${found.structures.length} structures in one volume, overlapping neighbours allowed (leaky: the former search)`
            : `${found.crops.length} crops of ${found.structures.length} structures in one volume; crops sharing a voxel with the query are not candidates (same patient: optimistic)` +
              (leftOut ? `; ${leftOut} crops with fewer than ${k} such candidates are not queries` : ''),
      ],
    };
  },

  async run(d, ctx) {
    const features = await ctx.encoder.embed(d.crops.map((c) => plainCropAt(c.volume, c.origin)));
    ctx.checkCancelled();
    const labels = d.crops.map((c) => c.label);
    const groups = d.crossVolume ? d.crops.map((c) => c.volumeSlot) : undefined;
    const excluded = d.crossVolume || d.leaky ? undefined : (i: number, j: number) => cropsOverlap(d.crops[i].center, d.crops[j].center, d.r);
    const isQuery = (i: number) => d.queries[i];
    const curve = retrievalCurve(features, ctx.encoder.embedDim, labels, d.k, { groups, excluded, isQuery });
    curve.forEach((v, i) => ctx.curve('precision@k', i + 1, v));
    return {
      values: { precisionAtK: curve[d.k - 1] },
      chance: { precisionAtK: retrievalChance(labels, groups, excluded, isQuery) },
      n: d.queries.filter(Boolean).length,
      notes: [`k = ${d.k}, cosine similarity of ${ctx.encoder.embedDim} GAP features`],
    };
  },
};
