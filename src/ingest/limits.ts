// What a browser tab can hold: one typed array must stay under ~2 GiB, and the studio keeps
// a copy for the viewer and another after preprocessing, so we stop well before memory runs out.
export const MAX_VOXELS = 512 * 1024 * 1024;
export const MAX_BYTES = 2 * 1024 * 1024 * 1024;

/** A label map has at most this many distinct ids (TotalSegmentator has 117 + background). */
export const LABEL_MAX_DISTINCT = 255;

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Null when a volume of this size fits, else the reason it does not. */
export function sizeProblem(dims: readonly number[], bytesPerVoxel: number, frames = 1): string | null {
  const voxels = dims[0] * dims[1] * dims[2];
  const bytes = voxels * bytesPerVoxel * frames;
  const shape = dims.slice(0, 3).join('×') + (frames > 1 ? `×${frames}` : '');
  if (voxels > MAX_VOXELS)
    return `too large for the browser: ${shape} = ${(voxels / 1e6).toFixed(0)}M voxels (limit ${MAX_VOXELS / 1024 / 1024}M voxels)`;
  if (bytes > MAX_BYTES) return `too large for the browser: ${shape} needs ${formatBytes(bytes)} (limit ${formatBytes(MAX_BYTES)})`;
  return null;
}
