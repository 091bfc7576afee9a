// From the keys of a checkpoint to the authors' VoCoHead layout, with a report made before anything is
// used. Pure: it sees names, dtypes and shapes only (the index buffers' values are checked by the caller).
// Handles what the authors' users meet: released pre-training checkpoints (keys as VoCoHead), training
// checkpoints {"global_step", "state_dict"}, DDP's `module.` prefix (and torch.compile's `_orig_mod.`),
// backbone-only checkpoints, `swin_vit` vs `swinViT`, MONAI SwinUNETR fine-tuning checkpoints (`swinViT.*`,
// `encoder1.*`, … plus a decoder that is ignored) and VoComni (VoCoHead with a decoder).
import { isFloatDType, type TorchDType } from './dtypes';
import { AUTHORS_HEAD_WIDTH, embeddingWidth, featureSizeProblem, isIndexBuffer, layoutParamCount, referenceModelName, vocoHeadLayout, WINDOW, type LayoutEntry } from './layout';

export interface SourceTensor {
  key: string;
  dtype: TorchDType;
  shape: number[];
}

/** What a checkpoint holds, as the readers list it. */
export interface CheckpointListing {
  file: string;
  format: 'torch-zip' | 'safetensors';
  bytes: number;
  /** Dicts of tensors found in the file, by their path ('' = the file's top level, 'state_dict', …). */
  groups: { path: string; tensors: SourceTensor[] }[];
  /** Plain top-level values (global_step, epoch, …; safetensors metadata). */
  scalars: Record<string, number | string | boolean>;
  /** Top-level entries that are neither tensors nor plain values (e.g. an optimizer state). */
  otherTopLevel: string[];
}

export interface MappedKey {
  source: string;
  target: string;
  dtype: TorchDType;
  shape: number[];
  /** e.g. 'float16 → float32'. */
  convert: string | null;
}

export interface ImportReport {
  file: string;
  format: CheckpointListing['format'];
  bytes: number;
  /** The tensor dict used ('' = top level) and the ones left aside. */
  container: string;
  ignoredContainers: string[];
  /** What was done to the keys, in words ("removed DDP prefix 'module.' from 22 keys"). */
  keyRules: string[];
  /** What the file looks like. */
  kind: string;
  featureSize: number | null;
  headWidth: number | null;
  /** VoCo-B / VoCo-L / VoCo-H / custom (feature size N). */
  model: string | null;
  globalStep: number | null;
  epoch: number | null;
  mapped: MappedKey[];
  /** Layout keys the file lacks: 'fresh' (a head, initialised from the seed) or 'required' (refused). */
  missing: { target: string; shape: number[]; fill: 'fresh' | 'required' }[];
  unexpected: { source: string; shape: number[]; dtype: TorchDType; reason: string }[];
  wrongShape: { source: string; target: string; shape: number[]; expected: number[]; dtype: TorchDType; why: string }[];
  /** int64 relative_position_index buffers: checked against MONAI's formula (values by the caller), then dropped. */
  buffers: { source: string; target: string; dtype: TorchDType; shape: number[]; status: 'unchecked' | 'matches' | 'differs' | 'bad shape' }[];
  /** Heads that will be initialised fresh because the file has none. */
  freshHeads: ('student' | 'teacher')[];
  /** Parameters the model will have (encoder, one head), when the size is known. */
  params: { encoder: number; head: number; total: number } | null;
  warnings: string[];
  /** Why it cannot be used; empty = usable. */
  refusals: string[];
  usable: boolean;
}

/** Container names the authors' load() looks for, in its order (then the common 'model'). */
const CONTAINERS = ['state_dict', 'network_weights', 'net', 'student', 'model', 'model_state_dict'];
const DECODER = /^backbone\.(decoder\d+|out)\./;
const HEADS = ['student', 'teacher'] as const;

interface Normalized {
  target: string;
  rules: string[];
}

