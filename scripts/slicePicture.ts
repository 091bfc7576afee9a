// The recipe scripts' map pictures (docs/recipe.md, *Pictures*): two maps side by side on the click's axial slice.
import { colorAt } from '../src/ui/maps/colormaps';
import { encodePng } from './png';
import type { Volume } from '../src/volume/volume';

/**
 * Untrained (left) and trained (right) map on the axial slice through the click, each over the CT in a soft-tissue
 * window, coloured (inferno) from the map's own 90th percentile to its maximum like the Maps tab's auto range; the
 * clicked structure's outline in green, the click as a cyan cross. Oriented as the Maps tab (right → right, anterior up).
 */
export function slicePicture(scan: Volume, untrained: Float32Array, trained: Float32Array, click: number[], structure: number): Uint8Array {
  const [nx, ny] = scan.dims;
  const z = click[2];
  const scale = 3;
  const gap = 6;
  const W = (2 * nx + 0) * scale + gap;
  const H = ny * scale;
  const rgb = new Uint8Array(W * H * 3).fill(40);
  const flipX = scan.affine[0][0] < 0;
  const flipY = scan.affine[1][1] > 0;
  const labels = scan.labels!;
  [untrained, trained].forEach((map, panel) => {
    const slice: number[] = [];
    for (let i = 0; i < nx * ny; i++) {
      const v = map[z * nx * ny + i];
      if (Number.isFinite(v)) slice.push(v);
    }
    slice.sort((a, b) => a - b);
    const lo = slice[Math.floor(0.9 * (slice.length - 1))];
    const hi = slice[slice.length - 1];
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = z * nx * ny + y * nx + x;
        const g = Math.round(Math.min(1, Math.max(0, (Number(scan.data[i]) + 160) / 400)) * 255);
        let c: [number, number, number] = [g, g, g];
        const v = map[i];
        if (Number.isFinite(v) && v > lo) {
          const m = colorAt('inferno', (v - lo) / Math.max(1e-6, hi - lo));
          c = [0, 1, 2].map((k) => Math.round(c[k] * 0.35 + m[k] * 0.65)) as [number, number, number];
        }
        const inside = labels[i] === structure;
        const edge = inside && [[1, 0], [-1, 0], [0, 1], [0, -1]].some(([dx, dy]) => {
          const xx = x + dx, yy = y + dy;
          return xx < 0 || yy < 0 || xx >= nx || yy >= ny || labels[z * nx * ny + yy * nx + xx] !== structure;
        });
        if (edge) c = [80, 255, 80];
        if ((x === click[0] && Math.abs(y - click[1]) <= 2) || (y === click[1] && Math.abs(x - click[0]) <= 2)) c = [0, 230, 255];
        const px = flipX ? nx - 1 - x : x;
        const py = flipY ? ny - 1 - y : y;
        for (let sy = 0; sy < scale; sy++) {
          for (let sx = 0; sx < scale; sx++) {
            const o = 3 * ((py * scale + sy) * W + panel * (nx * scale + gap) + px * scale + sx);
            rgb[o] = c[0];
            rgb[o + 1] = c[1];
            rgb[o + 2] = c[2];
          }
        }
      }
    }
  });
  return encodePng(W, H, rgb);
}

