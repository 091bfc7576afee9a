// The typed message protocol between the UI (main thread) and the training worker.
// Both sides import this file and nothing else of each other. Keep messages small and serialisable.

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

/** Everything needed to re-create a run. Serialisable as JSON. */
export interface RunConfig {
  /** Ids of the participating preprocessed volumes. */
  volumeIds: string[];
  /** Model preset name (see src/model/presets.ts). */
  preset: string;
  /** Grid n (n×n base crops) and crop size r in voxels. */
  gridN: number;
  cropSize: number;
  /** Target spacing (mm) and HU window used by preprocessing. */
  spacing: [number, number, number];
  huWindow: [number, number];
  /** Volumes per batch (B ≥ 2) and random crops per volume. */
  batchVolumes: number;
  randomCrops: number;
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  weightDecay: number;
  /** Global-norm gradient clipping; 0 disables. */
  gradClip: number;
  seed: number;
  backend: BackendChoice;
  /** Autosave a checkpoint every N steps; 0 disables. */
  checkpointEvery: number;
}

/** An axis-aligned crop in preprocessed voxel coordinates with its augmentation. */
export interface CropBox {
  volumeIndex: number;
  origin: [number, number, number];
  size: number;
  kind: 'base' | 'random';
  flip: [boolean, boolean, boolean];
  rot90: number;
  intensityShift: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  intra: number;
  inter: number;
  reg: number;
  lr: number;
  stepMs: number;
  /** For the position heatmaps: per volume, per random crop, n² true labels and predictions. */
  labels: number[][][];
  predictions: number[][][];
  /** Crop boxes of this step, per volume (bases then randoms), plus the region origin. */
  regions: { volumeId: string; origin: [number, number, number]; crops: CropBox[] }[];
}

export interface BackendInfo {
  name: BackendName;
  /** Adapter description for WebGPU (vendor/architecture), 'software' flag when SwiftShader or fallback. */
  adapter?: string;
  software: boolean;
  /** Threads used by the wasm backend. */
  wasmThreads?: number;
  /** Why this backend was chosen (measurement or user choice). */
  reason: string;
}

export type ToWorker =
  | { type: 'configure'; config: RunConfig; volumes: import('../volume/volume').PreprocessedVolume[] }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; backend: BackendInfo; paramCount: number }
  | { type: 'step'; metrics: StepMetrics }
  | { type: 'state'; state: 'idle' | 'running' | 'paused' | 'stopped' | 'done' }
  | { type: 'error'; message: string; fatal: boolean }
  | { type: 'gpu-error'; message: string };
