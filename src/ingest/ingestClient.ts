// Main-thread side of the ingest worker: one shared module worker; each call is a batch whose
// events (planned, progress, loaded, failed, done) go to the listener given for it.
import type { FromIngestWorker, IngestRoot } from './types';

export type IngestListener = (msg: FromIngestWorker) => void;

let worker: Worker | null = null;
let batchCounter = 0;
const listeners = new Map<string, IngestListener>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./ingest.worker.ts', import.meta.url), { type: 'module', name: 'ingest' });
  w.onmessage = (e: MessageEvent<FromIngestWorker>) => {
    const msg = e.data;
    listeners.get(msg.batchId)?.(msg);
    if (msg.type === 'done') listeners.delete(msg.batchId);
  };
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    // A crashed worker (out of memory on a huge file…): fail every open batch, start fresh next time.
    const message = `the ingest worker stopped${e.message ? `: ${e.message}` : ''}`;
    for (const [batchId, listener] of listeners) {
      listener({ type: 'failed', batchId, unitId: `${batchId}:crash`, message });
      listener({ type: 'done', batchId });
    }
    listeners.clear();
    w.terminate();
    worker = null;
  };
  worker = w;
  return w;
}

/** Start loading; returns the batch id that tags every event of this batch. */
export function startIngest(roots: IngestRoot[], listener: IngestListener): string {
  batchCounter += 1;
  const batchId = `b${batchCounter}`;
  listeners.set(batchId, listener);
  getWorker().postMessage({ type: 'ingest', batchId, roots });
  return batchId;
}
