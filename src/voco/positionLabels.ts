// Position labels of VoCo: how much of a random crop falls on each base crop of the n×n grid.

/**
 * Overlap of an roi×roi crop centred at (cx, cy) with each of the n×n base crops (each roi×roi, tiling
 * [0, n·roi)²), divided by roi². Index i*n + j with i along x and j along y. Like the reference, the crop is
 * taken as [c - h, c + h) with h = floor(roi/2) (for an odd roi that is one voxel narrower than the crop the
 * sampler cuts; kept so the labels match the authors exactly). Depth is not involved: random and base crops
 * span the same slab.
 */
export function positionLabels(roi: number, n: number, cx: number, cy: number): Float32Array {
  if (!Number.isInteger(roi) || roi <= 0 || !Number.isInteger(n) || n <= 0) {
    throw new Error(`positionLabels: roi and n must be positive integers, got roi=${roi}, n=${n}`);
  }
  const half = Math.floor(roi / 2);
  const xMin = cx - half;
  const xMax = cx + half;
  const yMin = cy - half;
  const yMax = cy + half;
  const area = roi * roi;
  const labels = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const dx = Math.min((i + 1) * roi, xMax) - Math.max(i * roi, xMin);
    if (dx <= 0) continue;
    for (let j = 0; j < n; j++) {
      const dy = Math.min((j + 1) * roi, yMax) - Math.max(j * roi, yMin);
      if (dy > 0) labels[i * n + j] = (dx * dy) / area;
    }
  }
  return labels;
}
