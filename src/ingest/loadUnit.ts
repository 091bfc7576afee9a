// Loading one planned unit into Volumes (runs in the ingest worker; also callable under Node for tests).
import { convertDicom, type ConvertedSeries } from './dicom';
import { seriesGeometry, unevenGaps, type DicomSlice } from './dicomHeader';
import type { PlannedUnit } from './plan';
import { IngestError, niftiVoxelSizeCheck, readNiftiBytes, readWithProgress, type Progress } from './readBytes';
import { nvImageFromBytes, volumeFromNVImage } from './toVolume';
import type { LeftOut, LoadedVolume } from './types';

export interface UnitResult {
  results: LoadedVolume[];
  /** Problems with parts of the unit (one DICOM series of several failed…). */
  problems: string[];
  /** Files of the unit that gave no volume, each with the reason (DICOM slices dcm2niix could not convert…). */
  leftOut: LeftOut[];
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
      // Before NiiVue parses it: NiiVue repairs a zero voxel size, hiding the problem.
      const size = niftiVoxelSizeCheck(bytes);
      if (size.error) throw new IngestError(size.error);
      onProgress(0.88, 'parsing');
      const img = await nvImageFromBytes(bytes, readerName(unit));
      onProgress(0.95, 'checking');
      const loaded = volumeFromNVImage(img, { id: newId('vol'), name: unit.name, sourceFiles: paths, format: 'nifti' });
      if (size.warning) loaded.facts.warnings.unshift(size.warning);
      return { results: [loaded], problems: [], leftOut: [] };
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
      return { results: [volumeFromNVImage(img, { id: newId('vol'), name: unit.name, sourceFiles, format: unit.format })], problems: [], leftOut: [] };
    }
    case 'dicom': {
      const { series, exitCode, exitMeaning } = await convertDicom(unit.files, (f, s) => onProgress(0.8 * f, s));
      const results: LoadedVolume[] = [];
      const problems: string[] = [];
      const leftOut: LeftOut[] = [];
      const slices = unit.dicom ?? [];
      for (let i = 0; i < series.length; i++) {
        const s = series[i];
        const label = seriesLabel(s.sidecar, s.stem);
        const name = series.length > 1 ? `${unit.name} · ${label}` : unit.name;
        try {
          const bytes = await readNiftiBytes(s.nifti, false, () => {});
          const img = await nvImageFromBytes(bytes, `${s.stem}.nii`);
          const modality = typeof s.sidecar.Modality === 'string' ? s.sidecar.Modality : undefined;
          const mine = slicesOfSeries(slices, s, series.length);
          const sourceFiles = mine.length ? unit.files.filter((_, k) => mine.includes(slices[k])).map((f) => f.path) : paths;
          const loaded = volumeFromNVImage(img, { id: newId('dcm'), name, sourceFiles, format: 'dicom', modality });
          describeGeometry(loaded, s, mine);
          if (series.length > 1)
            loaded.facts.warnings.unshift(`the DICOM files held ${series.length} series: this is series ${i + 1} (${label}); each series is its own volume`);
          results.push(loaded);
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
        }
        onProgress(0.8 + (0.2 * (i + 1)) / series.length, 'reading converted series');
      }
      const brokenSlices = unit.brokenSlices ?? [];
      if (brokenSlices.length && results.length)
        results[0].facts.warnings.push(
          `${brokenSlices.length} slice${brokenSlices.length > 1 ? 's' : ''} of this folder left out: ${brokenSlices.map((b) => `${b.path.split('/').pop()} (${b.reason})`).join('; ')}`,
        );
      // dcm2niix exit 8: some images were not converted. Name the files of series that gave no volume.
      if (exitCode !== 0 && exitCode !== 3 && slices.length === unit.files.length) {
        const converted = new Set(series.map((s) => String(s.sidecar.SeriesNumber ?? '')));
        const reason = `dcm2niix could not convert this file's series (${exitMeaning ?? 'error'}, exit ${exitCode})`;
        unit.files.forEach((f, k) => {
          if (!converted.has(slices[k].seriesNumber)) leftOut.push({ path: f.path, reason });
        });
        if (leftOut.length === 0 && results.length)
          results[0].facts.warnings.push(`dcm2niix converted only some of the ${unit.files.length} files (exit ${exitCode}): check the slice count`);
      }
      return { results, problems, leftOut };
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

/** The header facts of the slices that made this converted series (all of them when the folder held one series). */
function slicesOfSeries(slices: DicomSlice[], s: ConvertedSeries, seriesCount: number): DicomSlice[] {
  if (seriesCount === 1) return slices;
  const num = s.sidecar.SeriesNumber != null ? String(s.sidecar.SeriesNumber) : null;
  return num == null ? [] : slices.filter((x) => x.seriesNumber === num);
}

const mm = (v: number) => String(+v.toFixed(2));

/**
 * Say what dcm2niix did to the geometry, with the numbers, and never pass unevenly spaced slices as a regular
 * volume: a tilted or unevenly spaced series is kept only in its corrected, equidistant form.
 */
function describeGeometry(loaded: LoadedVolume, s: ConvertedSeries, slices: DicomSlice[]): void {
  const geo = seriesGeometry(slices);
  const uneven = geo ? unevenGaps(geo.gaps) : false;
  const gapText = geo && geo.gaps.length ? `${Math.min(...geo.gaps).toFixed(1)}–${Math.max(...geo.gaps).toFixed(1)} mm` : '';
  const zSize = mm(loaded.volume.spacing[2]);
  const parts: string[] = [];
  if (s.correction.tilt) parts.push(`gantry tilt ${mm(geo?.tilt ?? 0)}° corrected`);
  if (s.correction.eq) parts.push(`uneven slice spacing ${gapText || '(varying)'} resampled to ${zSize} mm`);
  if (parts.length) {
    loaded.facts.warnings.unshift(parts.join('; '));
    return;
  }
  // dcm2niix skips slices it cannot use with a console warning only: compare what came out with what went in.
  const nz = loaded.volume.dims[2];
  if (slices.length > 1 && nz < slices.length) {
    loaded.facts.warnings.unshift(`dcm2niix made ${nz} slices of the ${slices.length} files of this series: ${slices.length - nz} were skipped`);
    loaded.facts.exclude ??= `${slices.length - nz} of ${slices.length} slices missing`;
  }
  if (uneven) {
    // dcm2niix made no equidistant copy: the volume's regular grid misplaces slices.
    loaded.facts.warnings.unshift(`uneven slice spacing ${gapText} was not resampled: the volume's ${zSize} mm grid misplaces slices`);
    loaded.facts.exclude = `uneven slice spacing ${gapText}`;
  }
}
