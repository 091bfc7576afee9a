"""The crop plan of one training step (src/voco/cropPlan.ts): region corners, base and random crops, position
labels and per-crop augmentation, drawn from the seeded Rng in exactly the studio's order."""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .position_labels import position_labels


@dataclass
class CropSpec:
    volume: int
    origin: Tuple[int, int, int]
    flip: Tuple[bool, bool, bool] = (False, False, False)
    rot90: int = 0
    shift: float = 0.0

    def to_json(self):
        return {'volume': self.volume, 'origin': list(self.origin), 'flip': list(self.flip), 'rot90': self.rot90, 'shift': self.shift}


@dataclass(frozen=True)
class AugmentConfig:
    flipP: float
    rotP: float
    shiftP: float
    shiftMax: float


# RandFlipd ×3 p=0.2, RandRotate90d p=0.2 max_k=3, RandShiftIntensityd ±0.1 p=0.5.
REFERENCE_AUGMENT = AugmentConfig(flipP=0.2, rotP=0.2, shiftP=0.5, shiftMax=0.1)


@dataclass
class VolumePlan:
    volume: int
    region_origin: Tuple[int, int, int]
    bases: List[CropSpec]
    randoms: List[CropSpec]
    random_centers: List[Tuple[int, int]]
    labels: List[np.ndarray]


@dataclass
class BatchPlan:
    n: int
    r: int
    sw: int
    volumes: List[VolumePlan] = field(default_factory=list)


def region_size(n, r):
    return (n * r, n * r, r)


def _make_crop(rng, volume, origin, augment):
    if augment is None:
        return CropSpec(volume, tuple(origin))
    flip = (rng.bool(augment.flipP), rng.bool(augment.flipP), rng.bool(augment.flipP))
    rot90 = rng.int(1, 4) if rng.bool(augment.rotP) else 0
    shift = rng.uniform(-augment.shiftMax, augment.shiftMax) if rng.bool(augment.shiftP) else 0.0
    return CropSpec(volume, tuple(origin), flip, rot90, shift)


def plan_volume(rng, volume, dims, n, r, sw, augment):
    """One volume's part of planBatch (the RNG draws happen in the studio's order)."""
    size = region_size(n, r)
    half = r // 2
    origin = []
    for axis in range(3):
        slack = dims[axis] - size[axis]
        # MONAI symmetric pad puts floor(pad/2) before; JS `0 - Math.floor(-slack / 2)`.
        origin.append(rng.int(0, slack + 1) if slack >= 0 else 0 - ((-slack) // 2))
    ox, oy, oz = origin
    centers, labels = [], []
    for _ in range(sw):
        cx = rng.int(half, n * r - half)
        cy = rng.int(half, n * r - half)
        centers.append((cx, cy))
        labels.append(position_labels(r, n, cx, cy))
    bases = [_make_crop(rng, volume, (ox + i * r, oy + j * r, oz), augment) for i in range(n) for j in range(n)]
    randoms = [_make_crop(rng, volume, (ox + cx - half, oy + cy - half, oz), augment) for cx, cy in centers]
    return VolumePlan(volume, (ox, oy, oz), bases, randoms, centers, labels)


def plan_batch(rng, volume_dims, volume_indices, n, r, sw, augment: Optional[AugmentConfig] = None):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f'planBatch: grid size n must be a positive integer, got {n}')
    if not isinstance(r, int) or r < 2:
        raise ValueError(f'planBatch: crop size r must be an integer ≥ 2, got {r}')
    if not isinstance(sw, int) or sw < 1:
        raise ValueError(f'planBatch: sw must be a positive integer, got {sw}')
    if len(volume_indices) < 2:
        raise ValueError(f'planBatch: a batch needs at least 2 volumes (the inter-volume term pairs i with i+1), got {len(volume_indices)}')
    if augment is not None:
        for k in ('flipP', 'rotP', 'shiftP'):
            p = getattr(augment, k)
            if not (0 <= p <= 1):
                raise ValueError(f'planBatch: augment.{k} must be a probability in [0, 1], got {p}')
    vols = []
    for v in volume_indices:
        if v < 0 or v >= len(volume_dims):
            raise ValueError(f'planBatch: volume index {v} is out of range ({len(volume_dims)} volumes)')
        vols.append(plan_volume(rng, v, volume_dims[v], n, r, sw, augment))
    return BatchPlan(n, r, sw, vols)


def batch_crops(plan):
    """Crops in batch order: all bases (volume-major, i*n+j), then all randoms (volume-major)."""
    return [c for v in plan.volumes for c in v.bases] + [c for v in plan.volumes for c in v.randoms]


def plan_labels(plan):
    """[B, sw, n²] float32."""
    return np.stack([np.stack(v.labels) for v in plan.volumes]).astype(np.float32)
