// What a saved run is: its description (small, listed without loading weights) and the full checkpoint.
import type { RunConfig, TrainerState } from '../worker/protocol';
import type { MetricsSnapshot } from '../store/metricsHistory';
import type { VolumeFingerprint } from './fingerprint';

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
   * Places in the run's history worth a mark on its curves, e.g. where it moved from the studio to a cluster and
   * back (written by python/vocostudio as {step, label}). Optional: older files have none.
   */
  markers?: RunMarker[];
}

/** A point in a run's history: the step where something happened (a move, a resume), with a short label. */
export interface RunMarker {
  step: number;
  label: string;
}

/** The markers of a run description, checked (bad entries are dropped: they are annotations, not data). */
export function runMarkers(meta: { markers?: unknown }): RunMarker[] {
  if (!Array.isArray(meta.markers)) return [];
  return meta.markers
    .filter((m): m is RunMarker => !!m && Number.isFinite((m as RunMarker).step) && typeof (m as RunMarker).label === 'string')
    .map((m) => ({ step: m.step, label: m.label }));
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
