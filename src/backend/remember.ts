// The `auto` probe's choice, remembered per device in IndexedDB (workers have no localStorage).
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { BackendName } from '../worker/protocol';

export interface RememberedChoice {
  name: BackendName;
  reason: string;
  at?: string;
}

let store: UseStore | null = null;
const hasIndexedDb = () => typeof indexedDB !== 'undefined';
const db = () => (store ??= createStore('voco-studio-backend', 'choices'));

/** Never throws: a broken or missing IndexedDB just means probing again next time. */
export async function recallChoice(key: string): Promise<RememberedChoice | null> {
  if (!hasIndexedDb()) return null;
  try {
    const v = await get<RememberedChoice>(key, db());
    return v && typeof v.name === 'string' ? { ...v, reason: `${v.reason}${v.at ? `, probed ${v.at}` : ''}` } : null;
  } catch {
    return null;
  }
}

export async function rememberChoice(key: string, choice: RememberedChoice): Promise<void> {
  if (!hasIndexedDb()) return;
  try {
    await set(key, { ...choice, at: new Date().toISOString() }, db());
  } catch {
    /* private mode or quota: nothing to remember */
  }
}

export async function forgetChoice(key: string): Promise<void> {
  if (!hasIndexedDb()) return;
  try {
    await del(key, db());
  } catch {
    /* nothing to forget */
  }
}

/** Any small JSON value remembered per key (the WebGPU kernel choice per adapter). Never throws. */
export async function recallValue<T>(key: string): Promise<T | null> {
  if (!hasIndexedDb()) return null;
  try {
    return ((await get<T>(key, db())) ?? null) as T | null;
  } catch {
    return null;
  }
}

export async function rememberValue<T>(key: string, value: T): Promise<void> {
  if (!hasIndexedDb()) return;
  try {
    await set(key, value, db());
  } catch {
    /* nothing to remember */
  }
}
