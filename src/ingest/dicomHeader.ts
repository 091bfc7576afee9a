// A small DICOM header reader: enough to tell, before dcm2niix runs, whether a file is an image slice
// (and not a report, a DICOMDIR or a file cut short), which series it belongs to, and where its slice sits.
// dcm2niix drops a whole series when one file is truncated, and ignores non-image files without a word:
// reading the headers first lets us leave such files out by name, with the reason.

export interface DicomSlice {
  sopClassUid: string;
  modality: string;
  seriesUid: string;
  seriesNumber: string;
  instanceNumber: number | null;
  rows: number;
  columns: number;
  /** ImagePositionPatient (LPS mm) of the first voxel, when present. */
  position: [number, number, number] | null;
  /** ImageOrientationPatient row and column direction cosines, when present. */
  orientation: [number, number, number, number, number, number] | null;
  /** GantryDetectorTilt in degrees (0 when absent). */
  gantryTilt: number;
  transferSyntax: string;
}

/** `slice`: the file is an image slice, but a broken one (cut short): its series lacks it. */
export type DicomInspection = { ok: true; slice: DicomSlice } | { ok: false; reason: string; slice?: boolean };

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
/** VRs whose length field is 4 bytes (after 2 reserved bytes) in explicit VR encodings. */
const LONG_VR = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;

/** Transfer syntaxes the dcm2niix WebAssembly build decodes (uncompressed, RLE, JPEG, JPEG-LS, JPEG 2000). */
const DECODABLE = new Set([
  IMPLICIT_LE,
  EXPLICIT_LE,
  EXPLICIT_BE,
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
]);

function transferSyntaxName(uid: string): string {
  if (/^1\.2\.840\.10008\.1\.2\.4\.10[0-8]$/.test(uid)) return 'MPEG/H.264/HEVC video';
  if (uid === '1.2.840.10008.1.2.4.94' || uid === '1.2.840.10008.1.2.4.95') return 'JPIP (a link to pixels elsewhere)';
  if (/^1\.2\.840\.10008\.1\.2\.4\.11[0-2]$/.test(uid)) return 'JPEG XL';
  if (/^1\.2\.840\.10008\.1\.2\.4\.20[1-3]$/.test(uid)) return 'High-Throughput JPEG 2000';
  return 'an unknown encoding';
}

/** What a non-image SOP class is, for the message. */
function sopClassName(uid: string): string | null {
  if (uid === '1.2.840.10008.1.3.10') return 'a DICOMDIR (an index of other files)';
  if (uid.startsWith('1.2.840.10008.5.1.4.1.1.88.')) return 'a structured report';
  if (uid === '1.2.840.10008.5.1.4.1.1.104.1') return 'an encapsulated PDF';
  if (uid.startsWith('1.2.840.10008.5.1.4.1.1.481.')) return 'a radiotherapy object';
  if (uid === '1.2.840.10008.5.1.4.1.1.11.1' || uid.startsWith('1.2.840.10008.5.1.4.1.1.11.')) return 'a presentation state';
  if (uid === '1.2.840.10008.5.1.4.1.1.66') return 'raw data';
  return null;
}

class Cut extends Error {}

/**
 * Inspect one DICOM file. `head` holds the file's first bytes (ideally all of them up to the pixel data);
 * `fileSize` is the whole file's size. Returns `needMore` when the pixel data lies beyond `head` and
 * more bytes are needed to judge the file.
 */
