// Loading one planned unit into Volumes (runs in the ingest worker; also callable under Node for tests).
import { convertDicom } from './dicom';
import type { PlannedUnit } from './plan';
import { IngestError, readNiftiBytes, readWithProgress, type Progress } from './readBytes';
import { nvImageFromBytes, volumeFromNVImage } from './toVolume';
import type { LoadedVolume } from './types';

export interface UnitResult {
  results: LoadedVolume[];
  /** Problems with parts of the unit (one DICOM series of several failed…). */
  problems: string[];
}

let nextId = 0;
function newId(prefix: string): string {
  nextId += 1;
  return `${prefix}-${Date.now().toString(36)}-${nextId}`;
}

export async function loadUnit(unit: PlannedUnit, onProgress: Progress): Promise<UnitResult> {
  const paths = unit.files.map((f) => f.path);
  switch (unit.format) {
    case 'nifti': {
      const file = unit.files[0].file;
      const bytes = await readNiftiBytes(file, unit.gzip, (f, s) => onProgress(0.85 * f, s));
      onProgress(0.88, 'parsing');
      const img = await nvImageFromBytes(bytes, readerName(unit));
      onProgress(0.95, 'checking');
      return { results: [volumeFromNVImage(img, { id: newId('vol'), name: unit.name, sourceFiles: paths, format: 'nifti' })], problems: [] };
    }
    case 'nrrd':
    case 'mha':
    case 'mhd': {
      const head = await readWithProgress(unit.files[0].file, (f, s) => onProgress((unit.companion ? 0.1 : 0.8) * f, s));
      let paired: ArrayBuffer | null = null;
      if (unit.companion) paired = await readWithProgress(unit.companion.file, (f) => onProgress(0.1 + 0.7 * f, 'reading voxel data'));
      onProgress(0.85, 'parsing');
      const img = await nvImageFromBytes(head, readerName(unit), paired);
      onProgress(0.95, 'checking');
      const sourceFiles = unit.companion ? [...paths, unit.companion.path] : paths;
      return { results: [volumeFromNVImage(img, { id: newId('vol'), name: unit.name, sourceFiles, format: unit.format })], problems: [] };
    }
    case 'dicom': {
      const series = await convertDicom(unit.files, (f, s) => onProgress(0.8 * f, s));
      const results: LoadedVolume[] = [];
      const problems: string[] = [];
      for (let i = 0; i < series.length; i++) {
        const s = series[i];
        const label = seriesLabel(s.sidecar, s.stem);
        const name = series.length > 1 ? `${unit.name} · ${label}` : unit.name;
        try {
          const bytes = await readNiftiBytes(s.nifti, false, () => {});
          const img = await nvImageFromBytes(bytes, `${s.stem}.nii`);
          const modality = typeof s.sidecar.Modality === 'string' ? s.sidecar.Modality : undefined;
          const loaded = volumeFromNVImage(img, { id: newId('dcm'), name, sourceFiles: paths, format: 'dicom', modality });
          if (series.length > 1)
            loaded.facts.warnings.unshift(`the DICOM files held ${series.length} series: this is series ${i + 1} (${label}); each series is its own volume`);
          results.push(loaded);
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
        }
        onProgress(0.8 + (0.2 * (i + 1)) / series.length, 'reading converted series');
      }
      return { results, problems };
    }
  }
  throw new IngestError(`unsupported format ${unit.format as string}`);
}

/** NiiVue picks its reader from the extension: give it the one we detected (the NIfTI bytes are already inflated). */
function readerName(unit: PlannedUnit): string {
  const base = unit.name.replace(/\.gz$/i, '');
  const ext = { nifti: 'nii', nrrd: /\.nhdr$/i.test(base) ? 'nhdr' : 'nrrd', mha: 'mha', mhd: 'mhd', dicom: 'dcm' }[unit.format];
  return base.toLowerCase().endsWith(`.${ext}`) ? base : `${base}.${ext}`;
}

function seriesLabel(meta: Record<string, unknown>, stem: string): string {
  const num = meta.SeriesNumber != null ? `S${meta.SeriesNumber}` : '';
  const desc = typeof meta.SeriesDescription === 'string' ? meta.SeriesDescription : '';
  return [num, desc].filter(Boolean).join(' ') || stem;
}
