// The run store: what the training studio draws. Small state in zustand; the metric history is a columnar
// MetricsHistory beside it (mutated in place, announced through `historyVersion`), so a step costs one row
// write and at most one React/plot update per animation frame, however fast the worker sends steps.
import { create } from 'zustand';
import type { BackendInfo, RunConfig, StepHealth, StepMetrics, TrainingState } from '../worker/protocol';
import { MetricsHistory, metricRow, type MetricsSnapshot } from './metricsHistory';
import { DEFAULT_RUN_CONFIG } from './runConfig';
import type { RunMeta } from '../persist/savedRun';
import type { VolumeFingerprint } from '../persist/fingerprint';
import type { RunMarker } from './runCompare';

/** Geometry of a preprocessed volume of the run (for drawing crop boxes on the source scan). */
export interface RunVolumeGeometry {
  name: string;
  dims: [number, number, number];
  /** voxel → world (RAS mm) of the preprocessed grid, row-major 4×4. */
  affine: number[][];
}

/** idle: nothing configured. preparing: preprocessing volumes / building the trainer. ready: built, not started. */
export type RunPhase = 'idle' | 'preparing' | 'ready' | TrainingState | 'error';

export interface RunError {
  message: string;
  fatal: boolean;
  at: number;
}

export interface RunStoreState {
  phase: RunPhase;
  /** What the studio is doing right now ("Preprocessing chest_ct…", "Loading checkpoint…"), for the status line. */
  activity: string | null;
  runId: string | null;
  runName: string | null;
  config: RunConfig | null;
  backend: BackendInfo | null;
  paramCount: number | null;
  /** Steps done (the next step has this index). */
  step: number;
  /** The newest step's full detail (heatmaps, crop boxes). */
  latest: StepMetrics | null;
  /** The newest training-health record (StepMetrics.health rides on every few steps) and its step. */
  health: { step: number; health: StepHealth } | null;
  /** Bumps when the history changed (at most once per frame). */
  historyVersion: number;
  /** Smoothed step rate from message arrival times. */
  stepsPerSecond: number | null;
  errors: RunError[];
  gpuErrors: string[];
  lastCheckpoint: { step: number; savedAt: number } | null;
  /** When the active run was created, and its input volumes (in config.volumeIds order). */
  createdAt: number | null;
  runVolumes: VolumeFingerprint[];
  /** Where the run moved between machines (kept from a resumed/imported run, saved with its checkpoints). */
  markers: RunMarker[];
  /** Preprocessed geometry of the run's volumes by id. */
  geometry: Record<string, RunVolumeGeometry>;
  /** The configuration being edited in the setup panel. */
  draft: RunConfig;
  /** Runs saved in this browser (newest first). */
  savedRuns: RunMeta[];
  /** A one-line message for the user (import done, config loaded…). */
  notice: string | null;
  /** Why the active run cannot train on this device (an imported model too large for it), or null. */
  trainBlocked: string | null;
}

export const initialRunState: RunStoreState = {
  phase: 'idle',
  activity: null,
  runId: null,
  runName: null,
  config: null,
  backend: null,
  paramCount: null,
  step: 0,
  latest: null,
  health: null,
  historyVersion: 0,
  stepsPerSecond: null,
  errors: [],
  gpuErrors: [],
  lastCheckpoint: null,
  createdAt: null,
  runVolumes: [],
  markers: [],
  geometry: {},
  draft: DEFAULT_RUN_CONFIG,
  savedRuns: [],
  notice: null,
  trainBlocked: null,
};

/** What survives a run reset: the setup draft, the saved-run list and the backend badge. */
const keep = (s: RunStoreState) => ({ backend: s.backend, draft: s.draft, savedRuns: s.savedRuns, historyVersion: s.historyVersion + 1 });

/** The active run's metric history (one per page; replaced in place on reset/resume). */
export const runHistory = new MetricsHistory();

export const useRunStore = create<RunStoreState>()(() => ({ ...initialRunState }));

// ---- step ingestion, batched per animation frame --------------------------------------------------------