export function inspectDicomBytes(head: Uint8Array, fileSize: number): DicomInspection | { needMore: true } {
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const text = (o: number, n: number) => String.fromCharCode(...head.subarray(o, o + n));
  let pos: number;
  let explicit = true;
  let little = true;
  if (head.length >= 132 && text(128, 4) === 'DICM') pos = 132;
  else if (head.length >= 8 && (dv.getUint16(0, true) === 0x0002 || dv.getUint16(0, true) === 0x0008)) {
    pos = 0;
    explicit = /^[A-Z]{2}$/.test(text(4, 2));
  } else {
    return { ok: false, reason: 'not a DICOM file (no "DICM" marker and no DICOM tags at its start)' };
  }
  const complete = head.length >= fileSize;
  const str: Record<string, string> = {};
  let transferSyntax = explicit ? EXPLICIT_LE : IMPLICIT_LE;
  let pixel: { offset: number; length: number } | null = null;

  const need = (n: number) => {
    if (pos + n > head.length) throw new Cut();
  };
  // Tags whose values we read (group << 16 | element).
  const WANT: Record<number, string> = {
    0x00020010: 'ts',
    0x00080016: 'sop',
    0x00080060: 'modality',
    0x0020000e: 'series',
    0x00200011: 'seriesNumber',
    0x00200013: 'instance',
    0x00200032: 'ipp',
    0x00200037: 'iop',
    0x00181120: 'tilt',
  };
  const U16: Record<number, string> = { 0x00280010: 'rows', 0x00280011: 'columns', 0x00280100: 'bits', 0x00280002: 'samples' };
  const nums: Record<string, number> = {};

  /** Read elements until `end` (or an item/sequence delimiter when nested with undefined length). */
  const readElements = (end: number, nested: boolean): void => {
    while (pos < end) {
      // The meta group (0002) is always explicit VR little endian; the dataset follows the transfer syntax.
      need(8);
      const metaGroup = dv.getUint16(pos, true) === 0x0002;
      const le = metaGroup ? true : little;
      const group = dv.getUint16(pos, le);
      const elem = dv.getUint16(pos + 2, le);
      const tag = ((group << 16) | elem) >>> 0;
      if (group === 0xfffe) {
        // Item delimiter or sequence delimiter ends a nested undefined-length list.
        pos += 8;
        if (nested && (elem === 0xe00d || elem === 0xe0dd)) return;
        continue;
      }
      let vr = '';
      let length: number;
      if (explicit || metaGroup) {
        vr = text(pos + 4, 2);
        if (LONG_VR.has(vr)) {
          need(12);
          length = dv.getUint32(pos + 8, le);
          pos += 12;
        } else {
          length = dv.getUint16(pos + 6, le);
          pos += 8;
        }
      } else {
        length = dv.getUint32(pos + 4, le);
        pos += 8;
        if (tag === 0x7fe00010) vr = 'OW';
      }
      if (tag === 0x7fe00010 && !nested) {
        pixel = { offset: pos, length };
        return;
      }
      if (length === UNDEFINED) {
        // A sequence (or UN) of undefined length: walk its items.
        readSequence();
        continue;
      }
      if (metaGroup && tag === 0x00020010) {
        need(length);
        transferSyntax = text(pos, length).replace(/[\0 ]+$/, '');
      } else if (WANT[tag]) {
        need(length);
        str[WANT[tag]] = text(pos, length).replace(/[\0 ]+$/, '').trim();
      } else if (U16[tag] && length === 2) {
        need(2);
        nums[U16[tag]] = dv.getUint16(pos, le);
      }
      pos += length;
      // Leaving the meta group: switch to the dataset's encoding.
      if (metaGroup && pos + 2 <= head.length && dv.getUint16(pos, true) !== 0x0002) {
        if (transferSyntax === IMPLICIT_LE) explicit = false;
        if (transferSyntax === EXPLICIT_BE) little = false;
      }
    }
  };
  const readSequence = () => {
    for (;;) {
      need(8);
      const group = dv.getUint16(pos, little), elem = dv.getUint16(pos + 2, little);
      const length = dv.getUint32(pos + 4, little);
      pos += 8;
      if (group !== 0xfffe) throw new Error('malformed sequence');
      if (elem === 0xe0dd) return; // sequence delimiter
      if (elem === 0xe000) {
        if (length === UNDEFINED) readElements(Infinity, true);
        else pos += length;
      }
    }
  };

  try {
    readElements(head.length, false);
    if (!pixel && !complete) return { needMore: true };
  } catch (e) {
    if (e instanceof Cut) {
      if (!complete) return { needMore: true };
      return { ok: false, slice: true, reason: `the DICOM header is cut short after ${head.length} bytes (truncated file?)` };
    }
    return { ok: false, reason: `the DICOM header could not be read (${(e as Error).message})` };
  }
  if (transferSyntax === DEFLATED) return { ok: false, reason: 'deflate-compressed DICOM is not supported' };
  const sop = str.sop ?? '';
  if (!pixel) {
    const what = sopClassName(sop);
    return { ok: false, reason: `a DICOM file with no pixel data: ${what ?? `not an image${sop ? ` (SOP class ${sop})` : ''}`}` };
  }
  // dcm2niix skips a slice it cannot decode with only a console warning (exit 0): name it here instead.
  if (!DECODABLE.has(transferSyntax))
    return { ok: false, slice: true, reason: `its pixels are stored as ${transferSyntaxName(transferSyntax)} (transfer syntax ${transferSyntax}), which the DICOM decoder cannot read` };
  const px = pixel as { offset: number; length: number };
  const rows = nums.rows ?? 0, columns = nums.columns ?? 0;
  if (px.length !== UNDEFINED) {
    const end = px.offset + px.length;
    if (end > fileSize)
      return { ok: false, slice: true, reason: `the file is cut short: its pixel data needs ${end - px.offset} bytes, the file holds ${Math.max(0, fileSize - px.offset)} (truncated?)` };
    const needed = rows * columns * ((nums.bits ?? 16) / 8) * (nums.samples ?? 1);
    if (needed > 0 && px.length < needed)
      return { ok: false, slice: true, reason: `its pixel data holds ${px.length} bytes, a ${columns}×${rows} image needs ${needed}` };
  } else {
    // Encapsulated (compressed) frames: the fragments must end with a sequence delimiter.
    if (!complete) return { needMore: true };
    pos = px.offset;
    try {
      readSequence();
    } catch {
      return { ok: false, slice: true, reason: 'the file is cut short inside its compressed pixel data (truncated?)' };
    }
  }
  const floats = (s: string | undefined) => (s ? s.split('\\').map(Number) : []);
  const ipp = floats(str.ipp), iop = floats(str.iop);
  return {
    ok: true,
    slice: {
      sopClassUid: sop,
      modality: str.modality ?? '',
      seriesUid: str.series ?? '',
      seriesNumber: str.seriesNumber ?? '',
      instanceNumber: str.instance ? Number(str.instance) : null,
      rows,
      columns,
      position: ipp.length === 3 && ipp.every(Number.isFinite) ? (ipp as [number, number, number]) : null,
      orientation: iop.length === 6 && iop.every(Number.isFinite) ? (iop as DicomSlice['orientation']) : null,
      gantryTilt: Number.isFinite(Number(str.tilt)) ? Number(str.tilt ?? 0) : 0,
      transferSyntax,
    },
  };
}

