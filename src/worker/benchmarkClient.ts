// Main-thread side of the benchmark: its own instance of the training worker (so a benchmark never competes with
// the training run for the backend or the worker's event loop), one request at a time, progress as events.
// Imports protocol types only.
import type { BenchmarkEvent, BenchmarkRequest, BenchmarkResult, FromWorker, ToWorker } from './protocol';
import type { WorkerLike } from './client';

export class BenchmarkCancelled extends Error {
  constructor() {
    super('Benchmark cancelled');
    this.name = 'BenchmarkCancelled';
  }
}

export class BenchmarkClient {
  private nextRequestId = 1;
  private pending = new Map<number, { onEvent: (e: BenchmarkEvent) => void; resolve: (r: BenchmarkResult) => void; reject: (e: Error) => void }>();

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (e: MessageEvent) => this.dispatch(e.data as FromWorker));
    worker.addEventListener('error', (e: ErrorEvent) => {
      e.preventDefault?.();
      this.failAll(`Benchmark worker failed: ${e.message || 'could not start'}`);
    });
  }

  static spawn(): BenchmarkClient {
    const worker = new Worker(new URL('./training.worker.ts', import.meta.url), { type: 'module', name: 'voco-benchmark' });
    return new BenchmarkClient(worker);
  }

  /**
   * Runs a benchmark; resolves with the result, rejects with the worker's message (or BenchmarkCancelled).
   * The volumes are copied: the studio keeps its own.
   */
  run(request: BenchmarkRequest, onEvent: (e: BenchmarkEvent) => void): { requestId: number; done: Promise<BenchmarkResult> } {
    const requestId = this.nextRequestId++;
    const done = new Promise<BenchmarkResult>((resolve, reject) => this.pending.set(requestId, { onEvent, resolve, reject }));
    this.send({ type: 'benchmark-run', requestId, request });
    return { requestId, done };
  }

  cancel(requestId: number): void {
    this.send({ type: 'benchmark-cancel', requestId });
  }

  terminate(): void {
    this.failAll('Benchmark worker stopped');
    this.worker.terminate();
  }

  private send(msg: ToWorker): void {
    this.worker.postMessage(msg, []);
  }

  private dispatch(msg: FromWorker): void {
    if (!('requestId' in msg) || typeof msg.requestId !== 'number') {
      // A fatal worker-level error (the script failed) ends every request.
      if (msg.type === 'error' && msg.fatal) this.failAll(msg.message);
      return;
    }
    const p = this.pending.get(msg.requestId);
    if (!p) return;
    switch (msg.type) {
      case 'benchmark-progress':
        p.onEvent(msg.event);
        break;
      case 'benchmark-result':
        this.pending.delete(msg.requestId);
        p.resolve(msg.result);
        break;
      case 'benchmark-cancelled':
        this.pending.delete(msg.requestId);
        p.reject(new BenchmarkCancelled());
        break;
      case 'error':
        this.pending.delete(msg.requestId);
        p.reject(new Error(msg.message));
        break;
    }
  }

  private failAll(message: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error(message));
    }
  }
}
