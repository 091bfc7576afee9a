// Main-thread side of the preprocessing worker: one shared module worker, requests matched by id.
import type { PreprocessedVolume, Volume } from '../volume/volume';
import type { PreprocessRequest, PreprocessResponse } from './messages';
import type { PreprocessSettings } from './settings';

interface Pending {
  name: string;
  resolve: (pv: PreprocessedVolume) => void;
  reject: (err: Error) => void;
}

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();

/** Fail every waiting request and drop the worker so the next call starts a fresh one. */
function failAll(reason: string): void {
  for (const [id, p] of pending) {
    p.reject(new Error(`Preprocessing "${p.name}" failed: ${reason}`));
    pending.delete(id);
  }
  worker?.terminate();
  worker = null;
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./preprocess.worker.ts', import.meta.url), { type: 'module', name: 'preprocess' });
  w.onmessage = (event: MessageEvent<PreprocessResponse>) => {
    const msg = event.data;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(msg.message));
  };
  w.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    failAll(`the preprocessing worker crashed${event.message ? `: ${event.message}` : ''}`);
  };
  w.onmessageerror = () => failAll('a message from the preprocessing worker could not be read');
  worker = w;
  return w;
}

/**
 * preprocessVolume in a module worker. The input is copied (the viewer keeps its scan) unless `transferInput`
 * is set, in which case vol.data and vol.labels are handed over and become unusable here. The result's buffers
 * are transferred back. Errors reject with a message naming the volume.
 */
export function preprocessInWorker(
  vol: Volume,
  settings: PreprocessSettings,
  opts: { transferInput?: boolean } = {},
): Promise<PreprocessedVolume> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    let w: Worker;
    try {
      w = getWorker();
    } catch (err) {
      reject(new Error(`Preprocessing "${vol.name}" failed: could not start the worker: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    pending.set(id, { name: vol.name, resolve, reject });
    const request: PreprocessRequest = { id, volume: vol, settings };
    const transfer: Transferable[] = [];
    if (opts.transferInput) {
      transfer.push(vol.data.buffer as ArrayBuffer);
      if (vol.labels && vol.labels.buffer !== vol.data.buffer) transfer.push(vol.labels.buffer as ArrayBuffer);
    }
    try {
      w.postMessage(request, transfer);
    } catch (err) {
      pending.delete(id);
      reject(new Error(`Preprocessing "${vol.name}" failed: could not send it to the worker: ${err instanceof Error ? err.message : String(err)}`));
    }
  });
}

/** Stop the worker (e.g. on page teardown); waiting requests reject. */
export function disposePreprocessWorker(): void {
  failAll('the preprocessing worker was stopped');
}