/** Inspect a DICOM file, reading 64 KiB first and the whole file only when the header needs it. */
export async function inspectDicom(file: Blob): Promise<DicomInspection> {
  const first = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
  let r = inspectDicomBytes(first, file.size);
  if ('needMore' in r) {
    r = inspectDicomBytes(new Uint8Array(await file.arrayBuffer()), file.size);
    if ('needMore' in r) return { ok: false, slice: true, reason: 'the DICOM file ends before its pixel data (truncated?)' };
  }
  return r;
}

/** Slice geometry of one series: the tilt, and the distances between neighbouring slice positions. */
export interface SeriesGeometry {
  tilt: number;
  /** Distances (mm) between consecutive slice positions, in spatial order. */
  gaps: number[];
}

export function seriesGeometry(slices: DicomSlice[]): SeriesGeometry | null {
  const placed = slices.filter((s) => s.position && s.orientation);
  if (placed.length < 2) return null;
  const o = placed[0].orientation!;
  // Slice normal = row × column.
  const n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
  const sorted = [...placed].sort((a, b) => dot(n, a.position!) - dot(n, b.position!));
  const gaps: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1].position!, b = sorted[i].position!;
    gaps.push(Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2]));
  }
  const tilts = placed.map((s) => s.gantryTilt).filter((t) => t !== 0);
  return { tilt: tilts.length ? tilts[0] : 0, gaps };
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** True when slice gaps differ by more than 1 % (or 0.05 mm) of the typical gap. */
export function unevenGaps(gaps: number[]): boolean {
  if (gaps.length < 2) return false;
  const lo = Math.min(...gaps), hi = Math.max(...gaps);
  return hi - lo > Math.max(0.05, 0.01 * hi);
}
