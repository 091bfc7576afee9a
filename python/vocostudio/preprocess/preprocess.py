"""Scan → training representation as src/preprocess/preprocess.ts does it (the VoCo reference's MONAI chain):
Orientation(RAS) → Spacing (separable linear, border padding, grid size round(extent / spacing), centred grid)
→ HU window clipped to [0, 1] (NaN → 0) → crop to the foreground (> threshold) → symmetric zero pad to minSize.
Same arithmetic as the studio: interpolation weights in float32, a + (b − a)·w in float64, stored as float32.

Arrays here are numpy [z, y, x] (x fastest in memory, NIfTI order); dims/spacing lists are [x, y, z].

Data modes (RunConfig.dataMode, src/voco/wholeVolume.ts): 'region' (default): padded to at least the training
region n·r × n·r × r, a random region is drawn inside; 'whole': that volume resized (trilinear, align_corners=False,
as MONAI's Resized / the studio's resizeTrilinear) to exactly the region, so the base-crop grid spans the scan."""
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class PreprocessSettings:
    spacing: Tuple[float, float, float] = (3.0, 3.0, 3.0)
    huWindow: Tuple[float, float] = (-175.0, 250.0)
    minSize: Tuple[int, int, int] = (96, 96, 32)
    foregroundThreshold: float = 0.0
    mode: str = 'region'

    def key(self):
        """Text that names these settings (for the cache)."""
        return json.dumps({'spacing': list(self.spacing), 'huWindow': list(self.huWindow), 'minSize': list(self.minSize),
                           'fg': self.foregroundThreshold, 'mode': self.mode, 'v': 1}, sort_keys=True)

    def digest(self):
        return hashlib.sha256(self.key().encode()).hexdigest()[:12]


def _axis(a):
    """Voxel axis a (0 = x) ↔ numpy axis of a [z, y, x] array."""
    return 2 - a


def ras_axis_mapping(affine):
    a = np.asarray(affine, dtype=np.float64)
    norms = [float(np.sqrt(sum(a[r][i] ** 2 for r in range(3)))) for i in range(3)]
    if any(not n > 0 for n in norms):
        raise ValueError(f'affine has a zero-length voxel axis (column norms {norms})')
    from_axis, flip, used = [-1, -1, -1], [False, False, False], [False, False, False]
    for _ in range(3):
        best, bw, bi = -1.0, -1, -1
        for w in range(3):
            if from_axis[w] >= 0:
                continue
            for i in range(3):
                if used[i]:
                    continue
                c = abs(a[w][i]) / norms[i]
                if c > best:
                    best, bw, bi = c, w, i
        from_axis[bw] = bi
        flip[bw] = bool(a[bw][bi] < 0)
        used[bi] = True
    return from_axis, flip


def permute_flip(data, mapping):
    """Output axis w reads source axis from_axis[w], reversed where flip[w]."""
    from_axis, flip = mapping
    # numpy axes of the output [z, y, x] ← source numpy axes
    order = [_axis(from_axis[_axis(k)]) for k in range(3)]
    out = np.transpose(data, order)
    for w in range(3):
        if flip[w]:
            out = np.flip(out, _axis(w))
    return np.ascontiguousarray(out)


def round_half_even(v):
    f = np.floor(v)
    if abs(v - f - 0.5) < 1e-6:
        return int(f) if f % 2 == 0 else int(f) + 1
    return int(np.floor(v + 0.5))  # Math.round


