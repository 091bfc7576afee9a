"""VoCo position labels (src/voco/positionLabels.ts): overlap of a random crop with each of the n×n base crops."""
import numpy as np


def position_labels(roi, n, cx, cy):
    """float32 [n*n], index i*n + j (i along x). The crop is [c - h, c + h) with h = floor(roi/2), as the authors."""
    if not (isinstance(roi, int) and isinstance(n, int)) or roi <= 0 or n <= 0:
        raise ValueError(f'positionLabels: roi and n must be positive integers, got roi={roi}, n={n}')
    half = roi // 2
    x_min, x_max, y_min, y_max = cx - half, cx + half, cy - half, cy + half
    area = roi * roi
    out = np.zeros(n * n, dtype=np.float32)
    for i in range(n):
        dx = min((i + 1) * roi, x_max) - max(i * roi, x_min)
        if dx <= 0:
            continue
        for j in range(n):
            dy = min((j + 1) * roi, y_max) - max(j * roi, y_min)
            if dy > 0:
                out[i * n + j] = (dx * dy) / area
    return out
