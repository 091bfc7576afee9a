// The scaling sweep's weights: for each preset, a Trainer pre-trains on the pre-training volumes and its weights are
// handed to the benchmark at each requested length (step 0: the random initialisation, which is exactly
// VocoModel.create(preset, r, seed), the same weights the Trainer starts from).
import type { WeightsSource } from '../eval/benchmark';
import type { PreprocessedVolume } from '../volume/volume';
import type { BenchmarkSweep, BenchmarkWeightsSpec, RunConfig } from './protocol';
import { Trainer } from './trainer';

/** Steps between `pretrain` progress events. */
const REPORT_EVERY = 5;

export function sweepWeights(sweep: BenchmarkSweep, volumes: PreprocessedVolume[]): WeightsSource {
  return async function* ({ emit, checkCancelled, yield: breathe }) {
    const maxStep = sweep.steps[sweep.steps.length - 1];
    for (const preset of sweep.presets) {
      const config: RunConfig = { ...sweep.train, preset, volumeIds: volumes.map((v) => v.id), totalSteps: Math.max(1, maxStep) };
      let trainer: Trainer | null = null;
      try {
        for (const mark of sweep.steps) {
          checkCancelled();
          let weights: BenchmarkWeightsSpec['weights'];
          if (mark > 0) {
            trainer ??= await Trainer.create(config, volumes);
            while (trainer.stepIndex < mark) {
              checkCancelled();
              const m = await trainer.step();
              if (trainer.stepIndex % REPORT_EVERY === 0 || trainer.stepIndex === mark) {
                emit({ kind: 'pretrain', preset, step: trainer.stepIndex, loss: m.loss });
              }
              await breathe();
            }
            weights = (await trainer.exportState()).weights;
          }
          yield {
            id: `sweep:${preset}:${mark}`,
            label: mark === 0 ? `${preset} · random init` : `${preset} · ${mark} steps`,
            preset,
            cropSize: sweep.train.cropSize,
            seed: sweep.train.seed,
            step: mark,
            source: 'sweep',
            weights,
          };
        }
      } catch (err) {
        // A preset that cannot train (memory, a non-finite loss) ends its own sweep; the others still run.
        if ((err as Error)?.name === 'BenchmarkCancelledError') throw err;
        emit({ kind: 'skipped', task: 'sweep', weightsId: null, reason: `pre-training ${preset} stopped: ${err instanceof Error ? err.message : String(err)}` });
      } finally {
        trainer?.dispose();
      }
    }
  };
}

/** The request's given weights first, then the sweep. */
export function concatSources(...sources: WeightsSource[]): WeightsSource {
  return async function* (ctx) {
    for (const s of sources) yield* s(ctx);
  };
}
