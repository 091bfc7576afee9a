// Main-thread side of the training worker: typed commands, typed event subscriptions, and promises for the
// request/answer messages. Imports protocol types only (no tensors ever reach the main thread).
import type { PreprocessedVolume } from '../volume/volume';
import {
  trainerStateTransferables,
  type EmbedCrop,
  type FromWorker,
  type RunConfig,
  type ToWorker,
  type TrainerState,
} from './protocol';

export type WorkerEvent<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;
export type ReadyEvent = WorkerEvent<'ready'>;

/** The parts of a Worker the client uses (a real Worker, or a fake in tests). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  terminate(): void;
}

export class TrainingClient {
  private readonly listeners = new Map<string, Set<(msg: FromWorker) => void>>();
  private readonly anyListeners = new Set<(msg: FromWorker) => void>();
  private nextRequestId = 1;

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (e: MessageEvent) => this.dispatch(e.data as FromWorker));
    // A worker that fails to load (bad bundle, CSP) only raises `error` on the Worker object.
    worker.addEventListener('error', (e: ErrorEvent) => {
      e.preventDefault?.();
      this.dispatch({ type: 'error', message: `Training worker failed: ${e.message || 'could not start'}`, fatal: true });
    });
  }

  /** Starts the studio's training worker (a module worker bundled by Vite). */
  static spawn(): TrainingClient {
    const worker = new Worker(new URL('./training.worker.ts', import.meta.url), { type: 'module', name: 'voco-training' });
    return new TrainingClient(worker);
  }

  /** Subscribes to one message type; returns the unsubscribe function. */
  on<T extends FromWorker['type']>(type: T, cb: (msg: WorkerEvent<T>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const listener = cb as (msg: FromWorker) => void;
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** Subscribes to every message. */
  onAny(cb: (msg: FromWorker) => void): () => void {
    this.anyListeners.add(cb);
    return () => this.anyListeners.delete(cb);
  }

  /**
   * Builds the run in the worker; resolves with `ready`, rejects with the fatal error message.
   * `transfer: true` moves the volumes' buffers instead of copying them (the caller's arrays become unusable).
   */
  configure(config: RunConfig, volumes: PreprocessedVolume[], opts: { transfer?: boolean } = {}): Promise<ReadyEvent> {
    const transfer = opts.transfer ? volumeBuffers(volumes) : [];
    const answer = this.nextOf('ready', (e) => e.type === 'error' && e.fatal && e.requestId === undefined);
    this.send({ type: 'configure', config, volumes }, transfer);
    return answer;
  }

  start(): void {
    this.send({ type: 'start' });
  }
  pause(): void {
    this.send({ type: 'pause' });
  }
  resume(): void {
    this.send({ type: 'resume' });
  }
  stop(): void {
    this.send({ type: 'stop' });
  }
  setTotalSteps(totalSteps: number): void {
    this.send({ type: 'set-total-steps', totalSteps });
  }

  /** The full trainer state, taken between steps. */
  async checkpoint(): Promise<TrainerState> {
    const requestId = this.nextRequestId++;
    const answer = this.answerTo('checkpoint', requestId);
    this.send({ type: 'checkpoint-request', requestId });
    return (await answer).state;
  }

  /** Restores a checkpoint (the run's volumes must have been configured); resolves with its step. */
  async loadCheckpoint(state: TrainerState, opts: { transfer?: boolean } = {}): Promise<number> {
    const requestId = this.nextRequestId++;
    const answer = this.answerTo('checkpoint-loaded', requestId);
    this.send({ type: 'load-checkpoint', requestId, state }, opts.transfer ? trainerStateTransferables(state) : []);
    return (await answer).step;
  }

  /** GAP embeddings of crops (row-major, count × dim). */
  async embed(crops: EmbedCrop[]): Promise<{ dim: number; count: number; data: Float32Array }> {
    const requestId = this.nextRequestId++;
    const answer = this.answerTo('embedding', requestId);
    this.send({ type: 'embed', requestId, crops });
    const { dim, count, data } = await answer;
    return { dim, count, data };
  }

  /** Sends any protocol message as is (feature clients, e.g. the similarity maps in src/ui/maps/mapActions.ts). */
  post(msg: ToWorker, transfer: Transferable[] = []): void {
    this.send(msg, transfer);
  }

  /** A request id no other request of this client uses. */
  newRequestId(): number {
    return this.nextRequestId++;
  }

  terminate(): void {
    this.worker.terminate();
    this.listeners.clear();
    this.anyListeners.clear();
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private send(msg: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(msg, transfer);
  }

  private dispatch(msg: FromWorker): void {
    for (const cb of this.anyListeners) cb(msg);
    for (const cb of this.listeners.get(msg.type) ?? []) cb(msg);
  }

  /** The next message of `type`, or a rejection when `failsOn` matches first. */
  private nextOf<T extends FromWorker['type']>(type: T, failsOn: (msg: FromWorker) => boolean): Promise<WorkerEvent<T>> {
    return new Promise((resolve, reject) => {
      const off = this.onAny((msg) => {
        if (msg.type === type) {
          off();
          resolve(msg as WorkerEvent<T>);
        } else if (failsOn(msg)) {
          off();
          reject(new Error((msg as WorkerEvent<'error'>).message));
        }
      });
    });
  }

  private answerTo<T extends 'checkpoint' | 'checkpoint-loaded' | 'embedding'>(type: T, requestId: number): Promise<WorkerEvent<T>> {
    return new Promise((resolve, reject) => {
      const off = this.onAny((msg) => {
        if (msg.type === type && (msg as { requestId: number | null }).requestId === requestId) {
          off();
          resolve(msg as WorkerEvent<T>);
        } else if (msg.type === 'error' && msg.requestId === requestId) {
          off();
          reject(new Error(msg.message));
        }
      });
    });
  }
}

function volumeBuffers(volumes: PreprocessedVolume[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const v of volumes) {
    buffers.add(v.data.buffer as ArrayBuffer);
    if (v.labels) buffers.add(v.labels.buffer as ArrayBuffer);
  }
  return [...buffers];
}
