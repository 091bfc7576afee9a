// Colour maps of the similarity maps, defined once for the NiiVue overlay (as a lookup table), the colour bar (as
// a CSS gradient) and the canvases of the panel (as RGB per value), so all three always agree.

export type MapColormapName = 'inferno' | 'viridis' | 'hot' | 'cool-warm';

/** Stops at positions 0…1 (the overlay's range threshold…max), RGB 0…255. */
const STOPS: Record<MapColormapName, [number, number, number, number][]> = {
  inferno: [
    [0, 20, 11, 53],
    [0.25, 101, 21, 110],
    [0.5, 188, 55, 84],
    [0.75, 249, 142, 9],
    [1, 252, 255, 164],
  ],
  viridis: [
    [0, 68, 1, 84],
    [0.25, 59, 82, 139],
    [0.5, 33, 145, 140],
    [0.75, 94, 201, 98],
    [1, 253, 231, 37],
  ],
  hot: [
    [0, 120, 0, 0],
    [0.4, 255, 40, 0],
    [0.75, 255, 200, 0],
    [1, 255, 255, 255],
  ],
  // Diverging, for cosines in [−1, 1] (the base-crop matrix): blue below 0, white at 0, red above.
  'cool-warm': [
    [0, 59, 76, 192],
    [0.25, 141, 176, 254],
    [0.5, 242, 242, 242],
    [0.75, 244, 154, 123],
    [1, 180, 4, 38],
  ],
};

export const MAP_COLORMAPS: { name: MapColormapName; label: string }[] = [
  { name: 'inferno', label: 'Inferno' },
  { name: 'viridis', label: 'Viridis' },
  { name: 'hot', label: 'Hot' },
  { name: 'cool-warm', label: 'Cool–warm' },
];

/** RGB at t ∈ [0, 1] (clamped). */
export function colorAt(name: MapColormapName, t: number): [number, number, number] {
  const stops = STOPS[name];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  let i = 1;
  while (i < stops.length - 1 && stops[i][0] < x) i++;
  const [p0, r0, g0, b0] = stops[i - 1];
  const [p1, r1, g1, b1] = stops[i];
  const f = p1 > p0 ? (x - p0) / (p1 - p0) : 0;
  return [Math.round(r0 + (r1 - r0) * f), Math.round(g0 + (g1 - g0) * f), Math.round(b0 + (b1 - b0) * f)];
}

/**
 * The NiiVue colormap (R, G, B, A, I over 0…255). Index 0 is transparent: NiiVue draws overlay voxels at or below
 * cal_min (the threshold) with index 0, so they vanish; everything above is opaque and the layer's opacity applies.
 */
export function niivueColormap(name: MapColormapName): { R: number[]; G: number[]; B: number[]; A: number[]; I: number[] } {
  const out = { R: [] as number[], G: [] as number[], B: [] as number[], A: [] as number[], I: [] as number[] };
  const push = (i: number, rgb: [number, number, number], a: number) => {
    out.I.push(i);
    out.R.push(rgb[0]);
    out.G.push(rgb[1]);
    out.B.push(rgb[2]);
    out.A.push(a);
  };
  push(0, colorAt(name, 0), 0);
  for (let k = 1; k <= 16; k++) push(Math.round((k / 16) * 255), colorAt(name, k / 16), 255);
  return out;
}

/** The same colours as a CSS gradient (left = low). */
export function cssGradient(name: MapColormapName, direction = 'to right'): string {
  const parts = STOPS[name].map(([p, r, g, b]) => `rgb(${r}, ${g}, ${b}) ${Math.round(p * 100)}%`);
  return `linear-gradient(${direction}, ${parts.join(', ')})`;
}
