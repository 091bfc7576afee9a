"""safetensors without the safetensors package: 8-byte little-endian header length, JSON header
{name: {dtype, shape, data_offsets}, "__metadata__": {...}}, raw little-endian data. The writer lays the file out
as the studio's src/model/weights.ts does (metadata first, tensors in order, header padded with spaces to 8 bytes)."""
import json
import struct

import numpy as np

DTYPES = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32, 'U8': np.uint8,
          'I16': np.int16, 'I8': np.int8, 'BOOL': np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}
METADATA_KEY = '__metadata__'
MAX_HEADER = 100_000_000


def _bf16_to_f32(raw):
    u = np.frombuffer(raw, dtype='<u2').astype(np.uint32) << 16
    return u.view(np.float32)


def read_safetensors(data, source='safetensors file'):
    """bytes → (ordered dict name → numpy array (read-only view/copy, native dtype; BF16 → float32), metadata)."""
    def fail(why):
        raise ValueError(f'{source}: {why}')
    if len(data) < 8:
        fail(f'too short ({len(data)} bytes) to be a safetensors file')
    (n,) = struct.unpack('<Q', data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        fail(f'header length {n} does not fit in {len(data)} bytes')
    try:
        header = json.loads(bytes(data[8:8 + n]).decode('utf-8'))
    except Exception as e:  # noqa: BLE001
        fail(f'header is not valid UTF-8 JSON ({e})')
    if not isinstance(header, dict):
        fail('header is not a JSON object')
    start = 8 + n
    body = memoryview(data)[start:]
    metadata = header.pop(METADATA_KEY, {}) or {}
    out = {}
    spans = []
    for name, e in header.items():
        dt = e.get('dtype')
        shape = e.get('shape')
        off = e.get('data_offsets')
        if dt == 'BF16':
            np_dt = None
        elif dt in DTYPES:
            np_dt = np.dtype(DTYPES[dt]).newbyteorder('<')
        else:
            fail(f"tensor '{name}' has dtype {dt!r}")
        if not isinstance(off, list) or len(off) != 2 or not (0 <= off[0] <= off[1] <= len(body)):
            fail(f"tensor '{name}' has bad data_offsets {off!r} (data section is {len(body)} bytes)")
        count = int(np.prod(shape)) if shape else 1
        width = 2 if np_dt is None else np_dt.itemsize
        if off[1] - off[0] != count * width:
            fail(f"tensor '{name}': {off[1] - off[0]} bytes for shape {shape} of {dt}")
        raw = body[off[0]:off[1]]
        arr = _bf16_to_f32(raw) if np_dt is None else np.frombuffer(raw, dtype=np_dt)
        out[name] = arr.reshape(shape)
        spans.append((off[0], off[1], name))
    spans.sort()
    expect = 0
    for b, e, name in spans:
        if b != expect:
            fail(f"tensor '{name}' starts at byte {b}, expected {expect} (gap or overlap)")
        expect = e
    if expect != len(body):
        fail(f'data section has {len(body) - expect} trailing bytes not covered by any tensor')
    return out, metadata


def _is_index(k):
    return k.isdigit() and (k == '0' or not k.startswith('0')) and int(k) < 2 ** 32 - 1


def js_key_order(d):
    """A JS object's own-key order: array-index keys ascending first, then the others in insertion order."""
    idx = sorted((k for k in d if _is_index(k)), key=int)
    return {**{k: d[k] for k in idx}, **{k: v for k, v in d.items() if not _is_index(k)}}


def write_safetensors(tensors, metadata=None):
    """tensors: iterable of (name, numpy array) in file order → bytes, laid out as the studio writes them."""
    header = {}
    if metadata:
        header[METADATA_KEY] = {k: str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, arr in tensors:
        a = np.asarray(arr)
        if name == METADATA_KEY or name in header:
            raise ValueError(f"write_safetensors: duplicate or reserved tensor name '{name}'")
        dt = NAMES.get(a.dtype.newbyteorder('=')) if a.dtype.byteorder not in ('=', '|') else NAMES.get(a.dtype)
        if dt is None:
            raise ValueError(f"write_safetensors: '{name}' has unsupported dtype {a.dtype}")
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        chunks.append(b)
    text = json.dumps(js_key_order(header), separators=(',', ':'), ensure_ascii=False)
    length = len(text.encode('utf-8'))
    text += ' ' * ((8 - ((8 + length) % 8)) % 8)
    hb = text.encode('utf-8')
    return struct.pack('<Q', len(hb)) + hb + b''.join(chunks)
