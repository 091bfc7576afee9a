"""The crop sampler (src/kernels/cropSampler.ts, its CPU twin) in numpy: cut each crop of edge r out of its volume
(0 outside), flip, quarter-turn in x-y (np.rot90 convention, after the flips), add the intensity shift, and write
patch tokens [T, p³] with t = (tz·g + ty)·g + tx and k = (dz·p + dy)·p + dx (x fastest).

Volumes are numpy arrays indexed [z, y, x] (C order, i.e. x fastest in memory as in the studio)."""
import numpy as np


def crop_source_voxel(crop, r, x, y, z):
    """Volume voxel (x, y, z) that output voxel (x, y, z) reads: the chain flip → rot90 undone, literally."""
    k = crop.rot90 % 4
    if k == 0:
        u, v = x, y
    elif k == 1:
        u, v = y, r - 1 - x
    elif k == 2:
        u, v = r - 1 - x, r - 1 - y
    else:
        u, v = r - 1 - y, x
    a = r - 1 - u if crop.flip[0] else u
    b = r - 1 - v if crop.flip[1] else v
    c = r - 1 - z if crop.flip[2] else z
    return crop.origin[0] + a, crop.origin[1] + b, crop.origin[2] + c


def sample_crop(volume, crop, r):
    """One augmented crop as an array [z, y, x] of float32."""
    nz, ny, nx = volume.shape
    b = crop_source_voxel(crop, r, 0, 0, 0)
    sx = crop_source_voxel(crop, r, 1, 0, 0)
    sy = crop_source_voxel(crop, r, 0, 1, 0)
    sz = crop_source_voxel(crop, r, 0, 0, 1)
    ar = np.arange(r)
    X = ar[None, None, :]
    Y = ar[None, :, None]
    Z = ar[:, None, None]
    src_x = b[0] + (sx[0] - b[0]) * X + (sy[0] - b[0]) * Y
    src_y = b[1] + (sx[1] - b[1]) * X + (sy[1] - b[1]) * Y
    src_z = b[2] + (sz[2] - b[2]) * Z
    src_x, src_y, src_z = np.broadcast_arrays(src_x, src_y, src_z)
    inside = (src_x >= 0) & (src_x < nx) & (src_y >= 0) & (src_y < ny) & (src_z >= 0) & (src_z < nz)
    out = np.zeros((r, r, r), dtype=np.float32)
    out[inside] = volume[src_z[inside], src_y[inside], src_x[inside]]
    return out + np.float32(crop.shift)


def to_patch_tokens(crop_zyx, patch):
    r = crop_zyx.shape[0]
    g = r // patch
    return crop_zyx.reshape(g, patch, g, patch, g, patch).transpose(0, 2, 4, 1, 3, 5).reshape(g ** 3, patch ** 3)


def sample_crop_tokens(volumes, crops, r, patch):
    """volumes: sequence indexed by crop.volume → [numCrops, T, p³] float32."""
    if r % patch:
        raise ValueError(f'sampleCrops: patch={patch} must divide the crop size r={r}')
    out = np.empty((len(crops), (r // patch) ** 3, patch ** 3), dtype=np.float32)
    for i, c in enumerate(crops):
        out[i] = to_patch_tokens(sample_crop(volumes[c.volume], c, r), patch)
    return out
