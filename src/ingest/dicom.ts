// DICOM series → NIfTI with dcm2niix (WebAssembly build with JPEG 2000 / JPEG-LS, @niivue/dcm2niix).
// dcm2niix sorts the slices, splits mixed series, applies rescale slope/intercept and writes the
// RAS affine; we only read its NIfTI output. The library runs in its own worker; started from the
// ingest worker it is a nested worker, so the main thread never touches DICOM bytes.
import { Dcm2niix } from '@niivue/dcm2niix';
import { IngestError, type Progress } from './readBytes';
import type { SourceFile } from './types';

export interface ConvertedSeries {
  /** dcm2niix's output file name without extension (series number and description). */
  stem: string;
  nifti: File;
  /** BIDS sidecar: Modality, SeriesDescription, SeriesNumber, … (anonymised). */
  sidecar: Record<string, unknown>;
  /** Which of dcm2niix's corrections this volume carries (gantry tilt, equidistant slices). */
  correction: { base: string; tilt: boolean; eq: boolean };
}

// dcm2niix exit codes (console/nii_dicom_batch.h).
const EXIT_MEANING: Record<number, string> = {
  1: 'an unspecified dcm2niix error',
  2: 'no DICOM images that dcm2niix can convert were found',
  4: 'a corrupt DICOM file',
  8: 'only some of the images could be converted',
  10: 'an incompatible DICOM series',
};

const INIT_TIMEOUT_MS = 60_000;

/**
 * Convert every DICOM series among `files`. One dcm2niix worker per call: the library's worker
 * writes to fixed /input and /output folders of its in-memory file system, so it serves one run only.
 */
export interface Conversion {
  series: ConvertedSeries[];
  /** dcm2niix's exit code: 0 (or 3) when every image converted, 8 when only some did. */
  exitCode: number;
  exitMeaning?: string;
}

export async function convertDicom(files: SourceFile[], onProgress: Progress): Promise<Conversion> {
  const dcm = new Dcm2niix();
  try {
    onProgress(0.05, 'starting dcm2niix');
    await withTimeout(dcm.init(), INIT_TIMEOUT_MS, 'dcm2niix (WebAssembly) did not start');
    onProgress(0.15, `converting ${files.length} DICOM file${files.length > 1 ? 's' : ''}`);
    // Unique flat names: dcm2niix flattens paths into one folder, and two series may both hold "01.dcm".
    const inputs = files.map((f, i) => new File([f.file], `${String(i).padStart(5, '0')}_${f.path.split('/').pop()}`));
    const proc = dcm.input(inputs).bids('y').bidsAnonymize('y').gzip('n').filenameformat('%s_%d');
    // The library's run() throws away every output when dcm2niix exits with 8 (some images not converted):
    // talk to its worker directly and keep what converted.
    const { files: outputs, exitCode } = await runKeepingOutputs(proc);
    if (exitCode !== 0 && exitCode !== 3 && outputs.length === 0) {
      const meaning = EXIT_MEANING[exitCode];
      throw new IngestError(`DICOM conversion failed: ${meaning ?? 'dcm2niix error'} (dcm2niix exit ${exitCode})`);
    }
    onProgress(0.8, 'reading converted series');
    const byStem = new Map<string, { nifti?: File; sidecar?: File }>();
    for (const f of outputs) {
      const m = /^(.*)\.(nii|json)$/.exec(f.name);
      if (!m) continue;
      const entry = byStem.get(m[1]) ?? {};
      if (m[2] === 'nii') entry.nifti = f;
      else entry.sidecar = f;
      byStem.set(m[1], entry);
    }
    const sidecars = new Map<string, Record<string, unknown>>();
    for (const [stem, { sidecar }] of byStem) {
      if (!sidecar) continue;
      try {
        sidecars.set(stem, JSON.parse(await sidecar.text()));
      } catch {
        sidecars.set(stem, {});
      }
    }
    // One volume per series: of dcm2niix's variants keep the most corrected (tilt and spacing, then tilt, then spacing).
    const best = new Map<string, ConvertedSeries>();
    const rank = (c: { tilt: boolean; eq: boolean }) => (c.tilt ? 2 : 0) + (c.eq ? 1 : 0);
    for (const [stem, { nifti }] of byStem) {
      if (!nifti) continue;
      const correction = correctionOf(stem);
      const candidate: ConvertedSeries = { stem, nifti, sidecar: sidecars.get(stem) ?? sidecars.get(correction.base) ?? {}, correction };
      const held = best.get(correction.base);
      if (!held || rank(correction) > rank(held.correction)) best.set(correction.base, candidate);
    }
    const series = [...best.values()];
    if (series.length === 0) throw new IngestError(`no DICOM image series found among ${files.length} file${files.length > 1 ? 's' : ''}`);
    series.sort((a, b) => Number(a.sidecar.SeriesNumber ?? 0) - Number(b.sidecar.SeriesNumber ?? 0) || a.stem.localeCompare(b.stem));
    return { series, exitCode, exitMeaning: EXIT_MEANING[exitCode] };
  } finally {
    dcm.worker?.terminate();
  }
}

interface ProcessorInternals {
  worker: Worker;
  fileList: unknown;
  commands: string[];
}

function runKeepingOutputs(proc: unknown): Promise<{ files: File[]; exitCode: number }> {
  const p = proc as ProcessorInternals;
  return new Promise((resolve, reject) => {
    p.worker.onmessage = (e: MessageEvent) => {
      if (e.data?.type === 'error') reject(new IngestError(`DICOM conversion failed: ${e.data.message}`));
      else resolve({ files: e.data.convertedFiles ?? [], exitCode: Number(e.data.exitCode) });
    };
    p.worker.postMessage({ fileList: p.fileList, cmd: [...p.commands] });
  });
}

/**
 * dcm2niix writes a gantry-tilt corrected copy (…_Tilt_1), an equidistant copy of unevenly spaced slices
 * (…_Eq_1) or both (…_Tilt_Eq_1) beside the uncorrected volume. Returns the base stem and the correction.
 */
export function correctionOf(stem: string): { base: string; tilt: boolean; eq: boolean } {
  const m = /^(.*?)_(Tilt_Eq|Tilt|Eq)_\d+$/.exec(stem);
  if (!m) return { base: stem, tilt: false, eq: false };
  return { base: m[1], tilt: m[2].startsWith('Tilt'), eq: m[2].endsWith('Eq') };
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new IngestError(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e instanceof IngestError ? e : new IngestError(`${message}: ${(e as Error).message}`));
      },
    );
  });
}
