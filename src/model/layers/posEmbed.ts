// Fixed 3-D sin-cos position embedding (MAE-style, one third of the channels per axis). Not learned, so a
// checkpoint trained at one crop size embeds crops of another size (any cube of tokens).

/** [g³, dim] row-major; token t = (tz·g + ty)·g + tx. Channels: x-block | y-block | z-block | zero padding. */
export function sinCos3d(g: number, dim: number): Float32Array {
  const perAxis = 2 * Math.floor(dim / 6); // sin and cos halves per axis
  const half = perAxis / 2;
  const out = new Float32Array(g * g * g * dim);
  for (let tz = 0; tz < g; tz++)
    for (let ty = 0; ty < g; ty++)
      for (let tx = 0; tx < g; tx++) {
        const row = ((tz * g + ty) * g + tx) * dim;
        [tx, ty, tz].forEach((pos, axis) => {
          const base = row + axis * perAxis;
          for (let k = 0; k < half; k++) {
            const angle = pos / Math.pow(10000, k / half);
            out[base + k] = Math.sin(angle);
            out[base + half + k] = Math.cos(angle);
          }
        });
      }
  return out;
}
