// Random access to a file's bytes without holding the whole file: a Blob/File is read slice by slice
// (Blob.slice → arrayBuffer), so checkpoints of several GB are never copied into one array. Tests use the
// in-memory source.

export interface ByteSource {
  /** File name, for messages. */
  readonly name: string;
  readonly size: number;
  /** Bytes [offset, offset + length); throws when that range is not inside the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new Error(`${src.name}: truncated or damaged (needs bytes ${offset}…${offset + length} of a ${src.size}-byte file)`);
  }
}

/** Reads a Blob (or File) lazily. */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'file'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange({ name, size: blob.size }, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** An in-memory source (tests, small files). read() returns views, not copies. */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange({ name, size: bytes.length }, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}