def resample_grid(dims, spacing, target):
    out_dims, start, step = [0, 0, 0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    for a in range(3):
        ratio = spacing[a] / target[a]
        m = max(1, round_half_even(dims[a] * ratio))
        st = target[a] / spacing[a]
        out_dims[a], step[a] = m, st
        start[a] = (dims[a] - 1 - (m - 1) * st) / 2
    return out_dims, start, step


def _linear_taps(n, m, start, step):
    j = np.arange(m, dtype=np.float64)
    c = np.minimum(np.maximum(start + j * step, 0), n - 1)
    f = np.floor(c)
    i0 = f.astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (c - f).astype(np.float32)
    return i0, i1, w


def _linear_pass(src, axis, m, start, step):
    ax = _axis(axis)
    n = src.shape[ax]
    i0, i1, w = _linear_taps(n, m, start, step)
    shape = [1, 1, 1]
    shape[ax] = m
    wv = w.astype(np.float64).reshape(shape)
    a = np.take(src, i0, axis=ax).astype(np.float64)
    b = np.take(src, i1, axis=ax).astype(np.float64)
    return (a + (b - a) * wv).astype(np.float32)


def resample_linear(data, spacing, target):
    dims = [data.shape[2], data.shape[1], data.shape[0]]
    out_dims, start, step = resample_grid(dims, spacing, target)
    order = sorted(range(3), key=lambda a: out_dims[a] / dims[a])
    cur = data
    for a in order:
        if dims[a] == out_dims[a] and abs(start[a]) < 1e-9 and abs(step[a] - 1) < 1e-9:
            continue
        cur = _linear_pass(cur, a, out_dims[a], start[a], step[a])
    return np.asarray(cur, dtype=np.float32), start, step


def window_to_unit(data, window):
    lo, hi = float(window[0]), float(window[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f'HU window [{lo}, {hi}] must have lo < hi')
    scale = 1 / (hi - lo)
    v = (data.astype(np.float64) - lo) * scale
    with np.errstate(invalid='ignore'):
        out = np.where(v > 0, np.where(v < 1, v, 1.0), 0.0)
    return out.astype(np.float32)


def foreground_box(data, threshold=0.0):
    m = data > threshold
    if not m.any():
        return None
    zs = np.nonzero(m.any(axis=(1, 2)))[0]
    ys = np.nonzero(m.any(axis=(0, 2)))[0]
    xs = np.nonzero(m.any(axis=(0, 1)))[0]
    return (int(xs[0]), int(ys[0]), int(zs[0])), (int(xs[-1]) + 1, int(ys[-1]) + 1, int(zs[-1]) + 1)


def pad_to_min(data, min_size):
    dims = [data.shape[2], data.shape[1], data.shape[0]]
    pads = []
    for a in range(3):
        extra = max(min_size[a] - dims[a], 0)
        pads.append((extra // 2, extra - extra // 2))
    if all(p == (0, 0) for p in pads):
        return data
    return np.pad(data, [pads[2], pads[1], pads[0]], mode='constant')


def _spacing_from_affine(a):
    return [float(np.sqrt(sum(a[r][i] ** 2 for r in range(3)))) for i in range(3)]


def preprocess_array(data, affine, settings: PreprocessSettings, name='volume'):
    """data [z, y, x] (HU), 4×4 voxel→world affine → float32 [z, y, x] in [0, 1]."""
    try:
        if data.ndim != 3:
            raise ValueError(f'expected a 3-D image, got shape {data.shape}')
        mapping = ras_axis_mapping(affine)
        from_axis, flip = mapping
        target = [float(s) for s in settings.spacing]
        on_source = [0.0, 0.0, 0.0]
        for w in range(3):
            on_source[from_axis[w]] = target[w]
        src_spacing = _spacing_from_affine(affine)
        dims = [data.shape[2], data.shape[1], data.shape[0]]
        out_dims, _, _ = resample_grid(dims, src_spacing, on_source)
        if int(np.prod(out_dims)) < data.size:
            img, _, _ = resample_linear(data, src_spacing, on_source)
            img = permute_flip(window_to_unit(img, settings.huWindow), mapping)
        else:
            ras = permute_flip(data, mapping)
            ras_spacing = [src_spacing[from_axis[w]] for w in range(3)]
            img, _, _ = resample_linear(ras, ras_spacing, target)
            img = window_to_unit(img, settings.huWindow)
        box = foreground_box(img, settings.foregroundThreshold)
        if box is None:
            raise ValueError(f'no voxel above {settings.foregroundThreshold} after the HU window: the scan has no foreground to keep')
        (x0, y0, z0), (x1, y1, z1) = box
        img = img[z0:z1, y0:y1, x0:x1]
        img = np.ascontiguousarray(pad_to_min(img, settings.minSize), dtype=np.float32)
        if settings.mode == 'whole':
            return resize_trilinear(img, settings.minSize)
        if settings.mode != 'region':
            raise ValueError(f"unknown data mode {settings.mode!r} (region | whole)")
        return img
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'Preprocessing "{name}" failed: {e}') from e


def resize_trilinear(img, size):
    """[z, y, x] → exactly size [x, y, z] voxels: output voxel i samples (i + 0.5)·n/m − 0.5, clamped (torch's
    interpolate(trilinear, align_corners=False)); x, then y, then z in float64, rounded to float32 once, as the
    studio's resizeTrilinear computes it."""
    cur = np.asarray(img, dtype=np.float64)
    for a in range(3):
        ax = _axis(a)
        n, m = cur.shape[ax], int(size[a])
        i = np.arange(m, dtype=np.float64)
        u = np.minimum(np.maximum(((i + 0.5) * n) / m - 0.5, 0), n - 1)
        lo = np.floor(u).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        w = (u - lo).astype(np.float32).astype(np.float64)
        shape = [1, 1, 1]
        shape[ax] = m
        a0 = np.take(cur, lo, axis=ax)
        cur = a0 + (np.take(cur, hi, axis=ax) - a0) * w.reshape(shape)
    return np.ascontiguousarray(cur, dtype=np.float32)


def load_scan(path):
    """A NIfTI file (nibabel) or a DICOM series folder (pydicom, if installed) → (data [z, y, x], affine)."""
    path = str(path)
    if os.path.isdir(path):
        return _load_dicom_series(path)
    import nibabel as nib
    try:
        img = nib.load(path)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'{path}: not a readable NIfTI file ({e})') from e
    shape = img.shape
    if len(shape) != 3:
        if len(shape) == 4 and shape[3] == 1:
            pass
        else:
            raise ValueError(f'{path}: {len(shape)}-D image {shape}, expected 3-D')
    raw = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, 'get_unscaled') else np.asanyarray(img.dataobj)
    raw = raw.reshape(shape[:3])
    slope, inter = img.header.get_slope_inter() if hasattr(img.header, 'get_slope_inter') else (None, None)
    if slope is not None and (slope != 1 or (inter or 0) != 0):
        raw = (raw.astype(np.float64) * slope + (inter or 0)).astype(np.float32)
    # nibabel arrays are [x, y, z]; ours are [z, y, x].
    data = np.ascontiguousarray(np.transpose(raw, (2, 1, 0)))
    return data, np.asarray(img.affine, dtype=np.float64)


def _load_dicom_series(folder):
    try:
        import pydicom
    except ImportError as e:
        raise ValueError(f'{folder}: DICOM series need python3-pydicom (apt-get install python3-pydicom)') from e
    slices = []
    for f in sorted(os.listdir(folder)):
        p = os.path.join(folder, f)
        if not os.path.isfile(p):
            continue
        try:
            ds = pydicom.dcmread(p)
            if 'PixelData' in ds:
                slices.append(ds)
        except Exception:  # noqa: BLE001
            continue
    if len(slices) < 2:
        raise ValueError(f'{folder}: fewer than 2 DICOM slices')
    iop = np.array(slices[0].ImageOrientationPatient, dtype=np.float64)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(np.dot(np.array(s.ImagePositionPatient, dtype=np.float64), normal)))
    vol = np.stack([s.pixel_array.astype(np.float32) * float(getattr(s, 'RescaleSlope', 1)) + float(getattr(s, 'RescaleIntercept', 0)) for s in slices])
    ps = [float(v) for v in slices[0].PixelSpacing]
    p0 = np.array(slices[0].ImagePositionPatient, dtype=np.float64)
    p1 = np.array(slices[-1].ImagePositionPatient, dtype=np.float64)
    dz = (p1 - p0) / (len(slices) - 1)
    # LPS → RAS: negate x and y.
    lps = np.eye(4)
    lps[:3, 0] = row * ps[1]
    lps[:3, 1] = col * ps[0]
    lps[:3, 2] = dz
    lps[:3, 3] = p0
    ras = np.diag([-1, -1, 1, 1]) @ lps
    return vol, ras


def preprocess_file(path, settings: PreprocessSettings):
    data, affine = load_scan(path)
    return preprocess_array(data, affine, settings, name=os.path.basename(str(path).rstrip('/')))
