// A pickle interpreter for what torch.save writes (protocol 2, and the protocol 3–5 opcodes a newer Python
// may use). It NEVER executes anything: GLOBAL / STACK_GLOBAL names are looked up in a table of allowed
// constructors given by the caller (collections.OrderedDict, torch._utils._rebuild_tensor_v2, …); any other
// name is refused with that name. Persistent ids (torch's storages) go to the caller's persistentLoad.

/** A Python dict (or OrderedDict): insertion-ordered; keys are strings, numbers, bigints or other values. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  /** What BUILD set on the object (e.g. an OrderedDict's _metadata), kept but unused. */
  state: unknown = undefined;
  constructor(readonly className = 'dict') {}
  get(key: unknown): unknown {
    return this.map.get(key);
  }
  set(key: unknown, value: unknown): void {
    this.map.set(key, value);
  }
  has(key: unknown): boolean {
    return this.map.has(key);
  }
  keys(): unknown[] {
    return [...this.map.keys()];
  }
  get size(): number {
    return this.map.size;
  }
}

/** A Python tuple (a list is a plain JS array). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** Python bytes. */
export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/** A global that the caller allowed: `call` builds the object from REDUCE/NEWOBJ arguments. */
export interface PyCallable {
  readonly qualname: string;
  call(args: unknown[]): unknown;
}

export class UnpicklingError extends Error {}

export interface UnpickleOptions {
  /** 'module.name' → the object GLOBAL pushes. Anything not here is refused. */
  globals: Record<string, unknown>;
  persistentLoad?: (pid: unknown) => unknown;
  /** For messages. */
  source?: string;
}

/** Interprets a pickle; returns the object STOP finds. Throws UnpicklingError naming the source and the problem. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const src = opts.source ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const fail = (why: string): never => {
    throw new UnpicklingError(`${src}: ${why} (at byte ${pos})`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail('truncated pickle');
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated pickle (unterminated line)');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const pop = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack.splice(0);
    const prev = metastack.pop();
    if (!prev) fail('MARK missing');
    stack.push(...prev!);
    return items;
  };
  const findGlobal = (module: string, name: string) => {
    const key = `${module}.${name}`;
    if (!Object.prototype.hasOwnProperty.call(opts.globals, key)) fail(`refuses to load '${key}': not a tensor, a number, a string or a dict (only plain checkpoints are read; nothing in a file is executed)`);
    return opts.globals[key];
  };
  const callable = (f: unknown, what: string): PyCallable => {
    if (!f || typeof f !== 'object' || typeof (f as PyCallable).call !== 'function') fail(`${what} of something that cannot be called (${describe(f)})`);
    return f as PyCallable;
  };
  const toLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof PyDict)) fail(`SETITEM(S) on ${describe(d)}`);
    if (items.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (d as PyDict).set(items[i], items[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) fail(`APPEND(S) on ${describe(l)}`);
    (l as unknown[]).push(...items);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack.splice(0));
        break;
      case 0x30: // POP (with an empty stack: drop back to the last MARK, as Python does)
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(toLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(toLong(take(n)));
        break;
      }
      case 0x49: {
        // INT (text): also True/False as I01/I00
        const s = line().trim();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else stack.push(parseIntText(s, fail));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(line().trim().replace(/L$/, ''), fail));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: {
        // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail('bad FLOAT');
        stack.push(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text; ASCII in practice)
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(parseInt(h, 16))));
        break;
      case 0x54: // BINSTRING (py2 str)
        stack.push(new TextDecoder('latin1').decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case 0x53: {
        // STRING (quoted text)
        const s = line().trim();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x42: // BINBYTES
        stack.push(new PyBytes(take(u32()).slice()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(new PyBytes(take(u8()).slice()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(new PyBytes(take(u64()).slice()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS on a non-set');
        for (const i of items) (s as Set<unknown>).add(i);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x70: // PUT (text index)
        memo.set(parseIntText(line(), fail) as number, top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x67 ? (parseIntText(line(), fail) as number) : op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo ${i} read before it was written`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(findGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        if (!(args instanceof PyTuple)) fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
        stack.push(callable(f, 'REDUCE').call((args as PyTuple).items));
        break;
      }
      case 0x81: {
        // NEWOBJ cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple)) fail('NEWOBJ arguments are not a tuple');
        stack.push(callable(cls, 'NEWOBJ').call((args as PyTuple).items));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict) || (kwargs as PyDict).size) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(callable(cls, 'NEWOBJ_EX').call((args as PyTuple).items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        // An OrderedDict's BUILD carries its attributes (a state_dict's _metadata): kept, unused.
        if (obj instanceof PyDict) obj.state = state;
        else fail(`BUILD on ${describe(obj)} is not supported`);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id without a loader');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: {
        // PERSID (text)
        const pid = line();
        if (!opts.persistentLoad) fail('persistent id without a loader');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x69: // INST
      case 0x6f: // OBJ
        return fail(`opcode ${op === 0x69 ? 'INST' : 'OBJ'} (old-style object construction) is refused`);
      case 0x82:
      case 0x83:
      case 0x84:
        return fail('extension registry opcodes (EXT1/2/4) are refused');
      case 0x97:
      case 0x98:
        return fail('out-of-band buffers (protocol 5) are not supported');
      default:
        return fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or damaged)`);
    }
  }
}

function parseIntText(s: string, fail: (why: string) => never): number | bigint {
  if (!/^-?\d+$/.test(s.trim())) fail(`bad integer '${s}'`);
  const v = BigInt(s.trim());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyDict) return v.className;
  if (v instanceof PyTuple) return 'a tuple';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof PyBytes) return 'bytes';
  if (typeof v === 'object' && v && 'qualname' in v) return String((v as PyCallable).qualname);
  return typeof v;
}
