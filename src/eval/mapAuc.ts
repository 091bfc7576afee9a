// How well a similarity map picks out the structure that was clicked: the AUC of "voxel belongs to structure k"
// against the map value, over the body (HU above a threshold) — 1 when every voxel of the structure is more similar
// to the click than every other body voxel, 0.5 for a map that knows nothing. Beside it the same AUC for the plainest
// baseline, raw intensity (similarity = −|HU − HU at the click|), which a learned map has to beat to be worth
// looking at. Pure numbers on the scan grid: the Maps tab, the recipe experiment and the tests call it.

/** Voxels with HU at or below this are air/background, not body (the preprocessing's foreground is similar). */
export const BODY_HU = -500;

/**
 * Mann–Whitney AUC: P(score of a positive > score of a negative) + ½·P(equal). Exact, ties included.
 * NaN when either side is empty.
 */
export function aucFromScores(positives: Float32Array | Float64Array, negatives: Float32Array | Float64Array): number {
  const P = positives.length;
  const N = negatives.length;
  if (!P || !N) return NaN;
  const pos = Float64Array.from(positives).sort();
  const neg = Float64Array.from(negatives).sort();
  // For each positive (ascending), count negatives below it and equal to it with two moving pointers.
  let below = 0;
  let sum = 0;
  for (let i = 0; i < P; i++) {
    const v = pos[i];
    while (below < N && neg[below] < v) below++;
    let equal = below;
    while (equal < N && neg[equal] === v) equal++;
    sum += below + (equal - below) / 2;
  }
  return sum / (P * N);
}

export interface MapAucInput {
  /** Similarity map on the scan grid (x fastest); NaN where it has no value (outside the preprocessed volume). */
  map: ArrayLike<number>;
  /** Label map on the same grid (integer ids, 0 = none). */
  labels: ArrayLike<number>;
  /** Scan intensities in HU on the same grid. */
  hu: ArrayLike<number>;
  dims: readonly [number, number, number] | readonly number[];
  /** The click, in (continuous) voxel coordinates of the scan; rounded to the nearest voxel. */
  click: readonly number[];
  /** Body = HU above this (default BODY_HU). */
  bodyHu?: number;
}

export type MapAucResult =
  | {
      ok: true;
      /** Label id at the click. */
      structure: number;
      /** AUC of the map, structure vs the rest of the body. */
      auc: number;
      /** AUC of −|HU − HU at the click| on the same voxels. */
      intensityAuc: number;
      /** HU at the click: mean over the click's 3×3×3 neighbours inside the structure. */
      clickHu: number;
      /** Voxels of the structure and of the rest of the body that have a map value. */
      positives: number;
      negatives: number;
    }
  | { ok: false; reason: string };

/** AUC of the map (and of the intensity baseline) for the structure under the click. */
export function mapAuc(input: MapAucInput): MapAucResult {
  const { map, labels, hu, dims } = input;
  const [nx, ny, nz] = dims;
  const total = nx * ny * nz;
  if (map.length !== total || labels.length !== total || hu.length !== total) {
    return { ok: false, reason: `map (${map.length}), labels (${labels.length}) and scan (${hu.length}) must all have ${dims.join('×')} = ${total} voxels` };
  }
  const c = input.click.map(Math.round);
  if (c.length !== 3 || c.some((v, a) => !(v >= 0 && v < dims[a]))) return { ok: false, reason: `the click [${input.click.join(', ')}] lies outside the scan` };
  const at = c[0] + nx * (c[1] + ny * c[2]);
  const k = labels[at];
  if (!k) return { ok: false, reason: 'the click is not inside a labelled structure' };
  const bodyHu = input.bodyHu ?? BODY_HU;

  // HU at the click: a small neighbourhood mean (one voxel is noisy), only over voxels of the same structure.
  let huSum = 0;
  let huN = 0;
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
        if (x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz) continue;
        const i = x + nx * (y + ny * z);
        if (labels[i] === k) {
          huSum += hu[i];
          huN++;
        }
      }
  const clickHu = huSum / huN;

  let P = 0;
  let N = 0;
  for (let i = 0; i < total; i++) {
    if (!(hu[i] > bodyHu) || !Number.isFinite(map[i])) continue;
    if (labels[i] === k) P++;
    else N++;
  }
  if (!P) return { ok: false, reason: `structure ${k} has no body voxel with a map value` };
  if (!N) return { ok: false, reason: 'the rest of the body has no voxel with a map value' };
  const posMap = new Float32Array(P);
  const negMap = new Float32Array(N);
  const posHu = new Float32Array(P);
  const negHu = new Float32Array(N);
  let p = 0;
  let n = 0;
  for (let i = 0; i < total; i++) {
    if (!(hu[i] > bodyHu) || !Number.isFinite(map[i])) continue;
    const d = -Math.abs(hu[i] - clickHu);
    if (labels[i] === k) {
      posMap[p] = map[i];
      posHu[p++] = d;
    } else {
      negMap[n] = map[i];
      negHu[n++] = d;
    }
  }
  return { ok: true, structure: k, auc: aucFromScores(posMap, negMap), intensityAuc: aucFromScores(posHu, negHu), clickHu, positives: P, negatives: N };
}

/**
 * A click deep inside structure k: of its voxels, the one farthest from the structure's boundary (city-block
 * distance by two sweeps), ties broken towards the centroid. null when the structure is absent.
 */
export function structureClick(labels: ArrayLike<number>, dims: readonly number[], k: number): [number, number, number] | null {
  const [nx, ny, nz] = dims;
  const total = nx * ny * nz;
  const INF = 1 << 30;
  const d = new Int32Array(total);
  let count = 0;
  let cx = 0, cy = 0, cz = 0;
  for (let i = 0; i < total; i++) {
    if (labels[i] === k) {
      d[i] = INF;
      const x = i % nx, y = Math.floor(i / nx) % ny, z = Math.floor(i / (nx * ny));
      cx += x; cy += y; cz += z;
      count++;
    }
  }
  if (!count) return null;
  cx /= count; cy /= count; cz /= count;
  const step = [1, nx, nx * ny];
  // Forward then backward sweep of the 6-neighbour city-block distance to the nearest non-structure voxel.
  for (let pass = 0; pass < 2; pass++) {
    const fwd = pass === 0;
    for (let t = 0; t < total; t++) {
      const i = fwd ? t : total - 1 - t;
      if (!d[i]) continue;
      const x = i % nx, y = Math.floor(i / nx) % ny, z = Math.floor(i / (nx * ny));
      const coords = [x, y, z];
      let best = d[i];
      for (let a = 0; a < 3; a++) {
        const nb = fwd ? coords[a] - 1 : coords[a] + 1;
        const v = nb < 0 || nb >= dims[a] ? 0 : d[i + (fwd ? -step[a] : step[a])];
        if (v + 1 < best) best = v + 1;
      }
      d[i] = best;
    }
  }
  let bestI = -1;
  let bestD = -1;
  let bestC = Infinity;
  for (let i = 0; i < total; i++) {
    if (!d[i]) continue;
    const x = i % nx, y = Math.floor(i / nx) % ny, z = Math.floor(i / (nx * ny));
    const dc = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2;
    if (d[i] > bestD || (d[i] === bestD && dc < bestC)) {
      bestD = d[i];
      bestC = dc;
      bestI = i;
    }
  }
  return [bestI % nx, Math.floor(bestI / nx) % ny, Math.floor(bestI / (nx * ny))];
}
