// Preprocessing the studio's scans with the current settings, in the preprocessing worker.
// Results are kept per volume and tagged with the settings, so a settings change never serves stale data.
import { preprocessInWorker } from '../../preprocess/client';
import type { PreprocessedVolume } from '../../volume/volume';
import { settingsKey, useDatasetStore } from '../../store/datasetStore';
import { preprocessSettingsOf } from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';

const inFlight = new Map<string, Promise<PreprocessedVolume>>();

/** The preprocessed version of a loaded volume under the current settings (cached, deduplicated). */
export function ensurePreprocessed(volumeId: string): Promise<PreprocessedVolume> {
  const s = useDatasetStore.getState();
  const vol = s.volumes[volumeId];
  if (!vol) return Promise.reject(new Error(`volume ${volumeId} is not loaded`));
  const settings = preprocessSettingsOf(useRunStore.getState().draft);
  const key = settingsKey(settings);
  const cached = s.preprocessed[volumeId];
  if (cached && cached.key === key) return Promise.resolve(cached.volume);
  const flightKey = `${volumeId}|${key}`;
  const pending = inFlight.get(flightKey);
  if (pending) return pending;
  s.setPreprocessStatus(volumeId, { state: 'running', key });
  const started = performance.now();
  const p = preprocessInWorker(vol, settings)
    .then((pv) => {
      const st = useDatasetStore.getState();
      // The volume may have been removed meanwhile; keep nothing for it then.
      if (st.volumes[volumeId]) {
        st.setPreprocessed(volumeId, key, pv);
        st.setPreprocessStatus(volumeId, { state: 'done', key, ms: performance.now() - started });
      }
      return pv;
    })
    .catch((err: Error) => {
      useDatasetStore.getState().setPreprocessStatus(volumeId, { state: 'error', key, message: err.message });
      throw err;
    })
    .finally(() => inFlight.delete(flightKey));
  inFlight.set(flightKey, p);
  return p;
}
