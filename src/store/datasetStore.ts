// The dataset store: every row of the dataset panel (loading, loaded, or a problem), the loaded
// volumes by id, the selection shown in the viewer, and preprocessing settings and results.
// Plain data and setters; loading is orchestrated in src/ui/dataset/ingestActions.ts.
import { create } from 'zustand';
import type { PreprocessedVolume, Volume } from '../volume/volume';
import type { LeftOut } from '../ingest/types';
import type { PreprocessSettings } from '../preprocess/settings';

export type RowStatus = 'loading' | 'ok' | 'warning' | 'error';

/** What the dataset panel shows about a loaded volume. */
export interface RowInfo {
  format: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  /** Orientation code of the voxel axes ('RAS', 'LPS'…). */
  orientation: string;
  min: number;
  max: number;
  huLike: boolean;
  ctNote: string;
  modality?: string;
  /** Typed-array kind the voxels are stored in ('Int16Array'…). */
  dtype: string;
  /** Hash of grid and voxels (duplicates share it). */
  hash?: string;
}

export type LabelArray = NonNullable<Volume['labels']>;

/** One label map (or several merged ones that do not overlap) a scan can use. */
export interface LabelSet {
  sources: string[];
  labels: LabelArray;
  ids: number;
}

export interface DatasetRow {
  /** Unit id while loading, volume id once loaded, problem id for problems. */
  rowId: string;
  batchId: string;
  name: string;
  files: string[];
  status: RowStatus;
  /** 0..1 while loading. */
  progress: number;
  stage: string;
  /** Warnings (status 'warning') or the error (status 'error'), each naming the problem. */
  messages: string[];
  volumeId?: string;
  info?: RowInfo;
  /** Label maps attached to this scan. */
  labels?: { sources: string[]; ids: number };
  /** Loaded but looks like a label map: held back until its batch ends and it finds its scan. */
  pendingLabel?: boolean;
  /** Why the run setup does not tick this volume by default (duplicate, not HU, constant, a label map…). */
  exclude?: string;
  /** Label maps that overlap each other: kept apart, the user picks which one the scan uses. */
  labelSets?: LabelSet[];
  activeLabelSet?: number;
}

export type PreprocessState =
  | { state: 'running'; key: string }
  | { state: 'done'; key: string; ms: number }
  | { state: 'error'; key: string; message: string };

export interface DatasetState {
  rows: DatasetRow[];
  volumes: Record<string, Volume>;
  selectedId: string | null;
  /** Dropped files that gave no row (documents, non-image or cut-short DICOM…), each with its reason; newest last. */
  leftOut: LeftOut[];
  /** Ingest batches started and finished (a drop or pick is one batch): tests and the UI wait on these. */
  batchesStarted: number;
  batchesDone: number;

  /** Preprocessed volumes by source volume id, tagged with the settings they were made with
   *  (the settings themselves are the run draft's: preprocessSettingsOf in store/runConfig.ts). */
  preprocessed: Record<string, { key: string; volume: PreprocessedVolume }>;
  preprocessStatus: Record<string, PreprocessState>;
  /** The viewer shows the preprocessed volume of the selection ("as the model sees it"). */
  showPreprocessed: boolean;

  upsertRows: (rows: DatasetRow[]) => void;
  patchRow: (rowId: string, patch: Partial<DatasetRow>) => void;
  /** Replace one row (a loading unit) by others (its loaded volumes), at the same place. */
  replaceRow: (rowId: string, rows: DatasetRow[]) => void;
  removeRow: (rowId: string) => void;
  addVolume: (v: Volume) => void;
  setVolumeLabels: (volumeId: string, labels: Volume['labels']) => void;
  addLeftOut: (entries: LeftOut[]) => void;
  /** Make one of a row's overlapping label maps the one its scan uses. */
  chooseLabelSet: (rowId: string, index: number) => void;
  select: (volumeId: string | null) => void;
  batchStarted: () => void;
  batchDone: () => void;

  setPreprocessStatus: (volumeId: string, s: PreprocessState) => void;
  setPreprocessed: (volumeId: string, key: string, pv: PreprocessedVolume) => void;
  setShowPreprocessed: (on: boolean) => void;
}

