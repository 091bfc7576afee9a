// Saved runs in IndexedDB (idb-keyval): one small `meta:<id>` entry per run for the list, and one
// `ckpt:<id>` entry with the latest checkpoint (trainer state with its Float32Arrays, metric history).
// Both are written in one transaction, so a crash never leaves a listed run without its checkpoint.
import { createStore, del, delMany, entries, get, setMany, type UseStore } from 'idb-keyval';
import type { RunMeta, SavedRun } from './savedRun';

let store: UseStore | null = null;
const db = () => (store ??= createStore('voco-studio', 'runs'));

/** Ask the browser not to evict our data under storage pressure (best effort, no prompt in Chromium). */
export async function requestPersistentStorage(): Promise<boolean> {
  try {
    return (await navigator.storage?.persist?.()) ?? false;
  } catch {
    return false;
  }
}

export async function saveRun(run: SavedRun): Promise<void> {
  try {
    await setMany(
      [
        [`ckpt:${run.meta.id}`, { state: run.state, metrics: run.metrics }],
        [`meta:${run.meta.id}`, run.meta],
      ],
      db(),
    );
  } catch (err) {
    throw new Error(`Could not save run ${run.meta.name} at step ${run.meta.step}: ${describe(err)}`);
  }
}

/** Every saved run, newest checkpoint first. */
export async function listRuns(): Promise<RunMeta[]> {
  const all = await entries<string, unknown>(db());
  return all
    .filter(([k]) => typeof k === 'string' && k.startsWith('meta:'))
    .map(([, v]) => v as RunMeta)
    .sort((a, b) => b.savedAt - a.savedAt);
}

export async function loadRun(id: string): Promise<SavedRun> {
  const [meta, ckpt] = await Promise.all([get<RunMeta>(`meta:${id}`, db()), get<Omit<SavedRun, 'meta'>>(`ckpt:${id}`, db())]);
  if (!meta || !ckpt) throw new Error(`Saved run ${id} is ${meta ? 'missing its checkpoint' : 'not in this browser'}`);
  return { meta, ...ckpt };
}

export async function deleteRun(id: string): Promise<void> {
  await delMany([`meta:${id}`, `ckpt:${id}`], db());
}

export async function deleteAllRuns(): Promise<void> {
  for (const meta of await listRuns()) await deleteRun(meta.id);
  // Orphans (should not exist) are removed too.
  const left = await entries<string, unknown>(db());
  for (const [k] of left) await del(k, db());
}

function describe(err: unknown): string {
  if (err instanceof DOMException && err.name === 'QuotaExceededError') return 'the browser storage quota is full; delete old runs';
  return err instanceof Error ? err.message : String(err);
}
