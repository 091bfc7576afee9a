// A zip reader that works from the central directory and reads each entry by its own byte range (for
// multi-GB checkpoints: nothing is read that is not needed), with zip64; and a writer that aligns every
// entry's data to 64 bytes the way PyTorch's writer does (an "FB" padding extra field in the local header).
// Torch stores its records uncompressed; deflated entries (other tools) are inflated with fflate.
import { inflateSync } from 'fflate';
import type { ByteSource } from './byteSource';
import { crc32 } from './crc32';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localHeaderOffset: number;
}

export class ZipFormatError extends Error {}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32 = 0xffffffff;
const U16 = 0xffff;

const u64 = (v: DataView, at: number): number => {
  const big = v.getBigUint64(at, true);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError(`zip64 value ${big} is too large`);
  return Number(big);
};

/** Whether the first bytes look like a zip archive (local header or empty-archive EOCD). */
export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const sig = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** Lists the entries from the central directory. Throws ZipFormatError naming the file when it is not a readable zip. */
export async function readZipDirectory(src: ByteSource): Promise<ZipEntry[]> {
  const fail = (why: string): never => {
    throw new ZipFormatError(`${src.name}: ${why}`);
  };
  if (src.size < 22) fail(`not a zip archive (only ${src.size} bytes)`);
  // The end-of-central-directory record sits in the last 22 + (comment ≤ 65535) bytes.
  const tailLen = Math.min(src.size, 22 + 65535 + 20);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('not a zip archive, or truncated (no end-of-central-directory record)');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) {
    if (tv.getUint16(eocd + 4, true) !== U16) fail('is a multi-volume zip archive, which is not supported');
  }
  if (count === U16 || cdSize === U32 || cdOffset === U32) {
    // zip64: a locator right before the EOCD points at the zip64 EOCD record.
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== SIG_EOCD64_LOCATOR) fail('zip64 archive without its zip64 locator (truncated?)');
    const recOffset = u64(tv, loc + 8);
    const rec = await src.read(recOffset, 56).catch(() => fail('zip64 end record lies outside the file (truncated?)'));
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== SIG_EOCD64) fail('damaged zip64 end record');
    count = u64(rv, 32);
    cdSize = u64(rv, 40);
    cdOffset = u64(rv, 48);
  }
  if (cdOffset + cdSize > src.size) fail(`truncated: the central directory (${cdOffset}+${cdSize}) lies beyond the end of the ${src.size}-byte file`);
  const cd = await src.read(cdOffset, cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  const dec = new TextDecoder();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) fail(`damaged central directory at entry ${n}`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) fail(`damaged central directory at entry ${n}`);
    const name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field (id 1): the 64-bit values of the fields that are 0xFFFFFFFF, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const take = () => {
          if (q + 8 > e + 4 + len) fail(`damaged zip64 field of ${name}`);
          const v = u64(cv, q);
          q += 8;
          return v;
        };
        if (size === U32) size = take();
        if (compressedSize === U32) compressedSize = take();
        if (localHeaderOffset === U32) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    if (flags & 1) fail(`entry ${name} is encrypted`);
    if (method !== 0 && method !== 8) fail(`entry ${name} uses compression method ${method} (only stored and deflated are read)`);
    if (localHeaderOffset + 30 + compressedSize > src.size) fail(`truncated: entry ${name} lies beyond the end of the file`);
    entries.push({ name, method, compressedSize, size, crc, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Where an entry's data starts (after its local header, whose name/extra lengths may differ from the central copy). */
export async function entryDataOffset(src: ByteSource, entry: ZipEntry): Promise<number> {
  const h = await src.read(entry.localHeaderOffset, 30);
  const v = new DataView(h.buffer, h.byteOffset, 30);
  if (v.getUint32(0, true) !== SIG_LOCAL) throw new ZipFormatError(`${src.name}: damaged local header of ${entry.name}`);
  const start = entry.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
  if (start + entry.compressedSize > src.size) throw new ZipFormatError(`${src.name}: truncated: ${entry.name} lies beyond the end of the file`);
  return start;
}

/** Reads a whole entry (small records: data.pkl, version…); checks its CRC. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry): Promise<Uint8Array> {
  const start = await entryDataOffset(src, entry);
  const raw = await src.read(start, entry.compressedSize);
  let out: Uint8Array = raw;
  if (entry.method === 8) {
    try {
      out = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (e) {
      throw new ZipFormatError(`${src.name}: entry ${entry.name} does not inflate (${(e as Error).message})`);
    }
  }
  if (out.length !== entry.size) throw new ZipFormatError(`${src.name}: entry ${entry.name} has ${out.length} bytes, the directory says ${entry.size}`);
  if (crc32(out) !== entry.crc) throw new ZipFormatError(`${src.name}: entry ${entry.name} is damaged (CRC mismatch)`);
  return out;
}

// ---- writing -----------------------------------------------------------------------------------------------

export interface ZipWriteEntry {
  name: string;
  /** The data, possibly in several pieces (written as they are, never concatenated). */
  data: Uint8Array[];
}

export interface ZipWriteOptions {
  /** Data alignment in bytes (PyTorch: 64). */
  align?: number;
  /** Write zip64 records even when nothing needs them (tests). */
  forceZip64?: boolean;
}

/**
 * Builds a stored (uncompressed) zip as a list of byte pieces (for `new Blob(pieces)`; a multi-GB checkpoint
 * is never one array). Every entry's data starts at a multiple of `align`.
 */
export function writeZip(entries: ZipWriteEntry[], opts: ZipWriteOptions = {}): Uint8Array[] {
  const align = opts.align ?? 64;
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => {
    out.push(b);
    offset += b.length;
  };
  for (const entry of entries) {
    const name = enc.encode(entry.name);
    const size = entry.data.reduce((a, b) => a + b.length, 0);
    let crc = 0;
    for (const piece of entry.data) crc = crc32(piece, crc);
    const headerOffset = offset;
    const local64 = opts.forceZip64 || size >= U32;
    const zip64LocalLen = local64 ? 20 : 0;
    const base = headerOffset + 30 + name.length + zip64LocalLen;
    let padLen = (align - (base % align)) % align;
    if (padLen > 0 && padLen < 4) padLen += align;
    const extra = new Uint8Array(zip64LocalLen + padLen);
    const ev = new DataView(extra.buffer);
    if (local64) {
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 16, true);
      ev.setBigUint64(4, BigInt(size), true);
      ev.setBigUint64(12, BigInt(size), true);
    }
    if (padLen) {
      // PyTorch's padding field: id "FB", filled with 'Z'.
      ev.setUint16(zip64LocalLen, 0x4246, true);
      ev.setUint16(zip64LocalLen + 2, padLen - 4, true);
      extra.fill(0x5a, zip64LocalLen + 4);
    }
    const lh = new Uint8Array(30);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, local64 ? 45 : 20, true);
    lv.setUint16(6, 0, true);
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(10, 0, true); // time
    lv.setUint16(12, 0, true); // date
    lv.setUint32(14, crc, true);
    lv.setUint32(18, local64 ? U32 : size, true);
    lv.setUint32(22, local64 ? U32 : size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    push(lh);
    push(name);
    push(extra);
    for (const piece of entry.data) push(piece);

    const big = opts.forceZip64 || size >= U32 || headerOffset >= U32;
    const c64 = big ? new Uint8Array(28) : new Uint8Array(0);
    if (big) {
      const cv = new DataView(c64.buffer);
      cv.setUint16(0, 1, true);
      cv.setUint16(2, 24, true);
      cv.setBigUint64(4, BigInt(size), true);
      cv.setBigUint64(12, BigInt(size), true);
      cv.setBigUint64(20, BigInt(headerOffset), true);
    }
    const ch = new Uint8Array(46);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? U32 : size, true);
    cv.setUint32(24, big ? U32 : size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, c64.length, true);
    cv.setUint32(42, big ? U32 : headerOffset, true);
    central.push(ch, name, c64);
  }
  const cdOffset = offset;
  for (const c of central) push(c);
  const cdSize = offset - cdOffset;
  const need64 = opts.forceZip64 || entries.length >= U16 || cdOffset >= U32 || cdSize >= U32;
  if (need64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    const recOffset = offset;
    rv.setUint32(0, SIG_EOCD64, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(entries.length), true);
    rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    push(rec);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, SIG_EOCD64_LOCATOR, true);
    lv.setBigUint64(8, BigInt(recOffset), true);
    lv.setUint32(16, 1, true);
    push(loc);
  }
  const eocd = new Uint8Array(22);
  const dv = new DataView(eocd.buffer);
  dv.setUint32(0, SIG_EOCD, true);
  dv.setUint16(8, need64 ? U16 : entries.length, true);
  dv.setUint16(10, need64 ? U16 : entries.length, true);
  dv.setUint32(12, need64 ? U32 : cdSize, true);
  dv.setUint32(16, need64 ? U32 : cdOffset, true);
  push(eocd);
  return out;
}

/** Joins pieces into one array (tests and small files only). */
export function concatBytes(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((a, b) => a + b.length, 0));
  let p = 0;
  for (const b of pieces) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}
