// Matmul throughput on the CURRENT tfjs backend: what the auto probe and the benchmark compare.
import * as tf from '@tensorflow/tfjs-core';

export interface MatmulMeasurement {
  size: number;
  /** Best GFLOP/s over the timed rounds (peak sustained throughput for this size). */
  gflops: number;
  /** Median GFLOP/s over the timed rounds. */
  medianGflops: number;
  /** Timed rounds and matmuls per round (GPU backends queue several before one sync). */
  rounds: number;
  perRound: number;
  /** Wall time of the warm-up (shader compile, first allocation), ms. */
  warmupMs: number;
}

const now = () => performance.now();

/**
 * Times n×n·n×n float32 matmuls after one warm-up. GPU backends queue `perRound` matmuls and wait on
 * the last (one queue, so all are done); that hides the read-back latency a single small matmul would
 * be dominated by. Stops after `budgetMs` of timed work or `maxRounds` rounds, whichever comes first
 * (at least `minRounds` rounds).
 */
export async function measureMatmul(
  size: number,
  opts: { budgetMs?: number; minRounds?: number; maxRounds?: number; perRound?: number } = {},
): Promise<MatmulMeasurement> {
  const budgetMs = opts.budgetMs ?? 300;
  const minRounds = opts.minRounds ?? 2;
  const maxRounds = opts.maxRounds ?? 50;
  const gpu = tf.getBackend() === 'webgpu' || tf.getBackend() === 'webgl';
  const perRound = opts.perRound ?? (gpu ? 4 : 1);
  const a = tf.randomUniform([size, size], -1, 1, 'float32', 1);
  const b = tf.randomUniform([size, size], -1, 1, 'float32', 2);
  const flops = 2 * size ** 3;
  try {
    let t0 = now();
    const w = tf.matMul(a, b);
    await w.data();
    w.dispose();
    const warmupMs = now() - t0;
    const rates: number[] = [];
    const start = now();
    while (rates.length < maxRounds && (rates.length < minRounds || now() - start < budgetMs)) {
      t0 = now();
      let last: tf.Tensor | null = null;
      for (let i = 0; i < perRound; i++) {
        last?.dispose();
        last = tf.matMul(a, b);
      }
      await last!.data();
      last!.dispose();
      rates.push((flops * perRound) / ((now() - t0) * 1e6));
    }
    const sorted = [...rates].sort((x, y) => x - y);
    return {
      size,
      gflops: sorted[sorted.length - 1],
      medianGflops: sorted[Math.floor(sorted.length / 2)],
      rounds: rates.length,
      perRound,
      warmupMs,
    };
  } finally {
    a.dispose();
    b.dispose();
  }
}
