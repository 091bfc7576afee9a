// The downstream benchmark inside a training worker: BenchmarkToWorker messages become runBenchmark calls
// (src/eval/benchmark.ts) whose events are posted back as `benchmark-progress`, ending with `benchmark-result`,
// `benchmark-cancelled` or an `error` carrying the requestId. Runs one benchmark at a time.
//
// The studio starts the benchmark in its OWN instance of training.worker.ts (see benchmarkClient.ts), so it never
// shares a backend or the event loop with a training run; the request carries everything it needs (volumes,
// weights). The handler initialises the backend itself on the first request, and again if a request asks for
// another one.
import * as tf from '@tensorflow/tfjs-core';
import { BenchmarkCancelledError, givenWeights, runBenchmark } from '../eval/benchmark';
import { concatSources, sweepWeights } from './benchmarkSweep';
import type { BackendChoice, BackendInfo, BenchmarkRequest, BenchmarkToWorker, FromWorker, ToWorker } from './protocol';

export interface BenchmarkHandlerDeps {
  post(msg: FromWorker, transfer?: ArrayBuffer[]): void;
  initBackend(choice: BackendChoice): Promise<BackendInfo>;
}

export function isBenchmarkMessage(msg: ToWorker): msg is BenchmarkToWorker {
  return msg.type === 'benchmark-run' || msg.type === 'benchmark-cancel';
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class BenchmarkHandler {
  private readonly cancelled = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();
  private backend: { choice: BackendChoice; info: BackendInfo } | null = null;

  constructor(private readonly deps: BenchmarkHandlerDeps) {}

  /** Handles one message; never throws (failures become `error` messages with the requestId). */
  async handle(msg: BenchmarkToWorker): Promise<void> {
    if (msg.type === 'benchmark-cancel') {
      this.cancelled.add(msg.requestId);
      return;
    }
    const run = this.queue.then(() => this.run(msg.requestId, msg.request));
    this.queue = run.catch(() => undefined);
    await run;
  }

  private async run(requestId: number, request: BenchmarkRequest): Promise<void> {
    try {
      if (this.cancelled.has(requestId)) throw new BenchmarkCancelledError();
      if (!this.backend || this.backend.choice !== request.backend) {
        this.backend = { choice: request.backend, info: await this.deps.initBackend(request.backend) };
      }
      const backend = this.backend.info;
      const pretrain = request.pretrainVolumeIds.map((id) => request.volumes.find((v) => v.id === id)!).filter(Boolean);
      const source = request.sweep ? concatSources(givenWeights(request.weights), sweepWeights(request.sweep, pretrain)) : givenWeights(request.weights);
      const result = await runBenchmark(
        request,
        {
          emit: (event) => this.deps.post({ type: 'benchmark-progress', requestId, event }),
          cancelled: () => this.cancelled.has(requestId),
          yield: () => new Promise((resolve) => setTimeout(resolve, 0)),
          backendName: () => `${backend.name}${backend.software ? ' (software)' : ''}` || tf.getBackend(),
        },
        source,
      );
      this.deps.post({ type: 'benchmark-result', requestId, result });
    } catch (err) {
      if (err instanceof BenchmarkCancelledError) this.deps.post({ type: 'benchmark-cancelled', requestId });
      else this.deps.post({ type: 'error', message: `Benchmark: ${errorText(err)}`, fatal: false, requestId });
    } finally {
      this.cancelled.delete(requestId);
    }
  }
}
