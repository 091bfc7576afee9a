"""Swin Transformer 3-D as MONAI 1.3's SwinUNETR encoder computes it (use_v2=True), written from its semantics:
patch embedding (strided conv), per stage: [v2: residual conv block] → depth blocks of (shifted) window attention
with relative position bias → patch merging; each stage's output layer-normalised over channels (no affine).
Kept quirks that the released weights depend on: the relative-position index is built for the configured window
and cropped to the tokens of a smaller window; patch merging takes the 8 neighbours in MONAI ≤ 1.4's order (two of
them repeated)."""
import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .unetr import UnetResBlock


def fit_window(size, window, shift):
    """Window and shift per axis: an axis no longer than the window uses its own size and no shift."""
    w, s = list(window), list(shift)
    for i in range(3):
        if size[i] <= window[i]:
            w[i] = size[i]
            s[i] = 0
    return tuple(w), tuple(s)


def to_windows(x, ws):
    """[b, d, h, w, c] → [b·nW, ws0·ws1·ws2, c] (windows in d, h, w raster order)."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // ws[0], ws[0], h // ws[1], ws[1], w // ws[2], ws[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, ws[0] * ws[1] * ws[2], c)


def from_windows(win, ws, b, d, h, w):
    x = win.view(b, d // ws[0], h // ws[1], w // ws[2], ws[0], ws[1], ws[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def shift_mask(dims, ws, shift, device):
    """Additive mask [nW, N, N]: −100 between tokens that came from different regions of the shifted grid."""
    label = torch.zeros((1, *dims, 1), device=device)
    region = 0
    spans = [(slice(-ws[i]), slice(-ws[i], -shift[i]), slice(-shift[i], None)) for i in range(3)]
    for sd, sh, sw in itertools.product(*spans):
        label[:, sd, sh, sw, :] = region
        region += 1
    win = to_windows(label, ws).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    def __init__(self, dim, heads, window):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1), heads))
        grid = torch.stack(torch.meshgrid(*[torch.arange(n) for n in window], indexing='ij')).flatten(1)  # [3, N]
        rel = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0)  # [N, N, 3]
        rel = rel + torch.tensor([window[0] - 1, window[1] - 1, window[2] - 1])
        index = rel[..., 0] * ((2 * window[1] - 1) * (2 * window[2] - 1)) + rel[..., 1] * (2 * window[2] - 1) + rel[..., 2]
        self.register_buffer('relative_position_index', index)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x, mask):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        idx = self.relative_position_index[:n, :n].reshape(-1)
        attn = attn + self.relative_position_bias_table[idx].reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, n, n)
        attn = attn.softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.linear2(F.gelu(self.linear1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, window, shift, mlp_ratio=4.0):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, mask):
        b, d, h, w, c = x.shape
        ws, ss = fit_window((d, h, w), self.window, self.shift)
        y = self.norm1(x)
        pad = [(ws[i] - s % ws[i]) % ws[i] for i, s in enumerate((d, h, w))]
        y = F.pad(y, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        _, dp, hp, wp, _ = y.shape
        shifted = any(s > 0 for s in ss)
        if shifted:
            y = torch.roll(y, shifts=(-ss[0], -ss[1], -ss[2]), dims=(1, 2, 3))
        win = self.attn(to_windows(y, ws), mask if shifted else None)
        y = from_windows(win, ws, b, dp, hp, wp)
        if shifted:
            y = torch.roll(y, shifts=ss, dims=(1, 2, 3))
        x = x + y[:, :d, :h, :w, :].contiguous()
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2× downsampling: 8 neighbours concatenated (MONAI ≤ 1.4 order, x5 = x2 and x6 = x3), LayerNorm, Linear 8C→2C."""

    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(8 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(8 * dim)

    def forward(self, x):
        b, d, h, w, c = x.shape
        if d % 2 or h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2, 0, d % 2))
        parts = [x[:, i::2, j::2, k::2, :] for i, j, k in
                 ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 0), (0, 0, 1), (1, 1, 1))]
        return self.reduction(self.norm(torch.cat(parts, -1)))


class Stage(nn.Module):
    def __init__(self, dim, depth, heads, window):
        super().__init__()
        self.window = window
        self.shift = tuple(wi // 2 for wi in window)
        self.blocks = nn.ModuleList([SwinBlock(dim, heads, window, (0, 0, 0) if i % 2 == 0 else self.shift) for i in range(depth)])
        self.downsample = PatchMerging(dim)

    def forward(self, x):
        b, c, d, h, w = x.shape
        ws, ss = fit_window((d, h, w), self.window, self.shift)
        x = x.permute(0, 2, 3, 4, 1)
        dims = [int(math.ceil(s / ws[i])) * ws[i] for i, s in enumerate((d, h, w))]
        mask = shift_mask(dims, ws, ss, x.device) if any(s > 0 for s in ss) else None
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.downsample(x.view(b, d, h, w, -1))
        return x.permute(0, 4, 1, 2, 3)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans, dim, patch):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        _, _, d, h, w = x.shape
        p = self.patch
        x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p, 0, (p - d % p) % p))
        return self.proj(x)


def channel_layer_norm(x):
    return F.layer_norm(x.permute(0, 2, 3, 4, 1), [x.shape[1]]).permute(0, 4, 1, 2, 3)


class SwinViT(nn.Module):
    def __init__(self, in_chans=1, embed_dim=48, window=(7, 7, 7), patch=2, depths=(2, 2, 2, 2), heads=(3, 6, 12, 24), use_v2=True):
        super().__init__()
        self.use_v2 = use_v2
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch)
        for i in range(4):
            dim = embed_dim * 2 ** i
            setattr(self, f'layers{i + 1}', nn.ModuleList([Stage(dim, depths[i], heads[i], tuple(window))]))
            if use_v2:
                setattr(self, f'layers{i + 1}c', nn.ModuleList([UnetrBasicBlock(dim, dim)]))

    def forward(self, x):
        x = self.patch_embed(x)
        outs = [channel_layer_norm(x)]
        for i in range(1, 5):
            if self.use_v2:
                x = getattr(self, f'layers{i}c')[0](x.contiguous())
            x = getattr(self, f'layers{i}')[0](x.contiguous())
            outs.append(channel_layer_norm(x))
        return outs


class UnetrBasicBlock(nn.Module):
    """MONAI's UnetrBasicBlock with res_block=True: .layer is a UnetResBlock (keys layer.conv1.conv.weight, …)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.layer = UnetResBlock(cin, cout)

    def forward(self, x):
        return self.layer(x)
