// Turning a drop or a file/folder picker into IngestRoots. Folders are walked recursively.
// Runs on the main thread (DataTransfer and FileSystemEntry exist only there) and reads no file bytes.
import type { IngestRoot, SourceFile } from './types';

/**
 * Roots from a drop. Entries must be taken from the DataTransfer synchronously, inside the event
 * handler: the browser empties it once the handler returns, so call this before any await.
 */
export function rootsFromDrop(dt: DataTransfer): Promise<IngestRoot[]> {
  const entries: FileSystemEntry[] = [];
  const plainFiles: File[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) plainFiles.push(f);
    }
  }
  if (entries.length === 0 && plainFiles.length === 0) plainFiles.push(...Array.from(dt.files ?? []));
  return rootsFromEntries(entries, plainFiles);
}

export async function rootsFromEntries(entries: FileSystemEntry[], plainFiles: File[] = []): Promise<IngestRoot[]> {
  const roots: IngestRoot[] = [];
  const loose: SourceFile[] = plainFiles.map((file) => ({ path: file.name, file }));
  for (const entry of entries) {
    if (entry.isDirectory) {
      const files: SourceFile[] = [];
      await walk(entry as FileSystemDirectoryEntry, entry.name, files);
      roots.push({ kind: 'folder', label: entry.name, files });
    } else if (entry.isFile) {
      loose.push({ path: entry.name, file: await fileOf(entry as FileSystemFileEntry) });
    }
  }
  return [...looseRoot(loose), ...roots];
}

/** Loose files picked together form one selection, so DICOM slices among them are grouped. */
function looseRoot(loose: SourceFile[]): IngestRoot[] {
  if (loose.length === 0) return [];
  if (loose.length === 1) return [{ kind: 'file', label: loose[0].path, files: loose }];
  return [{ kind: 'selection', label: `${loose.length} files`, files: loose }];
}

async function walk(dir: FileSystemDirectoryEntry, path: string, out: SourceFile[]): Promise<void> {
  const reader = dir.createReader();
  // readEntries returns at most ~100 entries per call: keep reading until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const e of batch) {
      const p = `${path}/${e.name}`;
      if (e.isDirectory) await walk(e as FileSystemDirectoryEntry, p, out);
      else if (e.isFile) out.push({ path: p, file: await fileOf(e as FileSystemFileEntry) });
    }
  }
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/**
 * Roots from an <input type=file> (with or without webkitdirectory). A folder picker gives files with
 * webkitRelativePath "folder/sub/name"; they are grouped by their top folder.
 * `pickedFolder` marks a folder picker, so an empty choice can be reported as an empty folder.
 */
export function rootsFromFileList(list: FileList | File[], pickedFolder = false): IngestRoot[] {
  const files = Array.from(list);
  if (files.length === 0) return pickedFolder ? [{ kind: 'folder', label: 'the chosen folder', files: [] }] : [];
  const folders = new Map<string, SourceFile[]>();
  const loose: SourceFile[] = [];
  for (const file of files) {
    const rel = file.webkitRelativePath;
    if (rel && rel.includes('/')) {
      const top = rel.split('/')[0];
      if (!folders.has(top)) folders.set(top, []);
      folders.get(top)!.push({ path: rel, file });
    } else loose.push({ path: file.name, file });
  }
  return [...looseRoot(loose), ...[...folders].map(([label, fs]): IngestRoot => ({ kind: 'folder', label, files: fs }))];
}
