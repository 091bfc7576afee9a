"""The studio's 3-D ViT encoder (src/model/encoder.ts): patch tokens [N, T, p³] (the crop sampler's layout) →
patch embedding (+ fixed sin-cos positions) → pre-norm blocks → layer-normalised taps at stageEnds, each averaged
over the tokens, concatenated: [N, len(stageEnds)·dim]."""
import math

import torch
import torch.nn as nn

from .layers import Attention, LayerNorm, Linear, Mlp, layer_norm_no_affine, sin_cos_3d
from .presets import validate_preset


class Block(nn.Module):
    def __init__(self, make, name, dim, heads, hidden):
        super().__init__()
        self.norm1 = LayerNorm(make, f'{name}.norm1', dim)
        self.attn = Attention(make, f'{name}.attn', dim, heads)
        self.norm2 = LayerNorm(make, f'{name}.norm2', dim)
        self.mlp = Mlp(make, f'{name}.mlp', dim, hidden)

    def forward(self, x, n, t):
        x = x + self.attn(self.norm1(x), n, t)
        return x + self.mlp(self.norm2(x))


class Encoder(nn.Module):
    def __init__(self, preset, make):
        super().__init__()
        validate_preset(preset)
        self.preset = preset
        vox, dim = preset.patch ** 3, preset.dim
        xavier = math.sqrt(6 / (vox + dim))
        self.patch_embed = Linear(make, 'patch_embed', vox, dim, (('uniform', xavier), ('zeros',)))
        hidden = round(preset.mlpRatio * dim)
        self.blocks = nn.ModuleList([Block(make, f'blocks.{i}', dim, preset.heads, hidden) for i in range(preset.depth)])
        self._positions = {}

    def position_table(self, g, device):
        key = (g, str(device))
        if key not in self._positions:
            self._positions[key] = sin_cos_3d(g, self.preset.dim).to(device)
        return self._positions[key]

    def trunk(self, tokens):
        p = self.preset
        if tokens.dim() != 3:
            raise ValueError(f'Encoder: tokens must be [N, T, p³], got shape {list(tokens.shape)}')
        n, t, vox = tokens.shape
        if vox != p.patch ** 3:
            raise ValueError(f"Encoder: preset '{p.name}' has patch {p.patch} (p³ = {p.patch ** 3}) but tokens have {vox} voxels each")
        g = round(t ** (1 / 3))
        if g ** 3 != t:
            raise ValueError(f'Encoder: {t} tokens per crop is not a cube g³')
        taps = []
        x = self.patch_embed(tokens.reshape(n * t, vox))
        x = (x.reshape(n, t, p.dim) + self.position_table(g, tokens.device).to(x.dtype)).reshape(n * t, p.dim)
        if p.stageEnds[0] == 0:
            taps.append(layer_norm_no_affine(x))
        for i, b in enumerate(self.blocks):
            x = b(x, n, t)
            if (i + 1) in p.stageEnds:
                taps.append(layer_norm_no_affine(x))
        return n, t, taps

    def forward(self, tokens):
        n, t, taps = self.trunk(tokens)
        return torch.cat([x.reshape(n, t, -1).mean(1) for x in taps], 1)

    def forward_tokens(self, tokens):
        n, t, taps = self.trunk(tokens)
        return torch.cat(taps, 1).reshape(n, t, -1)
