// Export in the authors' layout: a state_dict keyed exactly as their VoCoHead (backbone.swinViT.*,
// backbone.encoder{1,2,3,4,10}.*, student.*, teacher.*, with the int64 relative_position_index buffers) as
// safetensors, or as a .pt that torch.load reads: {"global_step": N, "state_dict": OrderedDict(...)} —
// what their voco_train.py writes and what their fine-tuning load() (Downstream/monai/*/utils/utils.py)
// unwraps first ("state_dict" in model_dict).
import { float32Bytes, int64Bytes } from './dtypes';
import { isIndexBuffer, relativePositionIndex, vocoHeadLayout } from './layout';
import { writeSafetensors, type RawTensor } from './safetensors';
import { writeTorchCheckpoint } from './torchWrite';

export interface NamedFloat32 {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ReferenceExportOptions {
  featureSize: number;
  headWidth: number;
  globalStep: number;
  /** Wrap as {"global_step", "state_dict"} (default) or write the bare state_dict. */
  wrap?: boolean;
  /** Folder name inside the .pt zip (torch uses "archive"). */
  archive?: string;
}

/**
 * The authors' state_dict in their order. Every float weight of the layout must be in `weights` (by the
 * VoCoHead key) with its shape; the index buffers are added; anything else is refused.
 */
export function referenceStateDict(weights: NamedFloat32[], opts: Pick<ReferenceExportOptions, 'featureSize' | 'headWidth'>): RawTensor[] {
  const layout = vocoHeadLayout(opts.featureSize, opts.headWidth);
  const byName = new Map(weights.map((w) => [w.name, w]));
  const problems: string[] = [];
  const known = new Set(layout.map((e) => e.key));
  for (const w of weights) if (!known.has(w.name)) problems.push(`'${w.name}' is not a key of the authors' layout`);
  const index = int64Bytes(relativePositionIndex());
  const out: RawTensor[] = [];
  for (const e of layout) {
    if (isIndexBuffer(e.key)) {
      out.push({ name: e.key, dtype: 'int64', shape: e.shape, bytes: index });
      continue;
    }
    const w = byName.get(e.key);
    if (!w) problems.push(`'${e.key}' is missing`);
    else if (w.shape.length !== e.shape.length || w.shape.some((d, i) => d !== e.shape[i]) || w.data.length !== e.shape.reduce((a, b) => a * b, 1)) {
      problems.push(`'${e.key}' has shape [${w.shape}], the layout needs [${e.shape}]`);
    } else out.push({ name: e.key, dtype: 'float32', shape: e.shape, bytes: float32Bytes(w.data) });
  }
  if (problems.length) throw new Error(`Export in the authors' layout: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
  return out;
}

/** .pt pieces for new Blob(pieces). */
export function exportReferencePt(weights: NamedFloat32[], opts: ReferenceExportOptions): Uint8Array[] {
  const tensors = referenceStateDict(weights, opts);
  return opts.wrap === false
    ? writeTorchCheckpoint(tensors, { archive: opts.archive })
    : writeTorchCheckpoint(tensors, { archive: opts.archive, top: { global_step: opts.globalStep }, wrapKey: 'state_dict' });
}

/** .safetensors pieces; the metadata records the format, feature size and step. */
export function exportReferenceSafetensors(weights: NamedFloat32[], opts: ReferenceExportOptions): Uint8Array[] {
  return writeSafetensors(referenceStateDict(weights, opts), {
    format: 'pt',
    layout: 'voco-head',
    feature_size: String(opts.featureSize),
    head_width: String(opts.headWidth),
    global_step: String(opts.globalStep),
  });
}
