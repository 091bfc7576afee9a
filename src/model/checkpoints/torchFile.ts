// Reads a PyTorch checkpoint written by torch.save (torch ≥ 1.6 zip format): <archive>/data.pkl is a pickle
// whose tensors point (persistent ids) at storages <archive>/data/<key>, each stored uncompressed. Only the
// pickle and the zip directory are read up front; tensor bytes are read one tensor at a time, by range.
// The legacy formats (pre-1.6 pickle stream, older tar) are recognised and refused with a clear message.
import type { ByteSource } from './byteSource';
import { DTYPE_BYTES, swapBytes, type TorchDType } from './dtypes';
import { PyDict, PyTuple, unpickle, type PyCallable } from './pickle';
import { entryDataOffset, looksLikeZip, readZipDirectory, readZipEntry, type ZipEntry } from './zip';

export class CheckpointFormatError extends Error {}

const STORAGE_DTYPES: Record<string, TorchDType> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** A storage record of the archive (data/<key>). */
export interface StorageRef {
  key: string;
  dtype: TorchDType;
  numel: number;
  location: string;
}

/** A tensor as torch._utils._rebuild_tensor_v2 describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): TorchDType {
    return this.storage.dtype;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

const intList = (v: unknown, what: string): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items || !items.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) throw new Error(`${what} is not a tuple of non-negative integers`);
  return items as number[];
};

const fn = (qualname: string, call: (args: unknown[]) => unknown): PyCallable => ({ qualname, call });

function rebuildTensor(args: unknown[], what: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!storage || typeof storage !== 'object' || !('key' in storage)) throw new Error(`${what}: its storage is not a storage record`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new Error(`${what}: bad storage offset`);
  const shape = intList(size, `${what}: size`);
  const strides = intList(stride, `${what}: stride`);
  if (shape.length !== strides.length) throw new Error(`${what}: size and stride differ in length`);
  return new TensorRef(storage as StorageRef, offset as number, shape, strides);
}

/** The names a torch checkpoint may use, and what they build. Anything else is refused by the unpickler. */
function torchGlobals(): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  const dictLike = (qualname: string) =>
    fn(
      qualname,
      (args) => {
        const d = new PyDict(qualname);
        // OrderedDict(iterable of pairs)
        const init = args[0];
        const pairs = Array.isArray(init) ? init : init instanceof PyTuple ? init.items : [];
        for (const p of pairs) {
          const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : null;
          if (!kv || kv.length !== 2) throw new Error(`${qualname}(): items must be pairs`);
          d.set(kv[0], kv[1]);
        }
        return d;
      },
    );
  g['collections.OrderedDict'] = dictLike('collections.OrderedDict');
  g['builtins.dict'] = dictLike('dict');
  g['torch._utils._rebuild_tensor_v2'] = fn('torch._utils._rebuild_tensor_v2', (a) => rebuildTensor(a, '_rebuild_tensor_v2'));
  g['torch._utils._rebuild_tensor'] = fn('torch._utils._rebuild_tensor', (a) => rebuildTensor(a, '_rebuild_tensor'));
  // nn.Parameter saved directly: (data, requires_grad, backward_hooks[, state]) → the tensor.
  const param = (name: string) =>
    fn(name, (a) => {
      if (!(a[0] instanceof TensorRef)) throw new Error(`${name}: its data is not a tensor`);
      return a[0];
    });
  g['torch._utils._rebuild_parameter'] = param('torch._utils._rebuild_parameter');
  g['torch._utils._rebuild_parameter_with_state'] = param('torch._utils._rebuild_parameter_with_state');
  // Tensor subclasses: _rebuild_from_type_v2(func, new_type, args, state) → func(*args).
  g['torch._tensor._rebuild_from_type_v2'] = fn('torch._tensor._rebuild_from_type_v2', (a) => {
    const [f, , args] = a;
    if (!f || typeof (f as PyCallable).call !== 'function' || !(args instanceof PyTuple)) throw new Error('_rebuild_from_type_v2: bad arguments');
    return (f as PyCallable).call(args.items);
  });
  const marker = (qualname: string) => fn(qualname, () => {
    throw new Error(`${qualname} cannot be constructed from a checkpoint`);
  });
  g['torch.nn.parameter.Parameter'] = marker('torch.nn.parameter.Parameter');
  g['torch.Tensor'] = marker('torch.Tensor');
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) g[`torch.${name}`] = Object.assign(marker(`torch.${name}`), { storageDtype: dtype });
  // Python 3 bytes under protocol 2: _codecs.encode(text, 'latin1').
  g['_codecs.encode'] = fn('_codecs.encode', (a) => {
    if (typeof a[0] !== 'string') throw new Error('_codecs.encode: not a string');
    return Uint8Array.from(a[0], (c) => c.charCodeAt(0) & 0xff);
  });
  g['torch.device'] = fn('torch.device', (a) => String(a[0]) + (a.length > 1 && a[1] !== null ? `:${a[1]}` : ''));
  return g;
}

