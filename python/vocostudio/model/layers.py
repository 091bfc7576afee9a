"""The studio's layers (src/model/layers/*.ts) in torch, same functions and layouts: linear weights stored
[in, out] (y = x·W + b), LayerNorm and BatchNorm (batch statistics, no affine) with biased variance and eps 1e-5,
GELU in its tanh form, softmax over keys. torch's fused kernels compute them (the studio writes them out as
matmuls for WebGPU's sake; the values agree to float rounding: test/python-parity.test.ts). The studio's softmax
caps score − row mean at 80 before exp, which changes nothing unless attention has collapsed onto single keys."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .init import VIT_LINEAR_INIT, make_values

LAYER_NORM_EPS = 1e-5
BATCH_NORM_EPS = 1e-5
EXP_CLAMP = 80.0
GELU_C = math.sqrt(2 / math.pi)
GELU_A = 0.044715


class ParamMaker:
    """ParamFactory: creates seeded parameters named `<prefix><name>` (or zeros when seed is None, for loading)."""

    def __init__(self, seed, prefix):
        self.seed, self.prefix = seed, prefix

    def __call__(self, name, shape, init):
        if self.seed is None:
            return nn.Parameter(torch.zeros(shape))
        return nn.Parameter(torch.from_numpy(make_values(self.seed, self.prefix + name, list(shape), init)))


class Linear(nn.Module):
    def __init__(self, make, name, in_dim, out_dim, init):
        super().__init__()
        self.weight = make(f'{name}.weight', (in_dim, out_dim), init[0])
        self.bias = make(f'{name}.bias', (out_dim,), init[1])

    def forward(self, x):
        return torch.addmm(self.bias, x, self.weight)


def standardise(x, eps, dim):
    centred = x - x.mean(dim, keepdim=True)
    rstd = torch.rsqrt((centred * centred).mean(dim, keepdim=True) + eps)
    return centred * rstd


class LayerNorm(nn.Module):
    def __init__(self, make, name, dim):
        super().__init__()
        self.weight = make(f'{name}.weight', (dim,), ('ones',))
        self.bias = make(f'{name}.bias', (dim,), ('zeros',))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, LAYER_NORM_EPS)


def layer_norm_no_affine(x):
    return F.layer_norm(x, (x.shape[-1],), None, None, LAYER_NORM_EPS)


def batch_norm_no_affine(x):
    """BatchNorm1d(affine=False, track_running_stats=False): batch statistics over the rows, train and eval."""
    if x.shape[0] < 2:
        raise ValueError(f'batchNormNoAffine: needs at least 2 rows to take batch statistics, got {x.shape[0]}')
    return F.batch_norm(x, None, None, training=True, eps=BATCH_NORM_EPS)


def gelu(x):
    """GELU, tanh form: x·σ(2c(x + a·x³)) = ½x(1 + tanh(c(x + a·x³)))."""
    return F.gelu(x, approximate='tanh')


class _SoftmaxRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        e = torch.exp(torch.clamp(x - x.mean(-1, keepdim=True), max=EXP_CLAMP))
        y = e / e.sum(-1, keepdim=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        return y * (dy - (dy * y).sum(-1, keepdim=True))


def softmax_rows(x):
    return torch.softmax(x, -1)


def softmax_rows_capped(x):
    """The studio's exact variant (row-mean shift, cap at 80), kept for checks."""
    return _SoftmaxRows.apply(x)


class Attention(nn.Module):
    def __init__(self, make, name, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = Linear(make, f'{name}.qkv', dim, 3 * dim, VIT_LINEAR_INIT)
        self.proj = Linear(make, f'{name}.proj', dim, dim, VIT_LINEAR_INIT)

    def forward(self, x, n, t):
        dim = x.shape[1]
        h = self.heads
        dh = dim // h
        q, k, v = self.qkv(x).split(dim, 1)
        split = lambda z: z.reshape(n, t, h, dh).transpose(1, 2).reshape(n * h, t, dh)
        scores = split(q * (1 / math.sqrt(dim / h))) @ split(k).transpose(1, 2)
        ctx = softmax_rows(scores) @ split(v)
        return self.proj(ctx.reshape(n, h, t, dh).transpose(1, 2).reshape(n * t, dim))


class Mlp(nn.Module):
    def __init__(self, make, name, dim, hidden):
        super().__init__()
        self.fc1 = Linear(make, f'{name}.fc1', dim, hidden, VIT_LINEAR_INIT)
        self.fc2 = Linear(make, f'{name}.fc2', hidden, dim, VIT_LINEAR_INIT)

    def forward(self, x):
        return self.fc2(gelu(self.fc1(x)))


def sin_cos_3d(g, dim):
    """[g³, dim] fixed position table (src/model/layers/posEmbed.ts): x | y | z blocks of sin, cos; zero padding."""
    per_axis = 2 * (dim // 6)
    half = per_axis // 2
    out = torch.zeros(g, g, g, dim, dtype=torch.float64)
    if half:
        k = torch.arange(half, dtype=torch.float64)
        div = torch.tensor([10000.0 ** (float(i) / half) for i in range(half)], dtype=torch.float64)
        pos = torch.arange(g, dtype=torch.float64)
        ang = pos[:, None] / div[None, :]
        block = torch.cat([torch.sin(ang), torch.cos(ang)], 1)  # [g, per_axis]
        for axis in range(3):
            shape = [1, 1, 1, per_axis]
            shape[2 - axis] = g  # rows are (tz, ty, tx)
            out[..., axis * per_axis:(axis + 1) * per_axis] = block.view(*shape).expand(g, g, g, per_axis)
        del k
    return out.reshape(g ** 3, dim).float()
