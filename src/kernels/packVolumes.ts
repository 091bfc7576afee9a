// Packs several preprocessed volumes into one flat buffer, so the whole training set can live on the device
// as a single 1-D tensor that the crop sampler indexes with per-volume offsets.

export interface VolumeLayout {
  /** Index of the volume's first voxel in the packed buffer. */
  offset: number;
  /** Voxel counts [nx, ny, nz]; voxels are x fastest, then y, then z. */
  dims: [number, number, number];
}

export interface PackedVolumes {
  data: Float32Array;
  layout: VolumeLayout[];
}

export function packVolumes(vols: { dims: [number, number, number]; data: Float32Array; name?: string }[]): PackedVolumes {
  const layout: VolumeLayout[] = [];
  let total = 0;
  vols.forEach((vol, i) => {
    const label = vol.name ? `volume ${i} (${vol.name})` : `volume ${i}`;
    if (vol.dims.length !== 3 || !vol.dims.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`packVolumes: ${label} has invalid dims [${vol.dims.join(', ')}]; expected three positive integers`);
    }
    const count = vol.dims[0] * vol.dims[1] * vol.dims[2];
    if (!(vol.data instanceof Float32Array) || vol.data.length !== count) {
      throw new Error(
        `packVolumes: ${label} holds ${vol.data?.length} values but dims [${vol.dims.join(', ')}] need ${count} float32 values`,
      );
    }
    layout.push({ offset: total, dims: [vol.dims[0], vol.dims[1], vol.dims[2]] });
    total += count;
  });
  // Offsets are int32 on the device (crop table); keep the whole buffer addressable.
  if (total >= 2 ** 31) throw new Error(`packVolumes: ${total} voxels in total exceeds the int32 index range`);
  const data = new Float32Array(total);
  vols.forEach((vol, i) => data.set(vol.data, layout[i].offset));
  return { data, layout };
}
