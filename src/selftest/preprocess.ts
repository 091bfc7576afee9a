// Browser checks of the preprocessing worker (called from e2e/preprocess.spec.ts): the module worker loads under
// the studio's CSP, gives the same result as the main thread, and reports failures by volume name.
import type { Volume } from '../volume/volume';
import { preprocessInWorker } from '../preprocess/client';
import { preprocessVolume } from '../preprocess/preprocess';
import type { PreprocessSettings } from '../preprocess/settings';

const settings: PreprocessSettings = { spacing: [3, 3, 3], huWindow: [-175, 250], minSize: [24, 24, 16] };

/** An LPS int16 "body" (an ellipsoid of soft tissue in air) with a label map: exercises flip, resample, crop, pad. */
function lpsPhantom(name: string): Volume {
  const dims: [number, number, number] = [64, 56, 40];
  const data = new Int16Array(dims[0] * dims[1] * dims[2]);
  const labels = new Uint8Array(data.length);
  for (let z = 0, i = 0; z < dims[2]; z++)
    for (let y = 0; y < dims[1]; y++)
      for (let x = 0; x < dims[0]; x++, i++) {
        const r = ((x - 30) / 24) ** 2 + ((y - 26) / 20) ** 2 + ((z - 20) / 15) ** 2;
        data[i] = r < 1 ? 20 + ((x * 13 + y * 7 + z * 3) % 120) : -1000;
        labels[i] = r < 0.3 ? 2 : r < 1 ? 1 : 0;
      }
  return {
    id: name, name, dims, spacing: [1.2, 1.2, 2.5],
    affine: [[-1.2, 0, 0, 40], [0, -1.2, 0, 30], [0, 0, 2.5, -50], [0, 0, 0, 1]],
    data, labels, sourceFiles: [`${name}.nii.gz`],
  };
}

export async function workerMatchesMainThread() {
  const vol = lpsPhantom('phantom-a');
  const t0 = performance.now();
  const inWorker = await preprocessInWorker(vol, settings);
  const workerMs = performance.now() - t0;
  const direct = preprocessVolume(vol, settings);
  let maxDiff = 0;
  for (let i = 0; i < direct.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(direct.data[i] - inWorker.data[i]));
  let labelMismatches = 0;
  for (let i = 0; i < direct.labels!.length; i++) if (direct.labels![i] !== inWorker.labels![i]) labelMismatches++;
  return {
    dims: inWorker.dims, directDims: direct.dims, affine: inWorker.affine, directAffine: direct.affine,
    spacing: inWorker.spacing, name: inWorker.name, id: inWorker.id,
    maxDiff, labelMismatches, dataType: inWorker.data.constructor.name, labelType: inWorker.labels?.constructor.name,
    inputIntact: vol.data.length === 64 * 56 * 40 && vol.data[0] === -1000,
    workerMs,
  };
}

export async function workerTransfersInputWhenAsked() {
  const vol = lpsPhantom('phantom-t');
  const pv = await preprocessInWorker(vol, settings, { transferInput: true });
  return { inputDetached: vol.data.byteLength === 0 && vol.labels!.byteLength === 0, dims: pv.dims };
}

export async function workerRejectsBadVolumes() {
  const good = lpsPhantom('phantom-ok');
  const broken: Volume = { ...lpsPhantom('broken-scan'), data: new Int16Array(10) };
  const empty: Volume = { ...lpsPhantom('all-air'), data: new Int16Array(64 * 56 * 40).fill(-1000) };
  // concurrent requests: each answer goes to its own promise
  const results = await Promise.allSettled([preprocessInWorker(broken, settings), preprocessInWorker(good, settings), preprocessInWorker(empty, settings)]);
  return results.map((r) => (r.status === 'fulfilled' ? { ok: true, name: r.value.name } : { ok: false, message: (r.reason as Error).message }));
}
