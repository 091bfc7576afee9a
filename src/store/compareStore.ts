// The run-comparison store: which runs are compared (in the order picked, which gives their colours), the runs
// loaded for it (saved runs read from IndexedDB, run files and metrics CSVs read from disk), and the view settings.
// The current run is not copied here: the panel reads it from the run store (it grows while training).
import { create } from 'zustand';
import type { ComparedRun } from './runCompare';

export interface CompareFileEntry {
  key: string;
  name: string;
}

export interface CompareState {
  /** Keys of the compared runs: 'current', 'saved:<id>', 'file:<n>'. */
  selected: string[];
  /** Saved runs and files loaded for the comparison, by key. */
  loaded: Record<string, ComparedRun>;
  /** Files read into the comparison (newest last). */
  files: CompareFileEntry[];
  /** Saved runs being read from IndexedDB. */
  loading: string[];
  smooth: boolean;
  /** EMA β of the smoothed curves. */
  smoothing: number;
  log: boolean;
  sort: { key: string; dir: 'asc' | 'desc' } | null;
  /** Hide the settings all runs share. */
  onlyDiffering: boolean;
  message: { ok: boolean; text: string } | null;
}

export const useCompareStore = create<CompareState>()(() => ({
  selected: [],
  loaded: {},
  files: [],
  loading: [],
  smooth: true,
  smoothing: 0.6,
  log: false,
  sort: null,
  onlyDiffering: false,
  message: null,
}));

const set = useCompareStore.setState;

export function selectRun(key: string, on: boolean): void {
  set((s) => ({ selected: on ? (s.selected.includes(key) ? s.selected : [...s.selected, key]) : s.selected.filter((k) => k !== key) }));
}

export function addLoadedRun(run: ComparedRun): void {
  set((s) => ({ loaded: { ...s.loaded, [run.key]: run } }));
}

export function addFileRun(run: ComparedRun, name: string): void {
  set((s) => ({
    loaded: { ...s.loaded, [run.key]: run },
    files: [...s.files.filter((f) => f.key !== run.key), { key: run.key, name }],
    selected: s.selected.includes(run.key) ? s.selected : [...s.selected, run.key],
  }));
}

export function removeFileRun(key: string): void {
  set((s) => {
    const loaded = { ...s.loaded };
    delete loaded[key];
    return { loaded, files: s.files.filter((f) => f.key !== key), selected: s.selected.filter((k) => k !== key) };
  });
}

/** A saved run's cached copy is dropped (deleted, or saved again since it was read). */
export function forgetLoaded(key: string): void {
  set((s) => {
    if (!s.loaded[key]) return {};
    const loaded = { ...s.loaded };
    delete loaded[key];
    return { loaded };
  });
}

export function setLoading(key: string, on: boolean): void {
  set((s) => ({ loading: on ? [...s.loading, key] : s.loading.filter((k) => k !== key) }));
}

export function toggleSort(key: string): void {
  set((s) => ({ sort: s.sort?.key === key ? { key, dir: s.sort.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' } }));
}
