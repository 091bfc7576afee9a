"""The studio's layers (src/model/layers/*.ts) in torch, same formulas and layouts: linear weights stored
[in, out] (y = x·W + b), LayerNorm / BatchNorm written out (mean, centred, biased variance, rsqrt), GELU in its
tanh form as x·σ(2c(x + a·x³)), softmax over keys shifted by the row mean and capped at 80 (with the exact-softmax
gradient, as the studio's customGrad)."""
import math

import torch
import torch.nn as nn

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
        return x @ self.weight + self.bias


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
        return standardise(x, LAYER_NORM_EPS, -1) * self.weight + self.bias


def layer_norm_no_affine(x):
    return standardise(x, LAYER_NORM_EPS, -1)


def batch_norm_no_affine(x):
    """BatchNorm1d(affine=False, track_running_stats=False): batch statistics over the rows, train and eval."""
    if x.shape[0] < 2:
        raise ValueError(f'batchNormNoAffine: needs at least 2 rows to take batch statistics, got {x.shape[0]}')
    return standardise(x, BATCH_NORM_EPS, 0)


def gelu(x):
    return x * torch.sigmoid(x * (1 + GELU_A * (x * x)) * (2 * GELU_C))


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
