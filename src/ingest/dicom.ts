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
export async function convertDicom(files: SourceFile[], onProgress: Progress): Promise<ConvertedSeries[]> {
  const dcm = new Dcm2niix();
  try {
    onProgress(0.05, 'starting dcm2niix');
    await withTimeout(dcm.init(), INIT_TIMEOUT_MS, 'dcm2niix (WebAssembly) did not start');
    onProgress(0.15, `converting ${files.length} DICOM file${files.length > 1 ? 's' : ''}`);
    // Unique flat names: dcm2niix flattens paths into one folder, and two series may both hold "01.dcm".
    const inputs = files.map((f, i) => new File([f.file], `${String(i).padStart(5, '0')}_${f.path.split('/').pop()}`));
    let outputs: File[];
    try {
      outputs = await dcm
        .input(inputs)
        .bids('y')
        .bidsAnonymize('y')
        .gzip('n')
        .filenameformat('%s_%d')
        .run();
    } catch (e) {
      const code = /exit code (\d+)/.exec((e as Error).message);
      const meaning = code ? EXIT_MEANING[Number(code[1])] : undefined;
      throw new IngestError(
        meaning ? `DICOM conversion failed: ${meaning} (dcm2niix exit ${code![1]})` : `DICOM conversion failed: ${(e as Error).message}`,
      );
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
    const series: ConvertedSeries[] = [];
    for (const [stem, { nifti, sidecar }] of byStem) {
      if (!nifti) continue;
      let meta: Record<string, unknown> = {};
      if (sidecar) {
        try {
          meta = JSON.parse(await sidecar.text());
        } catch {
          meta = {};
        }
      }
      series.push({ stem, nifti, sidecar: meta });
    }
    if (series.length === 0) throw new IngestError(`no DICOM image series found among ${files.length} file${files.length > 1 ? 's' : ''}`);
    series.sort((a, b) => Number(a.sidecar.SeriesNumber ?? 0) - Number(b.sidecar.SeriesNumber ?? 0) || a.stem.localeCompare(b.stem));
    return series;
  } finally {
    dcm.worker?.terminate();
  }
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
