// The reference encoder's weights as a run stores them: VocoModel.readWeights / TrainerState keep a 'swin' preset's
// weights in the authors' PyTorch layout (src/model/vocoModel.ts storedShapes), keyed as their VoCoHead, so an
// imported state_dict is stored as it is and a run exports as it is. Pure.
import { isSwinPreset, swinConfigOf, type EncoderPreset } from '../model/presets';
import { swinStateDictSpec } from '../model/swin/stateDict';

/** The model's weight names (float weights, no index buffers), in its order. */
export function referenceModelKeys(preset: EncoderPreset): string[] {
  if (!isSwinPreset(preset)) throw new Error(`Preset ${preset.name} is not the reference encoder`);
  return swinStateDictSpec(swinConfigOf(preset))
    .filter((e) => e.dtype === 'float32')
    .map((e) => e.key);
}
