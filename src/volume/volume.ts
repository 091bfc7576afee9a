// The one in-memory picture of a scan that every concern shares (ingest → preprocess → viewer → training).

export type VoxelArray = Float32Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Int8Array | Uint32Array | Float64Array;

/** A 3-D scalar volume in voxel order x fastest, then y, then z (NIfTI order). */
export interface Volume {
  /** Stable id within the session. */
  id: string;
  /** Display name (file or series name). */
  name: string;
  /** Voxel counts [nx, ny, nz]. */
  dims: [number, number, number];
  /** Voxel size in mm [sx, sy, sz]. */
  spacing: [number, number, number];
  /** 4×4 voxel→world (RAS+, mm) affine, row-major, as NIfTI sform. */
  affine: number[][];
  /** Voxel values after rescale slope/intercept (HU for CT). */
  data: VoxelArray;
  /** Where it came from: file paths, for messages. */
  sourceFiles: string[];
  /** Optional label map on the same grid (integer ids). */
  labels?: Uint8Array | Uint16Array | Int32Array;
  /** A smaller copy for the viewer when the volume is over the display budget (training uses `data`). */
  display?: DisplayCopy;
}

/** A block-averaged copy of a big volume for display: voxel (i, j, k) is the mean of block `factor`·(i, j, k). */
export interface DisplayCopy {
  dims: [number, number, number];
  spacing: [number, number, number];
  /** voxel → world of the copy's grid (the centres of the blocks). */
  affine: number[][];
  data: VoxelArray;
  /** Source voxels per copy voxel along each axis. */
  factor: number;
}

export function voxelCount(dims: readonly number[]): number {
  return dims[0] * dims[1] * dims[2];
}

/**
 * A volume in the training representation: RAS, resampled to the target spacing,
 * HU windowed and scaled to [0, 1], cropped to the foreground, padded to at least the training region.
 */
export interface PreprocessedVolume {
  id: string;
  name: string;
  /** Voxel counts [nx, ny, nz] after crop and pad. */
  dims: [number, number, number];
  /** Target spacing in mm. */
  spacing: [number, number, number];
  /** 4×4 voxel→world (RAS+, mm) affine of the preprocessed grid, row-major. */
  affine: number[][];
  /** Intensities in [0, 1], x fastest. */
  data: Float32Array;
  /** Label map carried through the same geometry (nearest neighbour), if one was paired. */
  labels?: Uint8Array | Uint16Array | Int32Array;
}
