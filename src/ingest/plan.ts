// Sorting what the user dropped into units of work: one per image file, one per DICOM group
// (all DICOM files of a dropped folder or selection: dcm2niix splits them into series), plus
// a clear problem for every file or folder we cannot use.
import { baseName, detectFormat, extensionOf, SNIFF_BYTES, SUPPORTED_FORMATS, type Detected } from './detect';
import { inspectDicom, type DicomSlice } from './dicomHeader';
import type { IngestFormat, IngestRoot, LeftOut, SourceFile } from './types';

export interface PlannedUnit {
  name: string;
  format: IngestFormat;
  /** Image file(s): one for NIfTI/NRRD/MHA, the header for MHD, every slice for DICOM. */
  files: SourceFile[];
  /** NIfTI stored gzip-compressed. */
  gzip: boolean;
  /** MHD: its raw voxel file. */
  companion?: SourceFile;
  /** DICOM: each file's header facts, in the order of `files`. */
  dicom?: DicomSlice[];
  /** DICOM: broken slices of this folder that were left out (the series lacks them: its row says so). */
  brokenSlices?: LeftOut[];
}

export interface Plan {
  units: PlannedUnit[];
  problems: { name: string; files: string[]; message: string }[];
  /** Files inside dropped folders that were left out, each with its reason (documents, non-image DICOM…). */
  leftOut: LeftOut[];
}

/** Root files first, then each subfolder's, by path: rows come in a stable order whatever the browser's walk order. */
function byDepthThenPath(a: SourceFile, b: SourceFile): number {
  const da = a.path.split('/').length, db = b.path.split('/').length;
  return da - db || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

export async function sniff(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}


/** The ElementDataFile an .mhd header points at (a plain `key = value` text line). */
async function mhdDataFile(file: File): Promise<string | null> {
  const text = await file.slice(0, 64 * 1024).text();
  const m = /^\s*ElementDataFile\s*=\s*(.+?)\s*$/m.exec(text);
  return m ? m[1] : null;
}

export async function planRoots(roots: IngestRoot[]): Promise<Plan> {
  const plan: Plan = { units: [], problems: [], leftOut: [] };
  for (const root of roots) {
    if (root.files.length === 0) {
      plan.problems.push({
        name: root.label,
        files: [],
        message: root.kind === 'folder' ? `folder "${root.label}" is empty: no files in it or its subfolders` : 'nothing to load',
      });
      continue;
    }
    const dicom: { file: SourceFile; slice: DicomSlice }[] = [];
    const broken: LeftOut[] = [];
    const companions = new Map<string, SourceFile>();
    const mhds: SourceFile[] = [];
    const documents: SourceFile[] = [];
    const before = plan.units.length + plan.problems.length + plan.leftOut.length;
    const inFolder = root.kind === 'folder' || root.files.some((f) => f.path.includes('/'));
    for (const f of [...root.files].sort(byDepthThenPath)) {
      let kind: Detected;
      try {
        kind = detectFormat(f.path, await sniff(f.file));
      } catch (e) {
        plan.problems.push({ name: baseName(f.path), files: [f.path], message: `cannot be read: ${(e as Error).message}` });
        continue;
      }
      if (kind.kind === 'image') {
        if (kind.format === 'dicom') {
          // Read the header now: a report, a DICOMDIR or a cut-short slice is left out by name, not fed to dcm2niix.
          const r = await inspectDicom(f.file);
          if (r.ok) dicom.push({ file: f, slice: r.slice });
          else if (inFolder) {
            plan.leftOut.push({ path: f.path, reason: r.reason });
            if (r.slice) broken.push({ path: f.path, reason: r.reason });
          }
          else plan.problems.push({ name: baseName(f.path), files: [f.path], message: r.reason });
        }
        else if (kind.format === 'mhd') mhds.push(f);
        else plan.units.push({ name: baseName(f.path), format: kind.format, files: [f], gzip: kind.gzip });
      } else if (kind.kind === 'companion') {
        companions.set(f.path, f);
      } else if (kind.kind === 'document') {
        documents.push(f);
      } else {
        plan.problems.push({ name: baseName(f.path), files: [f.path], message: `${kind.reason} (supported: ${SUPPORTED_FORMATS})` });
      }
    }
    for (const h of mhds) {
      const dataName = await mhdDataFile(h.file);
      if (!dataName) {
        plan.problems.push({ name: baseName(h.path), files: [h.path], message: 'MetaImage header without an ElementDataFile line' });
        continue;
      }
      if (dataName.toUpperCase() === 'LOCAL') {
        plan.units.push({ name: baseName(h.path), format: 'mha', files: [h], gzip: false });
        continue;
      }
      const dataPath = dirOf(h.path) ? `${dirOf(h.path)}/${dataName}` : dataName;
      const companion = companions.get(dataPath);
      if (!companion) {
        plan.problems.push({
          name: baseName(h.path),
          files: [h.path],
          message: `its voxel data "${dataName}" was not dropped with it: drop the .mhd together with its data file`,
        });
        continue;
      }
      companions.delete(dataPath);
      plan.units.push({ name: baseName(h.path), format: 'mhd', files: [h], gzip: false, companion });
    }
    for (const c of companions.values())
      plan.problems.push({ name: baseName(c.path), files: [c.path], message: 'raw voxel data without its .mhd header: drop them together' });
    // One DICOM group per folder, named by that folder (a parent of several series folders gives one row each);
    // dcm2niix still splits a folder that mixes series.
    const byDir = new Map<string, typeof dicom>();
    for (const d of dicom) {
      const dir = dirOf(d.file.path);
      if (!byDir.has(dir)) byDir.set(dir, []);
      byDir.get(dir)!.push(d);
    }
    for (const [dir, group] of byDir) {
      const name = dir
        ? baseName(dir)
        : root.kind === 'folder'
          ? root.label
          : group.length === 1
            ? baseName(group[0].file.path)
            : `${group.length} DICOM files`;
      const brokenSlices = broken.filter((b) => dirOf(b.path) === dir);
      plan.units.push({ name, format: 'dicom', files: group.map((g) => g.file), gzip: false, dicom: group.map((g) => g.slice), brokenSlices });
    }
    // Inside folders, LICENSE/README/.json sidecars are expected company: leave them out quietly.
    // A document the user picked by itself is a mistake worth a message.
    if (root.kind === 'folder') {
      if (plan.units.length + plan.problems.length + plan.leftOut.length === before)
        plan.problems.push({
          name: root.label,
          files: documents.map((d) => d.path),
          message: `folder "${root.label}" holds no images (only ${documents.map((d) => baseName(d.path)).join(', ')})`,
        });
      else plan.leftOut.push(...documents.map((d) => ({ path: d.path, reason: 'a document, not an image (left out on purpose)' })));
    } else {
      for (const d of documents)
        plan.problems.push({
          name: baseName(d.path),
          files: [d.path],
          message: `not an image file (.${extensionOf(d.path) || 'no extension'} document; supported: ${SUPPORTED_FORMATS})`,
        });
    }
  }
  return plan;
}
