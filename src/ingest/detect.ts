// Format detection from the file name and its first bytes. DICOM files often carry no extension
// (or a UID as one), so magic bytes decide whenever the name does not.
import type { IngestFormat } from './types';

export type Detected =
  | { kind: 'image'; format: IngestFormat; gzip: boolean }
  /** Raw voxel data that an .mhd header points at. */
  | { kind: 'companion' }
  /** Documentation or metadata that sits beside scans (LICENSE, README, .json sidecars). */
  | { kind: 'document' }
  | { kind: 'unknown'; reason: string };

export const SNIFF_BYTES = 512;

const DOCUMENT_EXT = new Set(['txt', 'md', 'json', 'csv', 'tsv', 'pdf', 'html', 'htm', 'xml', 'yaml', 'yml', 'log', 'bval', 'bvec', 'py', 'ini', 'cfg']);
const DOCUMENT_NAMES = /^(license|licence|readme|copying|notice|changelog|authors)(\.|$)|^\.ds_store$|^thumbs\.db$|^desktop\.ini$/i;

export function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

/** Lower-case extension, with '.gz' kept as part of it ('nii.gz', 'nrrd'…). */
export function extensionOf(name: string): string {
  const lower = name.toLowerCase();
  const m = /\.([a-z0-9]+)(\.gz)?$/.exec(lower);
  if (!m) return '';
  return m[2] ? `${m[1]}.gz` : m[1];
}

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function ascii(b: Uint8Array, start: number, len: number): string {
  return String.fromCharCode(...b.subarray(start, start + len));
}

function looksNifti(b: Uint8Array): boolean {
  if (b.length < 348) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getInt32(0, true), be = dv.getInt32(0, false);
  if (le === 348 || be === 348) return ['n+1\0', 'ni1\0'].includes(ascii(b, 344, 4));
  if (le === 540 || be === 540) return ascii(b, 4, 3) === 'n+2' || ascii(b, 4, 3) === 'ni2';
  return false;
}

/** DICOM Part 10 has 'DICM' at 128; older files without the preamble start with a group 0002/0008 tag. */
function looksDicom(b: Uint8Array): boolean {
  if (b.length >= 132 && ascii(b, 128, 4) === 'DICM') return true;
  if (b.length < 8) return false;
  const group = b[0] | (b[1] << 8);
  const elementHi = b[3];
  return (group === 0x0002 || group === 0x0008) && elementHi === 0x00;
}

function looksMetaImage(text: string): boolean {
  return /^(ObjectType|NDims)\s*=/m.test(text);
}

/**
 * Decide what a file is. `head` is its first SNIFF_BYTES bytes (fewer for short files).
 * Extension wins when it names a format we read; otherwise the bytes decide.
 */
export function detectFormat(name: string, head: Uint8Array): Detected {
  const ext = extensionOf(name);
  const gz = isGzip(head);
  switch (ext) {
    case 'nii':
    case 'nii.gz':
      return { kind: 'image', format: 'nifti', gzip: gz };
    case 'nrrd':
    case 'nhdr':
      return { kind: 'image', format: 'nrrd', gzip: false };
    case 'mha':
      return { kind: 'image', format: 'mha', gzip: false };
    case 'mhd':
      return { kind: 'image', format: 'mhd', gzip: false };
    case 'raw':
    case 'zraw':
      return { kind: 'companion' };
    case 'dcm':
    case 'dicom':
    case 'ima':
      return { kind: 'image', format: 'dicom', gzip: false };
  }
  // Names like CT.1.2.840…1234 have a numeric "extension": the bytes decide.
  if (looksDicom(head)) return { kind: 'image', format: 'dicom', gzip: false };
  if (looksNifti(head)) return { kind: 'image', format: 'nifti', gzip: false };
  if (!gz && ascii(head, 0, 4) === 'NRRD') return { kind: 'image', format: 'nrrd', gzip: false };
  if (!gz && looksMetaImage(ascii(head, 0, Math.min(head.length, 256)))) return { kind: 'image', format: 'mha', gzip: false };
  if (DOCUMENT_NAMES.test(baseName(name)) || DOCUMENT_EXT.has(ext.replace(/\.gz$/, '')) || baseName(name).startsWith('.'))
    return { kind: 'document' };
  if (gz) return { kind: 'unknown', reason: 'a gzip file that does not end in .nii.gz (rename it if it is a NIfTI volume)' };
  if (head.length === 0) return { kind: 'unknown', reason: 'the file is empty (0 bytes)' };
  return { kind: 'unknown', reason: 'not a recognised image file' };
}

export const SUPPORTED_FORMATS = 'NIfTI (.nii, .nii.gz), DICOM, NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd)';