/** One source key → the VoCoHead key it stands for (the rules applied are named). */
export function normalizeKey(key: string): Normalized {
  const rules: string[] = [];
  let k = key;
  for (;;) {
    if (k.startsWith('module.')) {
      k = k.slice(7);
      rules.push("removed DDP prefix 'module.'");
    } else if (k.startsWith('_orig_mod.')) {
      k = k.slice(10);
      rules.push("removed torch.compile prefix '_orig_mod.'");
    } else break;
  }
  if (k.includes('swin_vit')) {
    k = k.replaceAll('swin_vit', 'swinViT');
    rules.push("renamed 'swin_vit' to 'swinViT'");
  }
  if (/^(swinViT|encoder(1|2|3|4|10)|decoder\d+|out)\./.test(k)) {
    k = `backbone.${k}`;
    rules.push("added 'backbone.' (SwinUNETR / backbone-only keys)");
  }
  return { target: k, rules };
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const fmt = (s: number[]) => `[${s.join(', ')}]`;

/** Picks the tensor dict to use: the authors' containers first, then the top level, then the one that fits best. */
function chooseContainer(listing: CheckpointListing): { path: string; tensors: SourceTensor[] } | null {
  const groups = listing.groups.filter((g) => g.tensors.length > 0);
  if (!groups.length) return null;
  for (const name of CONTAINERS) {
    const g = groups.find((x) => x.path === name);
    if (g) return g;
  }
  const root = groups.find((g) => g.path === '');
  if (root) return root;
  const score = (g: { tensors: SourceTensor[] }) => g.tensors.filter((t) => /swin_?[vV]i[tT]|encoder\d|student|teacher/.test(t.key)).length;
  return [...groups].sort((a, b) => score(b) - score(a) || b.tensors.length - a.tensors.length)[0];
}

/** Builds the report. Nothing is read or changed: the caller decides from `usable`. */
export function planImport(listing: CheckpointListing): ImportReport {
  const report: ImportReport = {
    file: listing.file,
    format: listing.format,
    bytes: listing.bytes,
    container: '',
    ignoredContainers: [],
    keyRules: [],
    kind: 'unknown',
    featureSize: null,
    headWidth: null,
    model: null,
    globalStep: null,
    epoch: null,
    mapped: [],
    missing: [],
    unexpected: [],
    wrongShape: [],
    buffers: [],
    freshHeads: [],
    params: null,
    warnings: [],
    refusals: [],
    usable: false,
  };
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null);
  report.globalStep = num(listing.scalars.global_step) ?? num(listing.scalars.step) ?? num(listing.scalars.iteration);
  report.epoch = num(listing.scalars.epoch);

  const chosen = chooseContainer(listing);
  if (!chosen) {
    report.refusals.push('the file holds no tensors');
    return report;
  }
  report.container = chosen.path;
  report.ignoredContainers = listing.groups.filter((g) => g !== chosen && g.tensors.length).map((g) => `${g.path || '(top level)'} (${g.tensors.length} tensors)`);
  report.ignoredContainers.push(...listing.otherTopLevel.filter((k) => !listing.groups.some((g) => g.path === k)));

  // Normalise every key; count the rules.
  const ruleCounts = new Map<string, number>();
  const norm = chosen.tensors.map((t) => {
    const n = normalizeKey(t.key);
    for (const r of new Set(n.rules)) ruleCounts.set(r, (ruleCounts.get(r) ?? 0) + 1);
    return { t, target: n.target };
  });
  report.keyRules = [...ruleCounts].map(([r, c]) => `${r} (${c} of ${chosen.tensors.length} keys)`);

  // The studio's own ViT weights are not this layout.
  if (norm.some((n) => /^(encoder\.(patch|blocks)|student\.\d+\.)/.test(n.target)) && !norm.some((n) => n.target.startsWith('backbone.'))) {
    report.kind = 'studio ViT weights';
    report.refusals.push("these are the studio's ViT weights, not the authors' SwinViT layout: import them as a run file (.voco)");
    return report;
  }

  const patch = norm.find((n) => n.target === 'backbone.swinViT.patch_embed.proj.weight');
  if (!patch) {
    report.refusals.push(
      "no SwinViT patch embedding ('swinViT.patch_embed.proj.weight', with or without 'module.' / 'backbone.'): this is not a VoCo or SwinUNETR checkpoint",
    );
    report.kind = 'not a VoCo / SwinUNETR checkpoint';
    return report;
  }
  const [fs, inCh] = patch.t.shape;
  if (patch.t.shape.length !== 5) {
    report.refusals.push(`the patch embedding has shape ${fmt(patch.t.shape)}, expected [feature size, 1, 2, 2, 2] (a 3-D SwinViT)`);
    return report;
  }
  if (inCh !== 1) report.refusals.push(`the model takes ${inCh} input channels; the studio's models take one CT channel`);
  const fsProblem = featureSizeProblem(fs);
  if (fsProblem) {
    report.refusals.push(fsProblem);
    return report;
  }
  report.featureSize = fs;
  report.model = referenceModelName(fs);
  const headSource = norm.find((n) => n.target === 'student.layer1.0.weight') ?? norm.find((n) => n.target === 'teacher.layer1.0.weight');
  const hw = headSource && headSource.t.shape.length === 2 ? headSource.t.shape[0] : AUTHORS_HEAD_WIDTH;
  report.headWidth = hw;
  const layout = vocoHeadLayout(fs, hw);
  const byKey = new Map<string, LayoutEntry>(layout.map((e) => [e.key, e]));
  report.params = layoutParamCount(layout);
  if (hw !== AUTHORS_HEAD_WIDTH) report.warnings.push(`the projection heads are ${hw} wide (the authors use ${AUTHORS_HEAD_WIDTH})`);

  const seen = new Map<string, string>();
  for (const { t, target } of norm) {
    const prev = seen.get(target);
    if (prev !== undefined) {
      report.refusals.push(`'${t.key}' and '${prev}' both stand for '${target}'`);
      continue;
    }
    seen.set(target, t.key);
    if (DECODER.test(target)) {
      report.unexpected.push({ source: t.key, shape: t.shape, dtype: t.dtype, reason: 'SwinUNETR decoder / output layer: not part of the VoCo encoder, ignored' });
      continue;
    }
    const want = byKey.get(target);
    if (!want) {
      const reason = /num_batches_tracked|running_(mean|var)$/.test(target) ? 'normalisation statistics the model does not keep: ignored' : 'not a key of the VoCoHead layout: ignored';
      report.unexpected.push({ source: t.key, shape: t.shape, dtype: t.dtype, reason });
      continue;
    }
    if (isIndexBuffer(target)) {
      const ok = sameShape(t.shape, want.shape) && !isFloatDType(t.dtype);
      report.buffers.push({ source: t.key, target, dtype: t.dtype, shape: t.shape, status: ok ? 'unchecked' : 'bad shape' });
      if (!ok) report.refusals.push(`'${t.key}' is ${t.dtype} ${fmt(t.shape)}; a ${WINDOW}³ window needs an integer ${fmt(want.shape)} index (different window size?)`);
      continue;
    }
    if (!isFloatDType(t.dtype)) {
      report.wrongShape.push({ source: t.key, target, shape: t.shape, expected: want.shape, dtype: t.dtype, why: `dtype ${t.dtype}, a weight must be floating point` });
      continue;
    }
    if (!sameShape(t.shape, want.shape)) {
      report.wrongShape.push({ source: t.key, target, shape: t.shape, expected: want.shape, dtype: t.dtype, why: `shape ${fmt(t.shape)}, feature size ${fs} needs ${fmt(want.shape)}` });
      continue;
    }
    report.mapped.push({ source: t.key, target, dtype: t.dtype, shape: t.shape, convert: t.dtype === 'float32' ? null : `${t.dtype} → float32` });
  }

  // Missing keys: buffers are derived; a head missing entirely is initialised fresh; anything else is required.
  const have = new Set([...report.mapped.map((m) => m.target), ...report.wrongShape.map((w) => w.target)]);
  for (const head of HEADS) {
    const keys = layout.filter((e) => e.key.startsWith(`${head}.`));
    const present = keys.filter((e) => have.has(e.key)).length;
    if (present === 0) report.freshHeads.push(head);
  }
  for (const e of layout) {
    if (isIndexBuffer(e.key) || have.has(e.key)) continue;
    const head = HEADS.find((h) => e.key.startsWith(`${h}.`));
    report.missing.push({ target: e.key, shape: e.shape, fill: head && report.freshHeads.includes(head) ? 'fresh' : 'required' });
  }

  const hasDecoder = report.unexpected.some((u) => DECODER.test(normalizeKey(u.source).target));
  const headsIn = HEADS.filter((h) => !report.freshHeads.includes(h));
  report.kind = hasDecoder
    ? `SwinUNETR (encoder + decoder${headsIn.length ? ' + heads, as VoComni' : ''})`
    : headsIn.length === 2
      ? 'VoCoHead (encoder + student and teacher heads)'
      : headsIn.length === 1
        ? `VoCoHead with the ${headsIn[0]} head only`
        : 'encoder only (backbone)';

  const required = report.missing.filter((m) => m.fill === 'required');
  if (required.length) {
    report.refusals.push(`${required.length} weights of the model are missing, e.g. ${required.slice(0, 3).map((m) => `'${m.target}'`).join(', ')}`);
  }
  if (report.wrongShape.length) {
    const w = report.wrongShape[0];
    report.refusals.push(`${report.wrongShape.length} weights have the wrong shape or type, e.g. '${w.source}': ${w.why}`);
  }
  const headIn = report.mapped.find((m) => m.target === 'student.layer1.0.weight');
  if (headIn && headIn.shape[1] !== embeddingWidth(fs)) report.refusals.push(`the heads take ${headIn.shape[1]} inputs; feature size ${fs} gives ${embeddingWidth(fs)}`);
  if (report.freshHeads.length) report.warnings.push(`the ${report.freshHeads.join(' and ')} head${report.freshHeads.length > 1 ? 's are' : ' is'} not in the file and will be initialised fresh (seeded)`);
  const converted = report.mapped.filter((m) => m.convert);
  if (converted.length) report.warnings.push(`${converted.length} weights are converted to float32 (${[...new Set(converted.map((m) => m.convert))].join(', ')})`);
  report.usable = report.refusals.length === 0;
  return report;
}
