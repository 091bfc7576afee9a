// The studio's ViT presets as a safetensors file with a documented key layout (docs/checkpoints.md): the names
// of VocoModel.namedWeights(), linear weights stored [in, out] (x · W, the transpose of torch's nn.Linear),
// float32, plus metadata naming the preset and the step. Pure: the keys follow from the preset.
import type { EncoderPreset } from '../presets';
import { embedDim } from '../presets';
import { float32Bytes } from './dtypes';
import { writeSafetensors } from './safetensors';
import type { LayoutEntry } from './layout';

export function vitKeyLayout(preset: EncoderPreset): LayoutEntry[] {
  const out: LayoutEntry[] = [];
  const f = (key: string, ...shape: number[]) => out.push({ key, dtype: 'float32', shape });
  const lin = (key: string, i: number, o: number) => {
    f(`${key}.weight`, i, o);
    f(`${key}.bias`, o);
  };
  const d = preset.dim;
  const hidden = Math.round(preset.mlpRatio * d);
  lin('encoder.patch_embed', preset.patch ** 3, d);
  for (let b = 0; b < preset.depth; b++) {
    const p = `encoder.blocks.${b}`;
    f(`${p}.norm1.weight`, d);
    f(`${p}.norm1.bias`, d);
    lin(`${p}.attn.qkv`, d, 3 * d);
    lin(`${p}.attn.proj`, d, d);
    f(`${p}.norm2.weight`, d);
    f(`${p}.norm2.bias`, d);
    lin(`${p}.mlp.fc1`, d, hidden);
    lin(`${p}.mlp.fc2`, hidden, d);
  }
  for (const head of ['student', 'teacher']) {
    lin(`${head}.0`, embedDim(preset), preset.headHidden);
    lin(`${head}.3`, preset.headHidden, preset.headHidden);
    lin(`${head}.6`, preset.headHidden, preset.headOut);
  }
  return out;
}

export function exportVitSafetensors(
  weights: { name: string; shape: number[]; data: Float32Array }[],
  preset: EncoderPreset,
  meta: { step: number; cropSize: number },
): Uint8Array[] {
  const layout = vitKeyLayout(preset);
  const byName = new Map(weights.map((w) => [w.name, w]));
  const problems: string[] = [];
  if (weights.length !== layout.length) problems.push(`${weights.length} weights, the layout has ${layout.length}`);
  const tensors = layout.map((e) => {
    const w = byName.get(e.key);
    if (!w) problems.push(`'${e.key}' is missing`);
    else if (w.shape.join() !== e.shape.join()) problems.push(`'${e.key}' has shape [${w.shape}], the layout needs [${e.shape}]`);
    return { name: e.key, dtype: 'float32' as const, shape: e.shape, bytes: w ? float32Bytes(w.data) : new Uint8Array(0) };
  });
  if (problems.length) throw new Error(`Export of preset ${preset.name}: ${problems.slice(0, 5).join('; ')}`);
  return writeSafetensors(tensors, {
    format: 'voco-studio-vit',
    layout: 'docs/checkpoints.md#studio-vit-presets',
    preset: JSON.stringify(preset),
    crop_size: String(meta.cropSize),
    global_step: String(meta.step),
  });
}
