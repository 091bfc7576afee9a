// Loads runs into the comparison: saved runs from IndexedDB (their last checkpoint's curves), .voco run files
// and metrics CSV files (e.g. written by the Python package for the cluster part of a run), and the current run
// from the run store. Not React; results go into the compare store.
import { loadRun } from '../../persist/checkpoints';
import { readRunFileSummary, RUN_FILE_EXTENSION } from '../../persist/runFile';
import type { RunMeta } from '../../persist/savedRun';
import { comparedRun, parseMetricsCsv, type ComparedRun } from '../../store/runCompare';
import { addFileRun, addLoadedRun, forgetLoaded, selectRun, setLoading, useCompareStore } from '../../store/compareStore';
import { runHistory, useRunStore } from '../../store/runStore';

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

let fileCounter = 0;
/** savedAt of the copy read for each saved run, to read it again when a newer checkpoint is saved. */
const readAt = new Map<string, number>();

/** Picks or unpicks a run; a saved run is read from IndexedDB the first time. */
export async function toggleRun(key: string, on: boolean): Promise<void> {
  selectRun(key, on);
  if (on && key.startsWith('saved:') && !useCompareStore.getState().loaded[key]) await loadSaved(key);
}

async function loadSaved(key: string): Promise<void> {
  const id = key.slice('saved:'.length);
  setLoading(key, true);
  try {
    const run = await loadRun(id);
    readAt.set(key, run.meta.savedAt);
    addLoadedRun(
      comparedRun({
        key,
        label: run.meta.name,
        origin: 'saved',
        config: run.meta.config,
        volumes: run.meta.volumes.map((v) => ({ name: v.name, sha256: v.sha256 })),
        history: run.metrics,
        markers: run.meta.markers,
      }),
    );
  } catch (err) {
    selectRun(key, false);
    useCompareStore.setState({ message: { ok: false, text: `Could not read saved run: ${errorText(err)}` } });
  } finally {
    setLoading(key, false);
  }
}

/** Saved runs changed (new checkpoint, deleted run): re-read the selected ones that changed, drop the gone. */
export async function syncSaved(saved: RunMeta[]): Promise<void> {
  const s = useCompareStore.getState();
  const byKey = new Map(saved.map((m) => [`saved:${m.id}`, m]));
  for (const key of Object.keys(s.loaded)) {
    if (!key.startsWith('saved:')) continue;
    const meta = byKey.get(key);
    if (!meta) {
      forgetLoaded(key);
      selectRun(key, false);
    } else if (readAt.get(key) !== meta.savedAt) {
      forgetLoaded(key);
      if (useCompareStore.getState().selected.includes(key)) await loadSaved(key);
    }
  }
}

/** The active run of the studio as a compared run (its history as it is now), or null when there is none. */
export function currentRun(): ComparedRun | null {
  const s = useRunStore.getState();
  if (!s.runId || !s.config) return null;
  return comparedRun({
    key: 'current',
    label: `${s.runName ?? s.runId} (current)`,
    origin: 'current',
    config: s.config,
    volumes: s.runVolumes.map((v) => ({ name: v.name, sha256: v.sha256 })),
    history: runHistory.snapshot(),
    markers: s.markers,
  });
}

/** Reads .voco run files and metrics CSVs into the comparison (each picked at once); a bad file is named and skipped. */
export async function importFiles(files: File[]): Promise<void> {
  const problems: string[] = [];
  let added = 0;
  for (const f of files) {
    try {
      const run = await readFile(f);
      addFileRun(run, f.name);
      added++;
    } catch (err) {
      problems.push(errorText(err));
    }
  }
  useCompareStore.setState({
    message: problems.length ? { ok: false, text: problems.join('\n') } : { ok: true, text: `Added ${added} run${added === 1 ? '' : 's'} from file${added === 1 ? '' : 's'}` },
  });
}

async function readFile(f: File): Promise<ComparedRun> {
  const key = `file:${++fileCounter}`;
  const lower = f.name.toLowerCase();
  if (lower.endsWith('.csv')) {
    const parsed = parseMetricsCsv(await f.text(), f.name);
    return comparedRun({
      key,
      label: f.name.replace(/\.csv$/i, ''),
      origin: 'file',
      config: null,
      volumes: null,
      history: { columns: { ...parsed.metrics, step: parsed.steps }, length: parsed.steps.length },
      markers: parsed.markers,
    });
  }
  if (lower.endsWith(RUN_FILE_EXTENSION) || lower.endsWith('.zip')) {
    const summary = readRunFileSummary(new Uint8Array(await f.arrayBuffer()), f.name);
    const m = summary.metrics;
    return comparedRun({
      key,
      label: `${summary.meta.name ?? f.name} (${f.name})`,
      origin: 'file',
      config: summary.config,
      volumes: Array.isArray(summary.meta.volumes) ? summary.meta.volumes.map((v) => ({ name: v.name, sha256: v.sha256 })) : null,
      history: { columns: { ...m.metrics, step: m.steps }, length: m.steps.length },
      markers: summary.meta.markers ?? [],
    });
  }
  throw new Error(`${f.name}: not a run file (${RUN_FILE_EXTENSION}) or a metrics CSV (.csv)`);
}
