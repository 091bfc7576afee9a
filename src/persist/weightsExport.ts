// A run's weights as a checkpoint for other tools: runs of the reference encoder in the authors' layout
// (.pt that torch.load reads, or .safetensors; docs/checkpoints.md), ViT presets as .safetensors with the
// studio's documented key layout. Tensor-free; pieces go to new Blob(pieces) (no multi-GB array).
import { exportReferencePt, exportReferenceSafetensors } from '../model/checkpoints/export';
import { vocoHeadLayout } from '../model/checkpoints/layout';
import { exportVitSafetensors } from '../model/checkpoints/vitLayout';
import { isSwinPreset, type EncoderPreset } from '../model/presets';
import type { SavedRun } from './savedRun';

export type WeightsFormat = 'pt' | 'safetensors';

const PATCH_KEY = 'backbone.swinViT.patch_embed.proj.weight';
const HEAD_KEY = 'student.layer1.0.weight';

/** Feature size and head width when the run's weights are the authors' layout (the reference encoder), else null. */
export function referenceDims(weights: { name: string; shape: number[] }[]): { featureSize: number; headWidth: number } | null {
  const patch = weights.find((w) => w.name === PATCH_KEY);
  const head = weights.find((w) => w.name === HEAD_KEY);
  if (!patch || !head) return null;
  return { featureSize: patch.shape[0], headWidth: head.shape[0] };
}

/** The formats a run can be exported in. */
export function weightsFormats(run: Pick<SavedRun, 'state'>, presets: Record<string, EncoderPreset>): WeightsFormat[] {
  const preset = presets[run.state.config.preset];
  return (preset && isSwinPreset(preset)) || referenceDims(run.state.weights) ? ['pt', 'safetensors'] : ['safetensors'];
}

export function exportRunWeights(
  run: SavedRun,
  format: WeightsFormat,
  presets: Record<string, EncoderPreset>,
): { name: string; pieces: Uint8Array[] } {
  const { state, meta } = run;
  const stem = `voco-${state.config.preset}-step${state.step}-${new Date(meta.createdAt).toISOString().slice(0, 10)}`;
  const preset = presets[state.config.preset];
  // Runs of the reference encoder store its weights in the authors' layout already (VocoModel.storedShapes).
  const ref = referenceDims(state.weights);
  if (preset && isSwinPreset(preset) && !ref) throw new Error(`Run ${meta.name} has no weights in the authors' layout to export`);
  if (ref) {
    // Layout check first: a clear message if a weight is missing or shaped differently.
    vocoHeadLayout(ref.featureSize, ref.headWidth);
    const opts = { ...ref, globalStep: state.step };
    return format === 'pt'
      ? { name: `${stem}.pt`, pieces: exportReferencePt(state.weights, opts) }
      : { name: `${stem}.safetensors`, pieces: exportReferenceSafetensors(state.weights, opts) };
  }
  if (!preset) throw new Error(`Run uses unknown preset ${state.config.preset}`);
  if (format === 'pt') throw new Error(`The ViT preset ${preset.name} exports as .safetensors (its key layout is the studio's own; see docs/checkpoints.md)`);
  return { name: `${stem}.safetensors`, pieces: exportVitSafetensors(state.weights, preset, { step: state.step, cropSize: state.config.cropSize }) };
}
