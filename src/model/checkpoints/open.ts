// Opening a checkpoint file of either format into one listing (names, dtypes, shapes, top-level values) with
// lazy tensor reads; checking the int64 index buffers; reading the mapped weights as float32.
import type { ByteSource } from './byteSource';
import { toFloat32, toIntegers, type TorchDType } from './dtypes';
import { planImport, type CheckpointListing, type ImportReport, type SourceTensor } from './keyMap';
import { relativePositionIndex, vocoHeadLayout } from './layout';
import { PyDict } from './pickle';
import { openSafetensors } from './safetensors';
import { CheckpointFormatError, openTorchCheckpoint, TensorRef } from './torchFile';

export interface OpenedCheckpoint {
  listing: CheckpointListing;
  /** Raw little-endian bytes of a tensor of a group, by the group's path and the tensor's key there. */
  readRaw(group: string, key: string): Promise<{ dtype: TorchDType; shape: number[]; bytes: Uint8Array }>;
}

export const CHECKPOINT_EXTENSIONS = ['.pt', '.pth', '.bin', '.ckpt', '.tar', '.safetensors'];

export function isCheckpointFileName(name: string): boolean {
  const n = name.toLowerCase();
  return n.endsWith('.pt') || n.endsWith('.pth') || n.endsWith('.pth.tar') || n.endsWith('.safetensors') || n.endsWith('.ckpt');
}

/** Opens a .pt/.pth (torch zip) or .safetensors file: the header/directory and pickle only. */
export async function openCheckpoint(src: ByteSource): Promise<OpenedCheckpoint> {
  const head = await src.read(0, Math.min(src.size, 16));
  const isSafetensors = src.name.toLowerCase().endsWith('.safetensors') || (head.length >= 9 && head[8] === 0x7b && head[0] !== 0x50);
  return isSafetensors ? openSafetensorsListing(src) : openTorchListing(src);
}

async function openSafetensorsListing(src: ByteSource): Promise<OpenedCheckpoint> {
  const f = await openSafetensors(src);
  const byName = new Map(f.entries.map((e) => [e.name, e]));
  const scalars: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(f.metadata)) scalars[k] = /^-?\d+$/.test(v) ? Number(v) : v;
  return {
    listing: {
      file: src.name,
      format: 'safetensors',
      bytes: src.size,
      groups: [{ path: '', tensors: f.entries.map((e) => ({ key: e.name, dtype: e.dtype, shape: e.shape })) }],
      scalars,
      otherTopLevel: [],
    },
    async readRaw(group, key) {
      const e = byName.get(key);
      if (group !== '' || !e) throw new Error(`${src.name}: no tensor '${key}'`);
      return { dtype: e.dtype, shape: e.shape, bytes: await f.read(e) };
    },
  };
}

async function openTorchListing(src: ByteSource): Promise<OpenedCheckpoint> {
  const ck = await openTorchCheckpoint(src);
  const root = ck.root;
  if (!(root instanceof PyDict)) {
    const what = root instanceof TensorRef ? 'a single tensor' : Array.isArray(root) ? 'a list' : typeof root;
    throw new CheckpointFormatError(`${src.name}: holds ${what}, not a dict of weights (a state_dict)`);
  }
  const groups: { path: string; tensors: SourceTensor[]; refs: Map<string, TensorRef> }[] = [];
  const scalars: Record<string, number | string | boolean> = {};
  const otherTopLevel: string[] = [];
  const collect = (d: PyDict, path: string, depth: number) => {
    const refs = new Map<string, TensorRef>();
    for (const [k, v] of d.map) {
      if (typeof k !== 'string') continue;
      if (v instanceof TensorRef) refs.set(k, v);
      else if (v instanceof PyDict && depth < 2) collect(v, path ? `${path}.${k}` : k, depth + 1);
      else if (depth === 0) {
        if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') scalars[k] = v;
        else if (typeof v === 'bigint') scalars[k] = Number(v);
        else otherTopLevel.push(k);
      }
    }
    if (refs.size) groups.push({ path, refs, tensors: [...refs].map(([key, t]) => ({ key, dtype: t.dtype, shape: t.shape })) });
    else if (depth === 1 && !groups.some((g) => g.path.startsWith(path))) otherTopLevel.push(path);
  };
  collect(root, '', 0);
  return {
    listing: { file: src.name, format: 'torch-zip', bytes: src.size, groups: groups.map(({ path, tensors }) => ({ path, tensors })), scalars, otherTopLevel },
    async readRaw(group, key) {
      const t = groups.find((g) => g.path === group)?.refs.get(key);
      if (!t) throw new Error(`${src.name}: no tensor '${key}' in '${group}'`);
      return { dtype: t.dtype, shape: t.shape, bytes: await ck.readTensor(t) };
    },
  };
}

/** Opens, plans and checks the index buffers' values: the full report, with nothing used yet. */
export async function inspectCheckpoint(src: ByteSource): Promise<{ report: ImportReport; opened: OpenedCheckpoint }> {
  const opened = await openCheckpoint(src);
  const report = planImport(opened.listing);
  const expected = relativePositionIndex();
  for (const b of report.buffers) {
    if (b.status !== 'unchecked') continue;
    const { bytes, dtype } = await opened.readRaw(report.container, b.source);
    const values = toIntegers(bytes, dtype);
    b.status = values.length === expected.length && values.every((v, i) => v === expected[i]) ? 'matches' : 'differs';
  }
  const differ = report.buffers.filter((b) => b.status === 'differs');
  if (differ.length) {
    report.refusals.push(`${differ.length} relative_position_index buffers differ from MONAI's 7×7×7 window index (e.g. '${differ[0].source}'): the attention was built differently`);
    report.usable = false;
  }
  return { report, opened };
}

export interface ImportedWeight {
  /** The VoCoHead key. */
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Reads every mapped weight as float32, in the authors' order (one tensor at a time). Refuses a report that
 * is not usable. Fresh heads and index buffers are not in the result.
 */
export async function readMappedWeights(
  opened: OpenedCheckpoint,
  report: ImportReport,
  onProgress?: (done: number, total: number) => void,
): Promise<ImportedWeight[]> {
  if (!report.usable || report.featureSize === null) throw new Error(`${report.file} cannot be used: ${report.refusals.join('; ')}`);
  const order = new Map(vocoHeadLayout(report.featureSize, report.headWidth ?? undefined).map((e, i) => [e.key, i]));
  const mapped = [...report.mapped].sort((a, b) => order.get(a.target)! - order.get(b.target)!);
  const out: ImportedWeight[] = [];
  for (let i = 0; i < mapped.length; i++) {
    const m = mapped[i];
    const { bytes, dtype } = await opened.readRaw(report.container, m.source);
    out.push({ name: m.target, shape: [...m.shape], data: toFloat32(bytes, dtype) });
    onProgress?.(i + 1, mapped.length);
  }
  return out;
}
