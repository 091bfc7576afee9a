/// <reference lib="webworker" />
// Label pairing off the main thread (see pairLabels.ts).
import { pairLabels, type PairRequest } from './pairLabels';

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (e: MessageEvent<PairRequest>) => {
  try {
    const r = pairLabels(e.data);
    const buffers = new Set<ArrayBuffer>([r.onGrid.buffer as ArrayBuffer]);
    if (r.merged) buffers.add(r.merged.labels.buffer as ArrayBuffer);
    self.postMessage(r, [...buffers]);
  } catch (err) {
    self.postMessage({ id: e.data.id, error: (err as Error).message });
  }
};
