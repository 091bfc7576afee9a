// Public surface of src/model.
export { PRESETS, DEFAULT_PRESET, embedDim, gridSize, paramCount, validatePreset, type EncoderPreset } from './presets';
export { VocoModel } from './vocoModel';
export { forwardFlops, stepFlops, type ForwardFlops } from './flops';
export { toSafetensors, fromSafetensors, type NamedTensorData } from './weights';
export { batchNormNoAffine, dropout1dRows, withoutGradient, STUDENT_DROPOUT } from './heads';
