// Writes a checkpoint that torch.load reads, without Python: the zip layout of torch.save (≥ 1.6) —
// <archive>/data.pkl (protocol-2 pickle), <archive>/byteorder, <archive>/data/<n> (one storage per tensor,
// raw little-endian, 64-byte aligned), <archive>/version — with a pickle that only uses what torch.save
// itself emits: dicts, collections.OrderedDict, torch._utils._rebuild_tensor_v2 over torch.<Type>Storage
// persistent ids, ints, floats and strings.
import { DTYPE_BYTES, type TorchDType } from './dtypes';
import type { RawTensor } from './safetensors';
import { writeZip } from './zip';

const STORAGE_NAMES: Record<TorchDType, string> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** A tiny protocol-2 pickle writer (opcodes as in Python's pickle module). */
class PickleWriter {
  private chunks: number[] = [];
  private memo = new Map<string, number>();
  private readonly enc = new TextEncoder();
  constructor() {
    this.byte(0x80, 2); // PROTO 2
  }
  byte(...b: number[]) {
    for (const x of b) this.chunks.push(x & 0xff);
  }
  u32(v: number) {
    this.byte(v, v >>> 8, v >>> 16, v >>> 24);
  }
  int(v: number) {
    if (!Number.isSafeInteger(v)) throw new Error(`pickle: ${v} is not an integer`);
    if (v >= 0 && v < 256) this.byte(0x4b, v); // BININT1
    else if (v >= 0 && v < 65536) this.byte(0x4d, v, v >>> 8); // BININT2
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a); // BININT
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, minimal length
      let big = BigInt(v);
      const bytes: number[] = [];
      for (;;) {
        bytes.push(Number(big & 0xffn));
        big >>= 8n;
        const last = bytes[bytes.length - 1];
        if ((big === 0n && !(last & 0x80)) || (big === -1n && last & 0x80)) break;
      }
      this.byte(0x8a, bytes.length, ...bytes);
    }
  }
  float(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.byte(0x47, ...b); // BINFLOAT (big-endian)
  }
  str(s: string) {
    const b = this.enc.encode(s);
    this.byte(0x58); // BINUNICODE
    this.u32(b.length);
    for (const x of b) this.chunks.push(x);
  }
  /** GLOBAL, memoised (BINGET on reuse) as Python's pickler does. */
  global(module: string, name: string) {
    const key = `${module}\n${name}\n`;
    const at = this.memo.get(key);
    if (at !== undefined) return this.get(at);
    this.byte(0x63);
    for (const x of this.enc.encode(key)) this.chunks.push(x);
    this.put(key);
  }
  private put(key: string) {
    const i = this.memo.size;
    this.memo.set(key, i);
    if (i < 256) this.byte(0x71, i); // BINPUT
    else {
      this.byte(0x72); // LONG_BINPUT
      this.u32(i);
    }
  }
  private get(i: number) {
    if (i < 256) this.byte(0x68, i); // BINGET
    else {
      this.byte(0x6a); // LONG_BINGET
      this.u32(i);
    }
  }
  tuple(items: (() => void)[]) {
    if (items.length === 0) return this.byte(0x29); // EMPTY_TUPLE
    this.byte(0x28); // MARK
    for (const i of items) i();
    this.byte(0x74); // TUPLE
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export type PickleScalar = number | string;

export interface TorchWriteOptions {
  /** Folder name of the records (torch.save uses "archive" since 2.x; the file stem before). */
  archive?: string;
  /**
   * Plain values written at the top level beside the tensors' dict; with `wrapKey` the tensors go under that
   * key (e.g. {"global_step": 7, "state_dict": {...}} as the authors' voco_train.py writes).
   */
  top?: Record<string, PickleScalar>;
  wrapKey?: string;
  forceZip64?: boolean;
}

const isInt = (v: PickleScalar): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** The pickle of an OrderedDict of tensors (storage keys "0", "1", … in order), optionally wrapped. */
export function torchPickle(tensors: RawTensor[], opts: TorchWriteOptions = {}): Uint8Array {
  const w = new PickleWriter();
  const scalar = (v: PickleScalar) => (typeof v === 'string' ? w.str(v) : isInt(v) ? w.int(v) : w.float(v));
  const stateDict = () => {
    // collections.OrderedDict() then SETITEMS, as torch.save writes a state_dict.
    w.global('collections', 'OrderedDict');
    w.byte(0x29, 0x52); // EMPTY_TUPLE REDUCE
    if (!tensors.length) return;
    w.byte(0x28); // MARK
    tensors.forEach((t, i) => {
      w.str(t.name);
      w.global('torch._utils', '_rebuild_tensor_v2');
      const numel = t.shape.reduce((a, b) => a * b, 1);
      const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
      w.tuple([
        // persistent id ('storage', torch.<Type>Storage, key, 'cpu', numel), BINPERSID
        () => {
          w.tuple([() => w.str('storage'), () => w.global('torch', STORAGE_NAMES[t.dtype]), () => w.str(String(i)), () => w.str('cpu'), () => w.int(numel)]);
          w.byte(0x51);
        },
        () => w.int(0), // storage offset
        () => w.tuple(t.shape.map((d) => () => w.int(d))),
        () => w.tuple(stride.map((d) => () => w.int(d))),
        () => w.byte(0x89), // requires_grad False
        () => {
          // backward_hooks: an empty OrderedDict
          w.global('collections', 'OrderedDict');
          w.byte(0x29, 0x52);
        },
      ]);
      w.byte(0x52); // REDUCE
    });
    w.byte(0x75); // SETITEMS
  };
  const top = opts.top ?? {};
  if (opts.wrapKey) {
    w.byte(0x7d, 0x28); // EMPTY_DICT MARK
    for (const [k, v] of Object.entries(top)) {
      w.str(k);
      scalar(v);
    }
    w.str(opts.wrapKey);
    stateDict();
    w.byte(0x75); // SETITEMS
  } else {
    if (Object.keys(top).length) throw new Error('torchPickle: top-level values need wrapKey');
    stateDict();
  }
  w.byte(0x2e); // STOP
  return w.bytes();
}

/** A torch.save-compatible zip as pieces (for new Blob(pieces)); tensor bytes are not copied. */
export function writeTorchCheckpoint(tensors: RawTensor[], opts: TorchWriteOptions = {}): Uint8Array[] {
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (n !== t.bytes.length) throw new Error(`writeTorchCheckpoint: '${t.name}' has ${t.bytes.length} bytes for shape [${t.shape}] of ${t.dtype}`);
  }
  const archive = opts.archive ?? 'archive';
  const enc = new TextEncoder();
  return writeZip(
    [
      { name: `${archive}/data.pkl`, data: [torchPickle(tensors, opts)] },
      { name: `${archive}/byteorder`, data: [enc.encode('little')] },
      ...tensors.map((t, i) => ({ name: `${archive}/data/${i}`, data: [t.bytes] })),
      { name: `${archive}/version`, data: [enc.encode('3\n')] },
    ],
    { align: 64, forceZip64: opts.forceZip64 },
  );
}
