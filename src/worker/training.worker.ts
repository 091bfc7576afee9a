// The dedicated training worker (module worker): binds TrainingHost to the worker scope. All tensors live here;
// the main thread talks to it only through the messages of protocol.ts (see client.ts).
import { initBackend, onGpuError } from '../backend/backends';
import { TrainingHost } from './host';
import { BenchmarkHandler, isBenchmarkMessage } from './benchmarkHandler';
import type { FromWorker, ToWorker } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => scope.postMessage(msg, transfer);

const host = new TrainingHost({ post, initBackend, onGpuError });
// Downstream benchmark jobs (the studio runs them in a separate instance of this worker; see benchmarkHandler.ts).
const benchmark = new BenchmarkHandler({ post, initBackend });

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  if (isBenchmarkMessage(e.data)) void benchmark.handle(e.data);
  else void host.handle(e.data);
};

// Anything that escapes the host is still reported, never swallowed.
scope.addEventListener('error', (e) => post({ type: 'error', message: `Training worker error: ${e.message}`, fatal: true }));
scope.addEventListener('unhandledrejection', (e) => {
  const reason = (e as PromiseRejectionEvent).reason;
  post({ type: 'error', message: `Training worker error: ${reason instanceof Error ? reason.message : String(reason)}`, fatal: true });
});
