"""Encoder presets, as src/model/presets.ts (a unit test reads that file and checks that every field agrees)."""
from dataclasses import asdict, dataclass
from typing import List


@dataclass(frozen=True)
class EncoderPreset:
    name: str
    label: str
    patch: int
    dim: int
    depth: int
    heads: int
    mlpRatio: float
    stageEnds: List[int]
    headHidden: int
    headOut: int

    def to_json(self):
        d = asdict(self)
        d['stageEnds'] = list(self.stageEnds)
        return d


PRESETS = {
    'tiny': EncoderPreset('tiny', 'tiny — tests only (ViT-3D 32×2, patch 4)', 4, 32, 2, 2, 2, [0, 1, 2], 64, 64),
    'S': EncoderPreset('S', 'S — small (ViT-3D 128×4, patch 8)', 8, 128, 4, 2, 4, [0, 1, 2, 3, 4], 1024, 1024),
    'B': EncoderPreset('B', 'B — base (ViT-3D 128×6, patch 8)', 8, 128, 6, 2, 4, [0, 1, 2, 4, 6], 1024, 1024),
    'L': EncoderPreset('L', 'L — large (ViT-3D 192×8, patch 8)', 8, 192, 8, 3, 4, [0, 2, 4, 6, 8], 1024, 1024),
    'H': EncoderPreset('H', 'H — huge (ViT-3D 384×12, patch 8)', 8, 384, 12, 6, 4, [0, 3, 6, 9, 12], 1024, 1024),
}
DEFAULT_PRESET = 'B'
PRESET_FIELDS = ('patch', 'dim', 'depth', 'heads', 'mlpRatio', 'stageEnds', 'headHidden', 'headOut')


def preset_from_json(d):
    """A preset as stored in a .voco manifest (the studio writes its whole definition)."""
    return EncoderPreset(d['name'], d.get('label', d['name']), int(d['patch']), int(d['dim']), int(d['depth']), int(d['heads']),
                         d['mlpRatio'], [int(s) for s in d['stageEnds']], int(d['headHidden']), int(d['headOut']))


def embed_dim(p):
    return len(p.stageEnds) * p.dim


def validate_preset(p, crop_size=None):
    def fail(why):
        raise ValueError(f"Encoder preset '{p.name}': {why}")
    for k in ('patch', 'dim', 'depth', 'heads', 'headHidden', 'headOut'):
        v = getattr(p, k)
        if not isinstance(v, int) or v < 1:
            fail(f'{k} must be a positive integer, got {v}')
    if p.dim % p.heads:
        fail(f'dim {p.dim} is not divisible by heads {p.heads}')
    s = p.stageEnds
    if not s or any(v < 0 or v > p.depth for v in s) or any(b <= a for a, b in zip(s, s[1:])) or s[-1] != p.depth:
        fail(f'stageEnds {s} must increase strictly within 0..{p.depth} and end at {p.depth}')
    if crop_size is not None and (crop_size < 1 or crop_size % p.patch):
        fail(f'crop size {crop_size} is not a multiple of the patch size {p.patch}')


def param_count(p):
    hidden = round(p.mlpRatio * p.dim)
    lin = lambda i, o: i * o + o
    block = 2 * p.dim + lin(p.dim, 3 * p.dim) + lin(p.dim, p.dim) + 2 * p.dim + lin(p.dim, hidden) + lin(hidden, p.dim)
    encoder = lin(p.patch ** 3, p.dim) + p.depth * block
    head = lin(embed_dim(p), p.headHidden) + lin(p.headHidden, p.headHidden) + lin(p.headHidden, p.headOut)
    return {'encoder': encoder, 'head': head, 'total': encoder + head}
