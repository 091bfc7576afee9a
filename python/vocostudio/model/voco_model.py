"""The VoCo model (src/model/vocoModel.ts): one encoder, a student head (trained, row dropout on its input) and a
separately initialised teacher head moved toward the student by EMA before its forward pass. Parameter names
and shapes are the studio's ('encoder.blocks.0.attn.qkv.weight' [in, out], 'student.0.bias', 'teacher.6.weight')."""
import torch
import torch.nn as nn

from .encoder import Encoder
from .heads import STUDENT_DROPOUT, ProjectionHead, dropout1d_rows
from .layers import ParamMaker
from .presets import embed_dim, validate_preset


class VocoModel(nn.Module):
    def __init__(self, preset, crop_size, seed=None):
        """seed=None: zeros (weights to be loaded); an int: the studio's seeded initialisation."""
        super().__init__()
        validate_preset(preset, crop_size)
        self.preset, self.crop_size = preset, crop_size
        self.embed_dim = embed_dim(preset)
        self.encoder = Encoder(preset, ParamMaker(seed, 'encoder.'))
        self.student = ProjectionHead(ParamMaker(seed, 'student.'), self.embed_dim, preset.headHidden, preset.headOut)
        self.teacher = ProjectionHead(ParamMaker(seed, 'teacher.'), self.embed_dim, preset.headHidden, preset.headOut)
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def forward(self, tokens, row_keep):
        """tokens [N, T, p³], row_keep [N] bools → (student [N, out], teacher [N, out] without gradient)."""
        emb = self.encoder(tokens)
        student = self.student(dropout1d_rows(emb, row_keep, STUDENT_DROPOUT))
        with torch.no_grad():
            teacher = self.teacher(emb.detach())
        return student, teacher

    def trainable(self):
        """Encoder + student head, in the studio's order (the optimizer state's index i)."""
        return list(self.encoder.parameters()) + list(self.student.parameters())

    @torch.no_grad()
    def ema_update(self, momentum):
        if not 0 <= momentum <= 1:
            raise ValueError(f'emaUpdate: momentum must be in [0, 1], got {momentum}')
        for t, s in zip(self.teacher.parameters(), self.student.parameters()):
            t.copy_(t * momentum + s * (1 - momentum))

    def weight_names(self):
        return [n for n, _ in self.named_parameters()]
