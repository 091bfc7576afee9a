// Map definitions (src/eval/mapDefinition.ts): raw, centred and standardised cosine against a direct float64
// computation, their invariances (a component shared by every window changes the raw cosine, not the centred one;
// a per-dimension scale changes the centred one, not the standardised one) and the body-window selection. The
// studio's map stays the raw cosine (docs/recipe.md: no definition made trained maps better); scripts/map-variants.ts
// scores these.
import { describe, expect, it } from 'vitest';
import { mapValues, transformForMap, windowStats, MAP_DEFINITIONS } from '../src/eval/mapDefinition';
import { Rng } from '../src/voco/rng';

function randomRows(rng: Rng, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let i = 0; i < out.length; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

function cos64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

describe('map definitions', () => {
  const dim = 6;
  const count = 40;
  const rng = new Rng(11);
  const rows = randomRows(rng, count, dim);
  const query = rows.slice(3 * dim, 4 * dim);

  it('window statistics are the per-dimension mean and (population) standard deviation', () => {
    const { mean, std, count: n } = windowStats(rows, dim);
    expect(n).toBe(count);
    for (let d = 0; d < dim; d++) {
      let m = 0;
      for (let i = 0; i < count; i++) m += rows[i * dim + d];
      m /= count;
      let v = 0;
      for (let i = 0; i < count; i++) v += (rows[i * dim + d] - m) ** 2;
      expect(mean[d]).toBeCloseTo(m, 10);
      expect(std[d]).toBeCloseTo(Math.sqrt(v / count), 10);
    }
  });

  it('raw, centred and standardised cosine match a direct float64 computation', () => {
    const { mean, std } = windowStats(rows, dim);
    for (const def of MAP_DEFINITIONS) {
      const values = mapValues(rows, dim, query, def);
      expect(values.length).toBe(count);
      for (let i = 0; i < count; i++) {
        const w = Array.from(rows.subarray(i * dim, (i + 1) * dim));
        const q = Array.from(query);
        const t = (x: number[]) => x.map((v, d) => (def === 'cosine' ? v : def === 'centred' ? v - mean[d] : (v - mean[d]) / std[d]));
        expect(values[i]).toBeCloseTo(cos64(t(q), t(w)), 5);
      }
      // The query is one of the windows: its own value is 1 under every definition.
      expect(values[3]).toBeCloseTo(1, 5);
    }
  });

  it('a component shared by every window moves the raw cosine towards 1 but leaves the centred one unchanged', () => {
    const shared = rows.map((v, o) => v + 5 * (o % dim === 0 ? 1 : 0.5));
    const q = shared.slice(3 * dim, 4 * dim);
    const rawBefore = mapValues(rows, dim, query, 'cosine');
    const rawAfter = mapValues(shared, dim, q, 'cosine');
    const median = (x: Float32Array) => Float32Array.from(x).sort()[Math.floor(x.length / 2)];
    expect(median(rawAfter)).toBeGreaterThan(median(rawBefore) + 0.3);
    expect(median(rawAfter)).toBeGreaterThan(0.9);
    const cBefore = mapValues(rows, dim, query, 'centred');
    const cAfter = mapValues(shared, dim, q, 'centred');
    for (let i = 0; i < count; i++) expect(cAfter[i]).toBeCloseTo(cBefore[i], 4);
  });

  it('a per-dimension scale changes the centred cosine but not the standardised one', () => {
    const scaled = rows.map((v, o) => v * (1 + 9 * (o % dim === 1 ? 1 : 0)));
    const q = scaled.slice(3 * dim, 4 * dim);
    const cBefore = mapValues(rows, dim, query, 'centred');
    const cAfter = mapValues(scaled, dim, q, 'centred');
    let moved = 0;
    for (let i = 0; i < count; i++) moved = Math.max(moved, Math.abs(cAfter[i] - cBefore[i]));
    expect(moved).toBeGreaterThan(0.05);
    const sBefore = mapValues(rows, dim, query, 'standardised');
    const sAfter = mapValues(scaled, dim, q, 'standardised');
    for (let i = 0; i < count; i++) expect(sAfter[i]).toBeCloseTo(sBefore[i], 4);
  });

  it('standardised drops a dimension that is constant over the windows instead of dividing by zero', () => {
    const flat = rows.map((v, o) => (o % dim === 2 ? 0.7 : v));
    const values = mapValues(flat, dim, flat.slice(0, dim), 'standardised');
    for (const v of values) expect(Number.isFinite(v)).toBe(true);
    const t = transformForMap(flat, dim, flat.slice(0, dim), 'standardised');
    for (let i = 0; i < count; i++) expect(t.rows[i * dim + 2]).toBe(0);
  });

  it('statistics over selected windows only (e.g. the body) use just those rows', () => {
    const use = Array.from({ length: count }, (_, i) => i % 2 === 0);
    const sub = new Float32Array((count / 2) * dim);
    for (let i = 0, k = 0; i < count; i += 2, k++) sub.set(rows.subarray(i * dim, (i + 1) * dim), k * dim);
    const a = windowStats(rows, dim, use);
    const b = windowStats(sub, dim);
    expect(a.count).toBe(count / 2);
    for (let d = 0; d < dim; d++) expect(a.mean[d]).toBeCloseTo(b.mean[d], 10);
    expect(() => windowStats(rows, dim, new Array(count).fill(false))).toThrow(/no rows/);
    expect(() => windowStats(rows, dim, [true])).toThrow(/flags/);
  });
});
