// The training worker's similarity-map jobs: the messages of MapToWorker turned into crop-sampler + encoder batches
// on the run's device-resident volumes (Trainer.embedOnDevice), with the map arithmetic of src/eval/similarityMap.
//
// A job runs as ONE operation of the host's queue: training steps wait until it ends (the weights stay those of
// one step for the whole map, and nothing the map does touches the optimizer), then the loop continues. Between
// batches the job yields to the event loop, so a `cancel-map` message is read and honoured at the next batch.
import * as tf from '@tensorflow/tfjs-core';
import { VocoModel } from '../model';
import { PRESETS, isSwinPreset, swinConfigOf } from '../model/presets';
import { swinActivationBytes } from '../model/swin/memory';
import { computeSimilarityMaps, cosineMatrix, defaultBatch, MapCancelledError, plainCrop, type MapEmbedder } from '../eval/similarityMap';
import type { Trainer } from './trainer';
import type { EmbedCrop, FromWorker, MapToWorker, MapWeights, SimilarityMapRequest } from './protocol';

export interface MapJobDeps {
  post(msg: FromWorker, transfer?: ArrayBuffer[]): void;
  /** Runs fn as one operation of the trainer queue (TrainingHost.exclusive). */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T>;
  /** The configured trainer (throws when none). */
  trainer(): Trainer;
  /** Name of the active tfjs backend, for the result. */
  backendName?(): string;
}

/**
 * Crops per batch: the default (about 2 M voxels) for the ViT; for the reference encoder, whose forward pass holds
 * hundreds of MB per 64³ crop even without gradients (a batch of 4 fixture-size crops reached the 4 GiB wasm heap),
 * as many as fit 1 GiB by the run setup's per-crop estimate (at least 1).
 */
function mapBatch(trainer: Trainer, r: number): number {
  const preset = PRESETS[trainer.runConfig.preset];
  if (!preset || !isSwinPreset(preset)) return defaultBatch(r);
  const perCrop = swinActivationBytes(swinConfigOf(preset), r, 1).bytes;
  return Math.max(1, Math.min(defaultBatch(r), Math.floor(2 ** 30 / perCrop)));
}

/** Progress messages at most this often (a map has tens to thousands of batches). */
const PROGRESS_MS = 100;
/** Wall time one batch should take when the batch adapts (see computeSimilarityMaps). */
const TARGET_BATCH_MS = 1000;

export class MapJobs {
  /** Jobs asked for and not yet ended, and those of them to cancel. */
  private readonly pending = new Set<number>();
  private readonly cancelled = new Set<number>();
  /** The untrained model of the current run, kept between maps (rebuilt when preset/crop size/seed change). */
  private initial: { key: string; model: VocoModel } | null = null;

  constructor(private readonly deps: MapJobDeps) {}

  /** Handles a MapToWorker message; errors propagate to the host (which answers `error` with the requestId). */
  async handle(msg: MapToWorker): Promise<void> {
    switch (msg.type) {
      case 'cancel-map':
        if (this.pending.has(msg.requestId)) this.cancelled.add(msg.requestId);
        return;
      case 'similarity-map':
        return this.similarityMap(msg.requestId, msg.request);
      case 'crop-similarity':
        return this.cropSimilarity(msg.requestId, msg.crops, msg.weights);
    }
  }

  dispose(): void {
    this.initial?.model.dispose();
    this.initial = null;
  }

  private async similarityMap(requestId: number, req: SimilarityMapRequest): Promise<void> {
    const t0 = performance.now();
    let lastProgress = 0;
    this.pending.add(requestId);
    try {
      await this.deps.exclusive(async () => {
        // A cancel that arrived while the job waited for the queue.
        if (this.cancelled.has(requestId)) throw new MapCancelledError(0, 0);
        const trainer = this.deps.trainer();
        const cfg = trainer.runConfig;
        const volume = volumeIndex(trainer, req.volumeId, 'similarity map');
        const dims = trainer.volumeDims[volume];
        checkOrigin(req.origin, dims, cfg.cropSize);
        const r = cfg.cropSize;
        if (!Number.isInteger(req.stride) || req.stride < 1 || req.stride > r) {
          throw new Error(`similarity map: stride ${req.stride} must be an integer from 1 to the crop size ${r}`);
        }
        if (!req.weights?.length) throw new Error('similarity map: no weights requested');
        const models = req.weights.map((w) => this.model(trainer, w));
        try {
          const computed = await computeSimilarityMaps({
            volume,
            dims,
            r,
            stride: req.stride,
            layout: req.layout ?? 'sliding',
            origin: req.origin,
            dim: trainer.embedDim,
            batch: req.batch ?? mapBatch(trainer, r),
            // Unless the caller fixed the batch: about a second per batch, so a cancel is quick on any backend.
            targetBatchMs: req.batch ? undefined : TARGET_BATCH_MS,
            embedders: models.map((m) => embedder(trainer, m.model)),
            cancelled: () => this.cancelled.has(requestId),
            pause: () => new Promise((resolve) => setTimeout(resolve, 0)),
            onProgress: (done, total) => {
              const now = performance.now();
              if (now - lastProgress < PROGRESS_MS && done < total) return;
              lastProgress = now;
              this.deps.post({ type: 'map-progress', requestId, done, total });
            },
          });
          const maps = computed.maps.map((m, i) => ({ ...models[i].describe, values: m.values, querySelf: m.querySelf }));
          this.deps.post(
            {
              type: 'map-result',
              requestId,
              result: {
                volumeId: req.volumeId,
                origin: [...req.origin] as [number, number, number],
                grid: computed.grid,
                maps,
                embedDim: trainer.embedDim,
                ms: performance.now() - t0,
                backend: this.deps.backendName?.() ?? tf.getBackend(),
              },
            },
            maps.map((m) => m.values.buffer as ArrayBuffer),
          );
        } finally {
          for (const m of models) m.release();
        }
      });
    } catch (err) {
      if (!(err instanceof MapCancelledError)) throw err;
      this.deps.post({ type: 'map-cancelled', requestId, done: err.done, total: err.total });
    } finally {
      this.pending.delete(requestId);
      this.cancelled.delete(requestId);
    }
  }

