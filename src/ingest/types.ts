// Types shared by the ingest client (main thread) and the ingest worker.
import type { Volume } from '../volume/volume';

/** One file the user gave us, with its path relative to what was dropped or picked (for messages). */
export interface SourceFile {
  path: string;
  file: File;
}

/**
 * One thing the user dropped or picked: a single file, a folder (walked recursively),
 * or a multi-file selection (loose files picked together; DICOM slices among them form one group).
 */
export interface IngestRoot {
  kind: 'file' | 'folder' | 'selection';
  /** File or folder name, for messages and for naming DICOM series. */
  label: string;
  files: SourceFile[];
}

export type IngestFormat = 'nifti' | 'nrrd' | 'mha' | 'mhd' | 'dicom';

/** A file that was dropped but gives no row: left out on purpose, with the reason shown to the user. */
export interface LeftOut {
  path: string;
  reason: string;
}

/** What the worker found out about a loaded volume besides its voxels. */
export interface VolumeFacts {
  format: IngestFormat;
  /** Orientation code of the voxel axes, e.g. 'RAS' or 'LPS'. */
  orientation: string;
  /** Intensity range after rescale slope/intercept. */
  min: number;
  max: number;
  /** Every voxel holds an integer value (label maps, raw CT). */
  integerValued: boolean;
  /** Number of distinct values, counted up to LABEL_MAX_DISTINCT + 1. */
  distinctValues: number;
  /** CT plausibility: HU-like or a reason why not. */
  ct: { huLike: boolean; note: string };
  /** DICOM modality when known (from dcm2niix's sidecar). */
  modality?: string;
  /** Non-fatal problems (4-D reduced to its first frame, non-HU values…). */
  warnings: string[];
  /** Voxels that are NaN or ±Infinity (kept as they are; preprocessing treats them as 0). */
  nanCount: number;
  infCount: number;
  /** Why this volume should not be ticked for training by default (constant, non-HU, uneven slices…); absent when it may. */
  exclude?: string;
  /** Hash of grid and voxels: the same scan dropped twice is recognised. */
  contentHash: string;
}

export interface LoadedVolume {
  volume: Volume;
  facts: VolumeFacts;
}

/** A unit of work: one image file, or all DICOM slices of one dropped root. */
export interface IngestUnit {
  unitId: string;
  /** Row name while loading. */
  name: string;
  format: IngestFormat;
  files: string[];
}

/** Messages from the main thread to the ingest worker. */
export type ToIngestWorker = { type: 'ingest'; batchId: string; roots: IngestRoot[] };

/** Messages from the ingest worker to the main thread. */
export type FromIngestWorker =
  | {
      type: 'planned';
      batchId: string;
      units: IngestUnit[];
      /** Problems found while sorting the files (not an image, empty folder…). */
      problems: { name: string; files: string[]; message: string }[];
      /** Files inside dropped folders that were left out, with the reason (documents, non-image or cut-short DICOM…). */
      leftOut: LeftOut[];
    }
  | { type: 'progress'; batchId: string; unitId: string; fraction: number; stage: string }
  | { type: 'loaded'; batchId: string; unitId: string; results: LoadedVolume[]; problems: string[]; leftOut: LeftOut[] }
  | { type: 'failed'; batchId: string; unitId: string; message: string }
  | { type: 'done'; batchId: string };
