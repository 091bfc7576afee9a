// The clean position probe (Trainer.positionProbe): its size and its scoring, as plain numbers (no tensors), so the
// UI can name its size and the scoring is unit-tested on its own.

/** The probe runs on every PROBE_EVERY-th step (and the schedule's last). */
export const PROBE_EVERY = 50;
/** Regions (two per planned batch) and random crops per region: PROBE_REGIONS · PROBE_CROPS crops scored. */
export const PROBE_REGIONS = 8;
export const PROBE_CROPS = 4;

/**
 * Argmax accuracy of position predictions laid out as the probe computes them: `logits` is [randoms, bases] row-major
 * over every region's random crops (region g's crops are rows g·sw … g·sw + sw − 1) against every region's base crops
 * (region g's are columns g·nb … g·nb + nb − 1); `labels[g][s]` is the true overlap of region g's crop s. A crop
 * counts as a hit when its highest prediction among its own region's bases is on its most-overlapped base (the
 * first of ties, as the heatmaps count).
 */
export function probeAccuracy(logits: ArrayLike<number>, labels: ArrayLike<number>[][], nb: number): number {
  const regions = labels.length;
  const sw = labels[0]?.length ?? 0;
  const cols = regions * nb;
  if (logits.length !== regions * sw * cols) throw new Error(`probeAccuracy: ${logits.length} logits for ${regions}×${sw} crops × ${cols} bases`);
  let hits = 0;
  for (let g = 0; g < regions; g++) {
    for (let s = 0; s < sw; s++) {
      const y = labels[g][s];
      const at = (g * sw + s) * cols + g * nb;
      let top = 0;
      let best = 0;
      for (let k = 1; k < nb; k++) {
        if (y[k] > y[top]) top = k;
        if (logits[at + k] > logits[at + best]) best = k;
      }
      if (top === best) hits++;
    }
  }
  return regions * sw ? hits / (regions * sw) : NaN;
}