  private async cropSimilarity(requestId: number, crops: EmbedCrop[], weights: MapWeights[]): Promise<void> {
    await this.deps.exclusive(async () => {
      const trainer = this.deps.trainer();
      if (!crops.length) throw new Error('crop similarity: no crops given');
      const specs = crops.map((c) => {
        const volume = volumeIndex(trainer, c.volumeId, 'crop similarity');
        return { ...plainCrop(volume, [...c.origin] as [number, number, number]), flip: c.flip ?? [false, false, false], rot90: c.rot90 ?? 0, shift: c.shift ?? 0 };
      });
      const matrices: { kind: MapWeights['kind']; label: string; step: number; values: Float32Array }[] = [];
      for (const w of weights) {
        const m = this.model(trainer, w);
        try {
          const rows = await embedder(trainer, m.model).embed(specs);
          matrices.push({ ...m.describe, values: cosineMatrix(rows, trainer.embedDim) });
        } finally {
          m.release();
        }
      }
      this.deps.post({ type: 'crop-similarity-result', requestId, count: crops.length, matrices }, matrices.map((m) => m.values.buffer as ArrayBuffer));
    });
  }

  /** The model for a weights choice; `release` frees it unless it is kept (the run's own, the cached initial one). */
  private model(trainer: Trainer, w: MapWeights): { model: VocoModel | undefined; describe: { kind: MapWeights['kind']; label: string; step: number }; release(): void } {
    const cfg = trainer.runConfig;
    switch (w.kind) {
      case 'current':
        return { model: undefined, describe: { kind: 'current', label: `step ${trainer.stepIndex}`, step: trainer.stepIndex }, release() {} };
      case 'initial': {
        const key = `${cfg.preset}|${cfg.cropSize}|${cfg.seed}`;
        if (this.initial?.key !== key) {
          this.initial?.model.dispose();
          this.initial = { key, model: VocoModel.create(trainer.preset, cfg.cropSize, cfg.seed) };
        }
        return { model: this.initial.model, describe: { kind: 'initial', label: `untrained (seed ${cfg.seed})`, step: 0 }, release() {} };
      }
      case 'checkpoint': {
        const model = VocoModel.create(trainer.preset, cfg.cropSize, cfg.seed);
        try {
          model.loadWeights(w.weights);
        } catch (err) {
          model.dispose();
          throw new Error(`checkpoint "${w.label}" does not fit this run's model: ${err instanceof Error ? err.message : String(err)}`);
        }
        return { model, describe: { kind: 'checkpoint', label: w.label, step: w.step }, release: () => model.dispose() };
      }
    }
  }
}

/** Embeds crops with the trainer's packed volumes and `model` (undefined: the run's encoder) and reads them back. */
function embedder(trainer: Trainer, model: VocoModel | undefined): MapEmbedder {
  return {
    async embed(crops) {
      const emb = trainer.embedOnDevice(crops, model);
      try {
        return (await emb.data()) as Float32Array;
      } finally {
        emb.dispose();
      }
    },
  };
}

function volumeIndex(trainer: Trainer, volumeId: string, what: string): number {
  const ids = trainer.runConfig.volumeIds;
  const i = ids.indexOf(volumeId);
  if (i < 0) throw new Error(`${what}: volume "${volumeId}" is not part of the run (${ids.join(', ')})`);
  return i;
}

/** The query crop must be integer voxels and its centre inside the volume. */
function checkOrigin(origin: readonly number[], dims: readonly number[], r: number): void {
  const ok =
    Array.isArray(origin) &&
    origin.length === 3 &&
    origin.every((o, a) => Number.isInteger(o) && o + (r - 1) / 2 > -0.5 && o + (r - 1) / 2 < dims[a] - 0.5);
  if (!ok) throw new Error(`similarity map: the query crop at origin [${origin}] (r = ${r}) must be centred inside the volume (${dims.join('×')})`);
}
