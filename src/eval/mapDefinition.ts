// What a similarity map compares. The plain definition is the cosine of the click's embedding with each window's.
// Training makes all crops of a scan alike (a component shared by every window grows), and the raw cosine then sits
// near 1 almost everywhere; the centred definitions take the scan's own statistics out first, over the same windows
// the map is made of, so that what is compared is how a window differs from the scan's average window:
//
//   cosine        cos(q, w)
//   centred       cos(q − μ, w − μ)                 μ = mean window embedding of the scan
//   standardised  cos((q − μ)/σ, (w − μ)/σ)          σ = per-dimension standard deviation over the windows
//
// Pure arithmetic on row-major count × dim Float32Arrays. scripts/map-variants.ts scores these against the raw cosine
// (docs/recipe.md, "What the map is computed from"): none made trained maps better than untrained ones by more than
// the raw cosine does without also lowering the trained map's own AUC, so the studio's map stays the raw cosine.
import { cosineToQuery } from './similarityMap';

export const MAP_DEFINITIONS = ['cosine', 'centred', 'standardised'] as const;
export type MapDefinition = (typeof MAP_DEFINITIONS)[number];

export const MAP_DEFINITION_LABELS: Record<MapDefinition, string> = {
  cosine: 'raw cosine',
  centred: 'centred cosine',
  standardised: 'standardised cosine',
};

/**
 * Per-dimension mean and standard deviation over the rows (count × dim), in float64; over the rows whose `use` flag
 * is set when given (all rows when none is).
 */
export function windowStats(rows: Float32Array, dim: number, use?: ArrayLike<boolean | number>): { mean: Float64Array; std: Float64Array; count: number } {
  const total = rows.length / dim;
  if (!Number.isInteger(total) || total < 1) throw new Error(`windowStats: ${rows.length} values are not rows of ${dim}`);
  if (use && use.length !== total) throw new Error(`windowStats: ${use.length} flags for ${total} rows`);
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  let count = 0;
  for (let i = 0; i < total; i++) {
    if (use && !use[i]) continue;
    count++;
    for (let d = 0, o = i * dim; d < dim; d++, o++) mean[d] += rows[o];
  }
  if (!count) throw new Error('windowStats: no rows selected');
  for (let d = 0; d < dim; d++) mean[d] /= count;
  for (let i = 0; i < total; i++) {
    if (use && !use[i]) continue;
    for (let d = 0, o = i * dim; d < dim; d++, o++) {
      const x = rows[o] - mean[d];
      sq[d] += x * x;
    }
  }
  const std = new Float64Array(dim);
  for (let d = 0; d < dim; d++) std[d] = Math.sqrt(sq[d] / count);
  return { mean, std, count };
}

/**
 * Rows and query transformed by a definition with the windows' statistics: centred subtracts the mean, standardised
 * also divides by the standard deviation (a dimension constant over the scan, σ ≈ 0, is dropped: it carries nothing
 * that tells windows apart). Returns new arrays; cosine returns the inputs.
 */
export function transformForMap(
  rows: Float32Array,
  dim: number,
  query: Float32Array,
  definition: MapDefinition,
  stats = definition === 'cosine' ? null : windowStats(rows, dim),
): { rows: Float32Array; query: Float32Array } {
  if (definition === 'cosine' || !stats) return { rows, query };
  if (query.length !== dim) throw new Error(`transformForMap: the query has ${query.length} values, expected ${dim}`);
  const scale = new Float64Array(dim);
  let maxStd = 0;
  for (let d = 0; d < dim; d++) maxStd = Math.max(maxStd, stats.std[d]);
  for (let d = 0; d < dim; d++) {
    if (definition === 'centred') scale[d] = 1;
    else scale[d] = stats.std[d] > 1e-6 * maxStd && stats.std[d] > 0 ? 1 / stats.std[d] : 0;
  }
  const out = new Float32Array(rows.length);
  for (let o = 0; o < rows.length; o++) {
    const d = o % dim;
    out[o] = (rows[o] - stats.mean[d]) * scale[d];
  }
  const q = new Float32Array(dim);
  for (let d = 0; d < dim; d++) q[d] = (query[d] - stats.mean[d]) * scale[d];
  return { rows: out, query: q };
}

/** The map's value per window under a definition: the cosine of the (transformed) query with each (transformed) window. */
export function mapValues(rows: Float32Array, dim: number, query: Float32Array, definition: MapDefinition, out?: Float32Array, use?: ArrayLike<boolean | number>): Float32Array {
  const t = transformForMap(rows, dim, query, definition, definition === 'cosine' ? null : windowStats(rows, dim, use));
  return cosineToQuery(t.rows, dim, t.query, out);
}