/** An opened torch checkpoint: the unpickled object tree (TensorRef leaves) and a way to read a tensor's bytes. */
export interface TorchCheckpoint {
  kind: 'torch-zip';
  source: string;
  /** Folder name of the records inside the zip (torch writes the file stem or "archive"). */
  archive: string;
  /** The contents of the `version` record, when present. */
  version: string | null;
  byteorder: 'little' | 'big';
  root: unknown;
  /** The tensor's elements, contiguous, little-endian (a fresh array). */
  readTensor(t: TensorRef): Promise<Uint8Array>;
}

/** Opens a .pt/.pth file. Throws CheckpointFormatError naming the file and the problem. */
export async function openTorchCheckpoint(src: ByteSource): Promise<TorchCheckpoint> {
  const fail = (why: string): never => {
    throw new CheckpointFormatError(`${src.name}: ${why}`);
  };
  if (src.size === 0) fail('the file is empty');
  const head = await src.read(0, Math.min(src.size, 512));
  if (!looksLikeZip(head)) fail(describeNonZip(head));
  let entries: ZipEntry[] = [];
  try {
    entries = await readZipDirectory(src);
  } catch (e) {
    fail(`${(e as Error).message.replace(`${src.name}: `, '')} — the zip archive of this checkpoint cannot be read`);
  }
  if (entries.some((e) => /^([^/]+\/)?constants\.pkl$/.test(e.name) || /^([^/]+\/)?code\//.test(e.name))) {
    fail('is a TorchScript model (torch.jit.save), not a checkpoint of weights; save model.state_dict() with torch.save instead');
  }
  const pkl = entries.filter((e) => /^([^/]+\/)?data\.pkl$/.test(e.name)).sort((a, b) => a.name.length - b.name.length)[0];
  if (!pkl) fail('is a zip archive but not a PyTorch checkpoint (no data.pkl inside)');
  const archive = pkl.name.includes('/') ? pkl.name.slice(0, pkl.name.indexOf('/')) : '';
  const prefix = archive ? `${archive}/` : '';
  const byName = new Map(entries.map((e) => [e.name, e]));
  const small = async (name: string) => {
    const e = byName.get(prefix + name);
    return e ? new TextDecoder().decode(await readZipEntry(src, e)).trim() : null;
  };
  const version = await small('version');
  const order = await small('byteorder');
  if (order !== null && order !== 'little' && order !== 'big') fail(`has an unknown byteorder record '${order}'`);
  const byteorder = (order ?? 'little') as 'little' | 'big';

  const storages = new Map<string, StorageRef>();
  const globals = torchGlobals();
  const persistentLoad = (pid: unknown) => {
    const t = pid instanceof PyTuple ? pid.items : null;
    if (!t || t[0] !== 'storage' || t.length < 5) throw new Error(`unknown persistent id ${JSON.stringify(pid)}`);
    const [, type, key, location, numel] = t;
    const dtype = (type as { storageDtype?: TorchDType })?.storageDtype;
    if (!dtype) throw new Error(`storage of unknown type ${(type as PyCallable)?.qualname ?? typeof type}`);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel)) throw new Error('bad storage record');
    let s = storages.get(key);
    if (!s) {
      const entry = byName.get(`${prefix}data/${key}`);
      if (!entry) throw new Error(`storage data/${key} is missing from the archive (truncated or damaged file)`);
      if (entry.size < (numel as number) * DTYPE_BYTES[dtype]) throw new Error(`storage data/${key} has ${entry.size} bytes, ${numel} ${dtype} elements need ${(numel as number) * DTYPE_BYTES[dtype]}`);
      s = { key, dtype, numel: numel as number, location: String(location) };
      storages.set(key, s);
    }
    return s;
  };
  let root: unknown;
  try {
    root = unpickle(await readZipEntry(src, pkl), { globals, persistentLoad, source: `${src.name}: ${pkl.name}` });
  } catch (e) {
    const msg = (e as Error).message;
    fail(msg.startsWith(src.name) ? msg.slice(src.name.length + 2) : msg);
  }

  const dataOffsets = new Map<string, Promise<number>>();
  const dataOffset = (key: string) => {
    let p = dataOffsets.get(key);
    if (!p) {
      const entry = byName.get(`${prefix}data/${key}`)!;
      if (entry.method !== 0) fail(`storage data/${key} is compressed; torch writes storages uncompressed`);
      p = entryDataOffset(src, entry);
      dataOffsets.set(key, p);
    }
    return p;
  };

  return {
    kind: 'torch-zip',
    source: src.name,
    archive,
    version,
    byteorder,
    root,
    async readTensor(t: TensorRef) {
      const w = DTYPE_BYTES[t.dtype];
      const n = t.numel;
      if (n === 0) return new Uint8Array(0);
      // Elements the view spans in its storage.
      let extent = 1;
      for (let i = 0; i < t.shape.length; i++) extent += (t.shape[i] - 1) * t.stride[i];
      if (t.offset + extent > t.storage.numel) fail(`a tensor of shape [${t.shape}] reaches past the end of its storage data/${t.storage.key}`);
      const base = await dataOffset(t.storage.key);
      const span = await src.read(base + t.offset * w, extent * w);
      let out: Uint8Array;
      if (isContiguous(t.shape, t.stride)) out = span.slice(0, n * w);
      else {
        out = new Uint8Array(n * w);
        const idx = new Array(t.shape.length).fill(0);
        for (let k = 0; k < n; k++) {
          let off = 0;
          for (let d = 0; d < idx.length; d++) off += idx[d] * t.stride[d];
          out.set(span.subarray(off * w, off * w + w), k * w);
          for (let d = idx.length - 1; d >= 0; d--) {
            if (++idx[d] < t.shape[d]) break;
            idx[d] = 0;
          }
        }
      }
      if (byteorder === 'big') swapBytes(out, t.dtype);
      return out;
    },
  };
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d];
  }
  return true;
}

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** Why a file that is not a zip cannot be read, as precisely as its first bytes allow. */
export function describeNonZip(head: Uint8Array): string {
  if (LEGACY_MAGIC.every((b, i) => head[i] === b)) {
    return (
      'is in the legacy PyTorch format (torch.save before 1.6, or _use_new_zipfile_serialization=False), which this ' +
      'studio does not read; convert it once with torch ≥ 1.6: torch.save(torch.load("old.pt"), "new.pt")'
    );
  }
  if (head.length >= 262 && new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar') {
    return 'is in the old tar-based PyTorch format (torch < 0.4); convert it with torch ≥ 1.6: torch.save(torch.load("old.pt"), "new.pt")';
  }
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) {
    return 'is a bare pickle, not a torch.save checkpoint (no zip archive around it); it is not read, since only checkpoints are';
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'is gzip-compressed; decompress it first';
  if (head.length >= 9 && head[8] === 0x7b) return 'looks like a safetensors file; give it the .safetensors extension';
  return 'is not a PyTorch checkpoint (neither the zip format of torch.save nor a legacy one)';
}
