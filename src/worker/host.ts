// The training worker's brain, free of `self`: it turns protocol messages into Trainer calls and posts the
// answers through an injected `post`. training.worker.ts binds it to the worker scope; tests drive it directly
// under Node. Every Trainer call runs through one queue, so a checkpoint or an embedding request never
// interleaves with a step in flight: requests are served between steps.
import type { PreprocessedVolume } from '../volume/volume';
import type { CropSpec } from '../voco/cropPlan';
import { NonFiniteLossError, Trainer } from './trainer';
import { MapJobs } from './mapHandler';
import {
  trainerStateTransferables,
  type BackendChoice,
  type BackendInfo,
  type EmbedCrop,
  type FromWorker,
  type RunConfig,
  type ToWorker,
  type TrainingState,
} from './protocol';

export interface HostDeps {
  /** Sends a message to the main thread; `transfer` lists buffers to move instead of copy. */
  post(msg: FromWorker, transfer?: ArrayBuffer[]): void;
  /** Starts the tfjs backend for a choice (src/backend initBackend). */
  initBackend(choice: BackendChoice, opts?: { halfPrecisionMatmul?: boolean }): Promise<BackendInfo>;
  /** Subscribes to WebGPU uncaptured errors (src/backend onGpuError); returns an unsubscribe function. */
  onGpuError?(cb: (message: string) => void): () => void;
  /** Builds a trainer (default Trainer.create); tests may wrap it. */
  createTrainer?(config: RunConfig, volumes: PreprocessedVolume[]): Promise<Trainer>;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A failure message with the likely cause when the backend ran out of memory (wasm aborts, GPU OOM). */
export function explainFailure(err: unknown, backend: string | undefined): string {
  const text = errorText(err);
  if (/Aborted\(|memory access out of bounds|out of memory|Cannot enlarge memory|OOM/i.test(text)) {
    return (
      `${text} — the ${backend ?? 'tfjs'} backend most likely ran out of memory (the wasm heap ends at 4 GB; a GPU at its ` +
      `buffer limits): choose a smaller preset, a smaller crop size r, or fewer volumes / random crops per step, then reload the page`
    );
  }
  return text;
}

export class TrainingHost {
  private trainer: Trainer | null = null;
  private volumes = new Map<string, PreprocessedVolume>();
  private backend: BackendInfo | null = null;
  private backendChoice: BackendChoice | null = null;
  private halfPrecision = false;
  private state: TrainingState = 'idle';
  private loop: Promise<void> | null = null;
  private pauseRequested = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  /** Serialises every trainer operation (steps, checkpoints, embeddings, rebuilds). */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unsubscribeGpu: (() => void) | null;
  /** Similarity-map jobs (src/worker/mapHandler.ts); they run through the same queue as the steps. */
  private readonly maps: MapJobs;

  constructor(private readonly deps: HostDeps) {
    this.maps = new MapJobs({
      post: deps.post,
      exclusive: (fn) => this.exclusive(fn),
      trainer: () => this.requireTrainer(),
      backendName: () => this.backend?.name ?? 'unknown',
    });
    this.unsubscribeGpu =
      deps.onGpuError?.((message) => {
        deps.post({ type: 'gpu-error', message });
        // Results after a GPU error may be silently wrong: stop advancing until the user decides.
        if (this.state === 'running') this.pauseRequested = true;
      }) ?? null;
  }

  /** The current training-loop state. */
  get trainingState(): TrainingState {
    return this.state;
  }

  /** Resolves when the training loop (if any) has ended. */
  async whenLoopEnds(): Promise<void> {
    await this.loop;
  }

  /** Handles one message; never throws (errors become `error` messages). */
  async handle(msg: ToWorker): Promise<void> {
    try {
      switch (msg.type) {
        case 'configure':
          await this.configure(msg.config, msg.volumes);
          break;
        case 'start':
          this.start();
          break;
        case 'pause':
          if (this.state === 'running') this.pauseRequested = true;
          break;
        case 'resume':
          if (this.state === 'paused' || this.pauseRequested) {
            this.pauseRequested = false;
            this.wake?.();
          }
          break;
        case 'stop':
          await this.stopLoop();
          break;
        case 'set-total-steps':
          await this.exclusive(() => this.requireTrainer().setTotalSteps(msg.totalSteps));
          break;
        case 'checkpoint-request':
          await this.sendCheckpoint(msg.requestId, 'request');
          break;
        case 'load-checkpoint':
          await this.loadCheckpoint(msg.requestId, msg.state);
          break;
        case 'embed':
          await this.embed(msg.requestId, msg.crops);
          break;
        case 'similarity-map':
        case 'cancel-map':
        case 'crop-similarity':
          await this.maps.handle(msg);
          break;
        default:
          throw new Error(`Unknown message type ${JSON.stringify((msg as { type?: unknown }).type)}`);
      }
    } catch (err) {
      const requestId = 'requestId' in msg ? msg.requestId : undefined;
      const fatal = msg.type === 'configure';
      this.deps.post({ type: 'error', message: explainFailure(err, this.backend?.name), fatal, ...(requestId !== undefined ? { requestId } : {}) });
    }
  }

  /** Stops the loop and frees the trainer (worker shutdown, tests). */
  async dispose(): Promise<void> {
    await this.stopLoop();
    await this.exclusive(() => {
      this.trainer?.dispose();
      this.trainer = null;
      this.maps.dispose();
    });
    this.unsubscribeGpu?.();
  }

  // ---- messages -----------------------------------------------------------------------------------------

  private async configure(config: RunConfig, volumes: PreprocessedVolume[]): Promise<void> {
    await this.stopLoop();
    for (const v of volumes) this.volumes.set(v.id, v);
    await this.exclusive(async () => {
      this.trainer?.dispose();
      this.trainer = null;
      const half = !!config.halfPrecisionMatmul;
      if (this.backendChoice !== config.backend || this.halfPrecision !== half || !this.backend) {
        this.backend = await this.deps.initBackend(config.backend, { halfPrecisionMatmul: half });
        this.backendChoice = config.backend;
        this.halfPrecision = half;
      }
      this.trainer = await this.build(config);
    });
    this.setState('idle');
    this.postReady();
  }

  private start(): void {
    this.requireTrainer();
    if (this.loop) {
      // Already looping: a start while paused means resume.
      this.pauseRequested = false;
      this.wake?.();
      return;
    }
    this.pauseRequested = false;
    this.stopRequested = false;
    this.loop = this.runLoop().finally(() => {
      this.loop = null;
    });
  }

  private async loadCheckpoint(requestId: number, state: import('./protocol').TrainerState): Promise<void> {
    await this.stopLoop();
    if (!this.backend) throw new Error('Configure the run (backend and volumes) before loading a checkpoint');
    await this.exclusive(async () => {
      const fresh = await this.build(state.config);
      try {
        fresh.importState(state);
      } catch (err) {
        fresh.dispose();
        throw err;
      }
      this.trainer?.dispose();
      this.trainer = fresh;
    });
    this.deps.post({ type: 'checkpoint-loaded', requestId, step: this.trainer!.stepIndex });
    this.setState('idle');
    this.postReady();
  }

  private async sendCheckpoint(requestId: number | null, reason: 'request' | 'auto'): Promise<void> {
    const state = await this.exclusive(() => this.requireTrainer().exportState());
    this.deps.post({ type: 'checkpoint', requestId, reason, state }, trainerStateTransferables(state));
  }

  private async embed(requestId: number, crops: EmbedCrop[]): Promise<void> {
    await this.exclusive(async () => {
      const trainer = this.requireTrainer();
      const ids = trainer.runConfig.volumeIds;
      const specs: CropSpec[] = crops.map((c) => {
        const volume = ids.indexOf(c.volumeId);
        if (volume < 0) throw new Error(`embed: volume "${c.volumeId}" is not part of the run (${ids.join(', ')})`);
        return { volume, origin: c.origin, flip: c.flip ?? [false, false, false], rot90: c.rot90 ?? 0, shift: c.shift ?? 0 };
      });
      const data = await trainer.embedCrops(specs);
      this.deps.post({ type: 'embedding', requestId, dim: trainer.embedDim, count: crops.length, data }, [data.buffer as ArrayBuffer]);
    });
  }

  // ---- the loop -----------------------------------------------------------------------------------------

  private async runLoop(): Promise<void> {
    this.setState('running');
    for (;;) {
      if (this.stopRequested) {
        this.setState('stopped');
        return;
      }
      if (this.pauseRequested) {
        this.setState('paused');
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        if (!this.stopRequested && !this.pauseRequested) this.setState('running');
        continue;
      }
      const trainer = this.requireTrainer();
      if (trainer.stepIndex >= trainer.runConfig.totalSteps) {
        this.setState('done');
        return;
      }
      try {
        const metrics = await this.exclusive(() => trainer.step());
        this.deps.post({ type: 'step', metrics });
        const every = trainer.runConfig.checkpointEvery;
        if (every > 0 && trainer.stepIndex % every === 0) await this.sendCheckpoint(null, 'auto');
      } catch (err) {
        if (err instanceof NonFiniteLossError) {
          // Recoverable: the weights are the last good ones. Pause so the user can change the run or load a checkpoint.
          this.deps.post({ type: 'error', message: err.message, fatal: false });
          this.pauseRequested = true;
        } else {
          this.deps.post({ type: 'error', message: `Training stopped at step ${trainer.stepIndex}: ${explainFailure(err, this.backend?.name)}`, fatal: true });
          this.setState('stopped');
          return;
        }
      }
      // Let pause/stop/checkpoint messages in between steps.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  private async stopLoop(): Promise<void> {
    if (!this.loop) return;
    this.stopRequested = true;
    this.wake?.();
    await this.loop;
    this.stopRequested = false;
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  private async build(config: RunConfig): Promise<Trainer> {
    const missing = config.volumeIds.filter((id) => !this.volumes.has(id));
    if (missing.length) throw new Error(`The run needs volumes that were never sent to the worker: ${missing.join(', ')}`);
    const volumes = config.volumeIds.map((id) => this.volumes.get(id)!);
    return (this.deps.createTrainer ?? Trainer.create)(config, volumes);
  }

  private postReady(): void {
    const trainer = this.requireTrainer();
    const counts = trainer.paramCounts();
    this.deps.post({
      type: 'ready',
      backend: this.backend!,
      paramCount: counts.total,
      paramCounts: counts,
      embedDim: trainer.embedDim,
      step: trainer.stepIndex,
    });
  }

  private setState(state: TrainingState): void {
    this.state = state;
    this.deps.post({ type: 'state', state, step: this.trainer?.stepIndex });
  }

  private requireTrainer(): Trainer {
    if (!this.trainer) throw new Error('No run is configured: send `configure` first');
    return this.trainer;
  }

  private exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
