// Checkpoints in and out: PyTorch (.pt zip + pickle) and safetensors readers that stream from a Blob, the key
// mapping to the authors' VoCoHead layout with its report, and export in that layout. Tensor-free.
export { blobSource, bytesSource, type ByteSource } from './byteSource';
export { inspectCheckpoint, openCheckpoint, readMappedWeights, isCheckpointFileName, type OpenedCheckpoint, type ImportedWeight } from './open';
export { planImport, normalizeKey, type ImportReport, type CheckpointListing, type SourceTensor, type MappedKey } from './keyMap';
export { vocoHeadLayout, referenceModelName, relativePositionIndex, layoutParamCount, REFERENCE_SIZES, AUTHORS_HEAD_WIDTH, type LayoutEntry } from './layout';
export { exportReferencePt, exportReferenceSafetensors, referenceStateDict, type NamedFloat32 } from './export';
export { writeTorchCheckpoint } from './torchWrite';
export { writeSafetensors, openSafetensors, type RawTensor } from './safetensors';
export { CheckpointFormatError } from './torchFile';