const RATE_WINDOW = 20;
let arrivals: number[] = [];
let pendingLatest: StepMetrics | null = null;
let pendingHealth: RunStoreState['health'] = null;
let flushScheduled = false;

const schedule: (cb: () => void) => void =
  typeof requestAnimationFrame === 'function' ? (cb) => requestAnimationFrame(() => cb()) : (cb) => setTimeout(cb, 16);

/** Records a step: the history row now, the store update on the next frame. `now` is for tests. */
export function ingestStep(m: StepMetrics, now = performance.now()): void {
  runHistory.push(metricRow(m));
  pendingLatest = m;
  if (m.health) pendingHealth = { step: m.step, health: m.health };
  arrivals.push(now);
  if (arrivals.length > RATE_WINDOW) arrivals = arrivals.slice(-RATE_WINDOW);
  if (!flushScheduled) {
    flushScheduled = true;
    schedule(flushSteps);
  }
}

/** Publishes the steps received since the last flush (called by the frame scheduler; tests call it directly). */
export function flushSteps(): void {
  flushScheduled = false;
  const latest = pendingLatest;
  if (!latest) return;
  pendingLatest = null;
  const health = pendingHealth;
  pendingHealth = null;
  useRunStore.setState((s) => ({
    latest,
    ...(health ? { health } : {}),
    step: latest.step + 1,
    historyVersion: s.historyVersion + 1,
    stepsPerSecond: stepRate(arrivals),
  }));
}

/** Steps per second over the recent arrivals (null until two steps arrived). */
export function stepRate(times: number[]): number | null {
  if (times.length < 2) return null;
  const span = times[times.length - 1] - times[0];
  return span > 0 ? ((times.length - 1) * 1000) / span : null;
}

/** Seconds left at the current rate, or null when unknown. */
export function etaSeconds(state: Pick<RunStoreState, 'step' | 'config' | 'stepsPerSecond'>): number | null {
  if (!state.config || !state.stepsPerSecond) return null;
  return Math.max(0, state.config.totalSteps - state.step) / state.stepsPerSecond;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

// ---- run lifecycle ----------------------------------------------------------------------------------------

/** Start showing a (new or resumed) run: history replaced by `metrics` (or emptied). */
export function beginRun(run: {
  runId: string;
  runName: string;
  config: RunConfig;
  step: number;
  createdAt: number;
  runVolumes: VolumeFingerprint[];
  metrics?: MetricsSnapshot;
  markers?: RunMarker[];
}): void {
  if (run.metrics) runHistory.load(run.metrics);
  else runHistory.clear();
  // A resumed run continues at `step`: drop any points recorded after it.
  runHistory.truncateFrom(run.step);
  arrivals = [];
  pendingLatest = null;
  useRunStore.setState((s) => ({
    ...initialRunState,
    ...keep(s),
    phase: 'preparing',
    runId: run.runId,
    runName: run.runName,
    config: run.config,
    step: run.step,
    createdAt: run.createdAt,
    runVolumes: run.runVolumes,
    markers: (run.markers ?? []).filter((m) => m.step <= run.step),
  }));
}

export function setPhase(phase: RunPhase, activity: string | null = null): void {
  if (phase !== 'running') arrivals = [];
  useRunStore.setState({ phase, activity, ...(phase === 'running' ? {} : { stepsPerSecond: null }) });
}

export function reportError(message: string, fatal: boolean): void {
  useRunStore.setState((s) => ({ errors: [...s.errors.slice(-19), { message, fatal, at: Date.now() }], ...(fatal ? { phase: 'error' as const, activity: null } : {}) }));
}

export function reportGpuError(message: string): void {
  // The first errors name the cause; what follows is mostly "invalid due to a previous error".
  useRunStore.setState((s) => (s.gpuErrors.length >= 20 ? {} : { gpuErrors: [...s.gpuErrors, message] }));
}

export function clearErrors(): void {
  useRunStore.setState({ errors: [], gpuErrors: [] });
}

/** Back to no run (keeps the backend badge). */
export function resetRun(): void {
  runHistory.clear();
  arrivals = [];
  pendingLatest = null;
  useRunStore.setState((s) => ({ ...initialRunState, ...keep(s) }));
}
