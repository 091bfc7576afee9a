// Main-thread side of the label-pairing worker: one request at a time per call, answered in order.
import type { PairRequest, PairResult } from './pairLabels';

let worker: Worker | null = null;
let next = 0;
const pending = new Map<number, { resolve: (r: PairResult) => void; reject: (e: Error) => void }>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./pairLabels.worker.ts', import.meta.url), { type: 'module', name: 'pair-labels' });
  w.onmessage = (e: MessageEvent<PairResult & { error?: string }>) => {
    const p = pending.get(e.data.id);
    pending.delete(e.data.id);
    if (!p) return;
    if (e.data.error) p.reject(new Error(e.data.error));
    else p.resolve(e.data);
  };
  w.onerror = (e) => {
    e.preventDefault();
    for (const p of pending.values()) p.reject(new Error(`the label-pairing worker stopped${e.message ? `: ${e.message}` : ''}`));
    pending.clear();
    w.terminate();
    worker = null;
  };
  worker = w;
  return w;
}

/** Pair a label map with its scan in the worker. The label data and existing labels are copied, not moved. */
export function pairInWorker(req: Omit<PairRequest, 'id'>): Promise<PairResult> {
  const id = ++next;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    getWorker().postMessage({ ...req, id });
  });
}
