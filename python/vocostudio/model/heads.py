"""VoCo's projection head and the student's row dropout (src/model/heads.ts)."""
import torch
import torch.nn as nn

from .init import torch_linear_init
from .layers import Linear, batch_norm_no_affine

STUDENT_DROPOUT = 0.2


class ProjectionHead(nn.Module):
    """Linear → BN(no affine, batch stats) → ReLU → Linear → BN → ReLU → Linear; children named as the torch
    Sequential indices '0', '3', '6' (so the weights are student.0.weight, …)."""

    def __init__(self, make, in_dim, hidden, out):
        super().__init__()
        self.add_module('0', Linear(make, '0', in_dim, hidden, torch_linear_init(in_dim)))
        self.add_module('3', Linear(make, '3', hidden, hidden, torch_linear_init(hidden)))
        self.add_module('6', Linear(make, '6', hidden, out, torch_linear_init(hidden)))

    def forward(self, x):
        h = torch.relu(batch_norm_no_affine(getattr(self, '0')(x)))
        h = torch.relu(batch_norm_no_affine(getattr(self, '3')(h)))
        return getattr(self, '6')(h)


def dropout1d_rows(x, keep, p=STUDENT_DROPOUT):
    """nn.Dropout1d on a 2-D [N, C] input: torch reads it as one unbatched sample of N channels, so whole ROWS are
    zeroed; survivors are scaled by 1/(1 − p). keep: bool sequence/tensor of N."""
    keep = torch.as_tensor(keep, dtype=torch.bool, device=x.device)
    if keep.numel() != x.shape[0]:
        raise ValueError(f'dropout1dRows: {keep.numel()} keep flags for {x.shape[0]} rows')
    scale = 1 / (1 - p)
    mask = torch.where(keep, torch.tensor(scale, dtype=x.dtype, device=x.device), torch.tensor(0.0, dtype=x.dtype, device=x.device))
    return x * mask.reshape(-1, 1)
