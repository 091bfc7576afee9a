"""A small zip reader/writer for .voco files (what fflate's zipSync writes: stored or deflated entries, no data
descriptors, no zip64). The reader keeps every entry's raw records, so an archive rewritten with the same
contents comes out byte for byte the same (deflate streams are not reproducible across zlib implementations)."""
import struct
import time
import zlib
from dataclasses import dataclass
from typing import List, Optional

LOCAL_SIG = 0x04034B50
CENTRAL_SIG = 0x02014B50
EOCD_SIG = 0x06054B50


@dataclass
class ZipEntry:
    name: str
    data: bytes
    compress: bool = True
    # Raw records of an entry read from an archive (reused when the data is unchanged).
    raw_local: Optional[bytes] = None  # local header + compressed data
    raw_central: Optional[bytes] = None


@dataclass
class ZipArchive:
    entries: List[ZipEntry]
    raw_eocd: Optional[bytes] = None

    def get(self, name):
        for e in self.entries:
            if e.name == name:
                return e
        return None


def read_zip(buf, source='zip archive'):
    buf = bytes(buf)

    def fail(why):
        raise ValueError(f'{source}: {why}')
    at = buf.rfind(struct.pack('<I', EOCD_SIG), max(0, len(buf) - 22 - 65535))
    if at < 0 or len(buf) - at < 22:
        fail('is not a zip archive (no end-of-central-directory record)')
    (_, _, _, _, count, cd_size, cd_off, clen) = struct.unpack('<IHHHHIIH', buf[at:at + 22])
    raw_eocd = buf[at:at + 22 + clen]
    entries = []
    p = cd_off
    for _ in range(count):
        if struct.unpack('<I', buf[p:p + 4])[0] != CENTRAL_SIG:
            fail(f'central directory record at byte {p} is damaged')
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, klen, _, _, _, loff) = struct.unpack('<IHHHHHHIIIHHHHHII', buf[p:p + 46])
        name = buf[p + 46:p + 46 + nlen].decode('utf-8' if flags & 0x800 else 'cp437')
        raw_central = buf[p:p + 46 + nlen + xlen + klen]
        p += 46 + nlen + xlen + klen
        if struct.unpack('<I', buf[loff:loff + 4])[0] != LOCAL_SIG:
            fail(f'local header of {name} is damaged')
        lnlen, lxlen = struct.unpack('<HH', buf[loff + 26:loff + 30])
        dstart = loff + 30 + lnlen + lxlen
        comp = buf[dstart:dstart + csize]
        if method == 0:
            data = comp
        elif method == 8:
            data = zlib.decompressobj(-15).decompress(comp)
        else:
            fail(f'{name} uses compression method {method}; only stored and deflate are read')
        if len(data) != usize or (zlib.crc32(data) & 0xFFFFFFFF) != crc:
            fail(f'{name} is damaged (size or CRC mismatch)')
        entries.append(ZipEntry(name, data, method == 8, buf[loff:dstart + csize], raw_central))
    return ZipArchive(entries, raw_eocd)


def _dos_time(t):
    lt = time.localtime(t)
    dtime = (lt.tm_hour << 11) | (lt.tm_min << 5) | (lt.tm_sec // 2)
    ddate = ((max(lt.tm_year, 1980) - 1980) << 9) | (lt.tm_mon << 5) | lt.tm_mday
    return dtime, ddate


def write_zip(entries, original: Optional[ZipArchive] = None, mtime=None):
    """entries: list of ZipEntry (name, data, compress). An entry whose name and data equal the original's at the
    same position reuses the original's raw records; the rest are written fresh (deflate level 6)."""
    mtime = time.time() if mtime is None else mtime
    out = bytearray()
    central = []
    for i, e in enumerate(entries):
        old = original.entries[i] if original and i < len(original.entries) else None
        offset = len(out)
        if old is not None and old.name == e.name and old.data == e.data and old.raw_local is not None:
            out += old.raw_local
            rc = bytearray(old.raw_central)
            rc[42:46] = struct.pack('<I', offset)
            central.append(bytes(rc))
            continue
        name = e.name.encode('utf-8')
        flags = 0 if all(c < 128 for c in name) else 0x800
        if e.compress:
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = co.compress(e.data) + co.flush()
            method = 8
        else:
            comp, method = e.data, 0
        crc = zlib.crc32(e.data) & 0xFFFFFFFF
        dtime, ddate = _dos_time(mtime)
        out += struct.pack('<IHHHHHIIIHH', LOCAL_SIG, 20, flags, method, dtime, ddate, crc, len(comp), len(e.data), len(name), 0) + name + comp
        central.append(struct.pack('<IHHHHHHIIIHHHHHII', CENTRAL_SIG, 20, 20, flags, method, dtime, ddate, crc, len(comp), len(e.data),
                                   len(name), 0, 0, 0, 0, 0, offset) + name)
    cd_off = len(out)
    for c in central:
        out += c
    cd_size = len(out) - cd_off
    if original is not None and original.raw_eocd is not None:
        eocd = bytearray(original.raw_eocd)
        eocd[8:20] = struct.pack('<HHII', len(entries), len(entries), cd_size, cd_off)
        out += eocd
    else:
        out += struct.pack('<IHHHHIIH', EOCD_SIG, 0, 0, len(entries), len(entries), cd_size, cd_off, 0)
    return bytes(out)
