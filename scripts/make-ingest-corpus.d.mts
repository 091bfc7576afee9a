// Types for scripts/make-ingest-corpus.mjs (imported by the Vitest and Playwright ingest tests).
export interface CorpusEntry {
  file: string;
  case: string;
  expect:
    | { row: string; status: 'ok' | 'warning' | 'error'; message?: string; dims?: string; orientation?: string }
    | { labels: string; onto: string; message?: string }
    | { leftOut: string; reason: string };
  training?: { ticked: boolean; reason?: string };
}
export function makeIngestCorpus(outDir: string): { root: string; manifest: CorpusEntry[]; loneNonImage: string };
export function niftiBuffer(v: {
  dims: number[];
  pixdim: number[];
  affine?: number[][] | null;
  data: ArrayLike<number>;
  dtype: 'uint8' | 'int16' | 'float32';
}): Buffer;
export function phantom(dims: number[], seed?: number): Int16Array;
export function bigVolumeNifti(dims: number[]): Buffer;
export function bigLabelNifti(dims: number[]): Buffer;
