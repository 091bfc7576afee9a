// TrainingClient against the real TrainingHost through a fake Worker that structured-clones every message (as
// postMessage does): typed requests get their own answers, failures reject with the worker's message.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/backends';
import { TrainingClient, type WorkerLike } from '../src/worker/client';
import { TrainingHost, explainFailure } from '../src/worker/host';
import type { FromWorker, RunConfig, ToWorker } from '../src/worker/protocol';
import type { PreprocessedVolume } from '../src/volume/volume';
import { loadTrainingVolumes } from './helpers/trainingVolumes';

const config: RunConfig = {
  volumeIds: ['abdomen', 'chest'], preset: 'tiny', gridN: 2, cropSize: 8, spacing: [3, 3, 3], huWindow: [-175, 250],
  batchVolumes: 2, randomCrops: 1, lr: 1e-4, warmupSteps: 1, totalSteps: 3, weightDecay: 0.01, gradClip: 1, seed: 5,
  backend: 'cpu', checkpointEvery: 0,
};

class InProcessWorker implements WorkerLike {
  private listeners: ((e: MessageEvent) => void)[] = [];
  readonly sent: ToWorker['type'][] = [];
  readonly host = new TrainingHost({
    post: (msg: FromWorker) => {
      const copy = structuredClone(msg);
      setTimeout(() => this.listeners.forEach((l) => l({ data: copy } as MessageEvent)), 0);
    },
    initBackend: (c) => initBackend(c, { useStore: false }),
  });
  postMessage(message: unknown): void {
    const msg = structuredClone(message) as ToWorker;
    this.sent.push(msg.type);
    setTimeout(() => void this.host.handle(msg), 0);
  }
  addEventListener(type: 'message' | 'error', listener: ((e: MessageEvent) => void) | ((e: ErrorEvent) => void)): void {
    if (type === 'message') this.listeners.push(listener as (e: MessageEvent) => void);
  }
  terminate(): void {
    void this.host.dispose();
  }
}

let volumes: PreprocessedVolume[];
beforeAll(() => {
  volumes = loadTrainingVolumes();
});

describe('TrainingClient', () => {
  it('configure → ready, train, checkpoint, load it back, embed', async () => {
    const worker = new InProcessWorker();
    const client = new TrainingClient(worker);
    const ready = await client.configure(config, volumes);
    expect(ready.backend.name).toBe('cpu');
    const steps: number[] = [];
    client.on('step', (m) => steps.push(m.metrics.step));
    const done = new Promise<void>((resolve) => client.on('state', (m) => m.state === 'done' && resolve()));
    client.start();
    await done;
    expect(steps).toEqual([0, 1, 2]);
    const [a, b] = await Promise.all([client.checkpoint(), client.embed([{ volumeId: 'chest', origin: [4, 4, 4] }])]);
    expect(a.step).toBe(3);
    expect(a.weights.length).toBeGreaterThan(10);
    expect(a.weights[0].data).toBeInstanceOf(Float32Array);
    expect(b.count).toBe(1);
    expect(b.data.length).toBe(b.dim);
    expect(await client.loadCheckpoint(a)).toBe(3);
    client.terminate();
  });

  it('rejects configure and requests with the worker’s message', async () => {
    const client = new TrainingClient(new InProcessWorker());
    await expect(client.configure({ ...config, volumeIds: ['abdomen', 'spleen'] }, volumes)).rejects.toThrow(/spleen/);
    await expect(client.checkpoint()).rejects.toThrow(/configure/);
    client.terminate();
  });

  it('explains a backend that ran out of memory', () => {
    expect(explainFailure(new Error('RuntimeError: Aborted(). Build with -sASSERTIONS'), 'wasm')).toMatch(/wasm backend most likely ran out of memory/);
    expect(explainFailure(new Error('plain failure'), 'cpu')).toBe('plain failure');
  });
});