/** Identifies the settings a preprocessed volume was made with. */
export function settingsKey(s: PreprocessSettings): string {
  return JSON.stringify([s.spacing, s.huWindow, s.minSize, s.foregroundThreshold ?? null]);
}

export const useDatasetStore = create<DatasetState>()((set) => ({
  rows: [],
  volumes: {},
  selectedId: null,
  leftOut: [],
  batchesStarted: 0,
  batchesDone: 0,
  preprocessed: {},
  preprocessStatus: {},
  showPreprocessed: false,

  upsertRows: (rows) =>
    set((s) => {
      const next = [...s.rows];
      for (const r of rows) {
        const i = next.findIndex((x) => x.rowId === r.rowId);
        if (i >= 0) next[i] = r;
        else next.push(r);
      }
      return { rows: next };
    }),
  patchRow: (rowId, patch) => set((s) => ({ rows: s.rows.map((r) => (r.rowId === rowId ? { ...r, ...patch } : r)) })),
  replaceRow: (rowId, rows) =>
    set((s) => {
      const i = s.rows.findIndex((r) => r.rowId === rowId);
      if (i < 0) return { rows: [...s.rows, ...rows] };
      return { rows: [...s.rows.slice(0, i), ...rows, ...s.rows.slice(i + 1)] };
    }),
  removeRow: (rowId) =>
    set((s) => {
      const row = s.rows.find((r) => r.rowId === rowId);
      const volumes = { ...s.volumes };
      const preprocessed = { ...s.preprocessed };
      if (row?.volumeId) {
        delete volumes[row.volumeId];
        delete preprocessed[row.volumeId];
      }
      return {
        rows: s.rows.filter((r) => r.rowId !== rowId),
        volumes,
        preprocessed,
        selectedId: s.selectedId === row?.volumeId ? null : s.selectedId,
      };
    }),
  addVolume: (v) => set((s) => ({ volumes: { ...s.volumes, [v.id]: v } })),
  setVolumeLabels: (volumeId, labels) =>
    set((s) => {
      const v = s.volumes[volumeId];
      if (!v) return {};
      const preprocessed = { ...s.preprocessed };
      delete preprocessed[volumeId]; // made without these labels
      return { volumes: { ...s.volumes, [volumeId]: { ...v, labels } }, preprocessed };
    }),
  addLeftOut: (entries) => set((s) => ({ leftOut: [...s.leftOut, ...entries] })),
  chooseLabelSet: (rowId, index) =>
    set((s) => {
      const row = s.rows.find((r) => r.rowId === rowId);
      const chosen = row?.labelSets?.[index];
      if (!row?.volumeId || !chosen || !s.volumes[row.volumeId]) return {};
      const preprocessed = { ...s.preprocessed };
      delete preprocessed[row.volumeId];
      return {
        volumes: { ...s.volumes, [row.volumeId]: { ...s.volumes[row.volumeId], labels: chosen.labels } },
        preprocessed,
        rows: s.rows.map((r) => (r.rowId === rowId ? { ...r, activeLabelSet: index, labels: { sources: chosen.sources, ids: chosen.ids } } : r)),
      };
    }),
  select: (volumeId) => set({ selectedId: volumeId }),
  batchStarted: () => set((s) => ({ batchesStarted: s.batchesStarted + 1 })),
  batchDone: () => set((s) => ({ batchesDone: s.batchesDone + 1 })),

  setPreprocessStatus: (volumeId, st) => set((s) => ({ preprocessStatus: { ...s.preprocessStatus, [volumeId]: st } })),
  setPreprocessed: (volumeId, key, volume) => set((s) => ({ preprocessed: { ...s.preprocessed, [volumeId]: { key, volume } } })),
  setShowPreprocessed: (showPreprocessed) => set({ showPreprocessed }),
}));

/** Loaded scans in panel order (label maps attached to scans are not rows of their own). */
export function loadedScans(s: Pick<DatasetState, 'rows' | 'volumes'>): Volume[] {
  return s.rows.flatMap((r) => (r.volumeId && s.volumes[r.volumeId] && !r.pendingLabel ? [s.volumes[r.volumeId]] : []));
}
