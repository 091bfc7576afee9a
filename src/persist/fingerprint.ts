// A fingerprint of an input volume, so a saved run can tell whether the scans loaded now are the scans it
// was trained on (ids are per session; after a reload the same file gets a new id).
// SHA-256 over the geometry and an evenly spaced sample of voxels: cheap even for large scans, and any
// re-slicing, resampling or different file changes it.

export interface VolumeFingerprint {
  /** The volume's id in the session that trained the run (matches config.volumeIds). */
  id: string;
  name: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  sha256: string;
}

export const FINGERPRINT_SAMPLES = 65_536;

export async function fingerprintVolume(vol: {
  id: string;
  name: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  data: ArrayLike<number>;
}): Promise<VolumeFingerprint> {
  const total = vol.data.length;
  const count = Math.min(total, FINGERPRINT_SAMPLES);
  // Header: dims (3 × f64), spacing (3 × f64), voxel count (f64); then sampled voxels as f64.
  const buf = new Float64Array(7 + count);
  buf.set(vol.dims, 0);
  buf.set(vol.spacing, 3);
  buf[6] = total;
  for (let i = 0; i < count; i++) buf[7 + i] = vol.data[Math.floor((i * total) / count)];
  const digest = await crypto.subtle.digest('SHA-256', buf);
  const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  return { id: vol.id, name: vol.name, dims: [...vol.dims], spacing: [...vol.spacing], sha256 };
}

/**
 * For each fingerprint of a saved run, the id of a loaded volume with the same content (or null).
 * Each loaded volume is used at most once.
 */
export function matchVolumes(saved: VolumeFingerprint[], loaded: VolumeFingerprint[]): (string | null)[] {
  const used = new Set<string>();
  return saved.map((fp) => {
    const hit = loaded.find((l) => l.sha256 === fp.sha256 && !used.has(l.id));
    if (!hit) return null;
    used.add(hit.id);
    return hit.id;
  });
}
