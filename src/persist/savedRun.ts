// What a saved run is: its description (small, listed without loading weights) and the full checkpoint.
import type { RunConfig, TrainerState } from '../worker/protocol';
import type { MetricsSnapshot } from '../store/metricsHistory';
import type { VolumeFingerprint } from './fingerprint';
import type { RunMarker } from '../store/runCompare';

export interface RunMeta {
  id: string;
  /** Human label shown in the run list (preset, volumes, date). */
  name: string;
  createdAt: number;
  /** When the last checkpoint was written. */
  savedAt: number;
  /** Steps taken at the last checkpoint (the next step has this index). */
  step: number;
  config: RunConfig;
  /** The input volumes in config.volumeIds order, to find them again after a reload. */
  volumes: VolumeFingerprint[];
  /** Loss of the last recorded step, for the list. */
  lastLoss: number | null;
  /** Backend that trained it last (name and adapter), for the list. */
  backend: string | null;
  origin: 'trained' | 'imported';
  /**
   * Places on the step axis where the run moved (e.g. {step: 1200, label: 'torchrun'}: steps from 1200 on were
   * trained on a cluster). Optional: absent in runs saved before markers existed. See docs/run-comparison.md.
   */
  markers?: RunMarker[];
}

export interface SavedRun {
  meta: RunMeta;
  state: TrainerState;
  metrics: MetricsSnapshot;
}

export function newRunId(): string {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `run-${Date.now().toString(36)}-${rand[0].toString(36)}${rand[1].toString(36)}`;
}

export function runLabel(config: RunConfig, volumes: VolumeFingerprint[], createdAt: number): string {
  const date = new Date(createdAt).toISOString().slice(0, 16).replace('T', ' ');
  return `${config.preset} · n${config.gridN} r${config.cropSize} · ${volumes.length} volumes · ${date}`;
}
