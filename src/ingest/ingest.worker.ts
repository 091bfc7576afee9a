/// <reference lib="webworker" />
// The ingest worker: reads, inflates, decodes and checks every dropped file off the main thread,
// and hands each finished Volume back with its voxel buffer transferred (not copied).
import { makeDisplayCopy } from './displayCopy';
import { loadUnit } from './loadUnit';
import { planRoots } from './plan';
import type { FromIngestWorker, ToIngestWorker } from './types';

declare const self: DedicatedWorkerGlobalScope;

const post = (msg: FromIngestWorker, transfer: Transferable[] = []) => self.postMessage(msg, transfer);

// Batches run one after another: the machine may have two cores, and the user sees rows fill in order.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<ToIngestWorker>) => {
  const msg = e.data;
  if (msg.type !== 'ingest') return;
  queue = queue.then(() => runBatch(msg.batchId, msg.roots)).catch(() => {});
};

async function runBatch(batchId: string, roots: ToIngestWorker['roots']) {
  try {
    const plan = await planRoots(roots);
    const units = plan.units.map((u, i) => ({ ...u, unitId: `${batchId}:${i}` }));
    post({
      type: 'planned',
      batchId,
      units: units.map((u) => ({ unitId: u.unitId, name: u.name, format: u.format, files: u.files.map((f) => f.path) })),
      problems: plan.problems,
      leftOut: plan.leftOut,
    });
    for (const unit of units) {
      let last = 0;
      try {
        const { results, problems, leftOut } = await loadUnit(unit, (fraction, stage) => {
          // Throttle: a progress message per ~2% is plenty for a progress bar.
          if (fraction - last < 0.02 && fraction < 1) return;
          last = fraction;
          post({ type: 'progress', batchId, unitId: unit.unitId, fraction, stage });
        });
        // Over the display budget: a block-averaged copy for the viewer, made here and not on the main thread.
        for (const r of results) {
          const copy = makeDisplayCopy(r.volume, undefined, (f) => post({ type: 'progress', batchId, unitId: unit.unitId, fraction: 0.95 + 0.05 * f, stage: 'display copy' }));
          if (copy) r.volume.display = copy; // the viewer says so; not a problem of the scan
        }
        const transfer = results.flatMap((r) => [r.volume.data.buffer as ArrayBuffer, ...(r.volume.display ? [r.volume.display.data.buffer as ArrayBuffer] : [])]);
        post({ type: 'loaded', batchId, unitId: unit.unitId, results, problems, leftOut }, transfer);
      } catch (err) {
        post({ type: 'failed', batchId, unitId: unit.unitId, message: (err as Error).message || String(err) });
      }
    }
  } catch (err) {
    post({ type: 'failed', batchId, unitId: `${batchId}:plan`, message: (err as Error).message || String(err) });
  }
  post({ type: 'done', batchId });
}
