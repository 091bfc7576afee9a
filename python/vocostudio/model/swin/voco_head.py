"""The authors' VoCo backbone ("Swin": SwinViT v2 + five UNETR encoder blocks, each output averaged over space,
concatenated: 24·feature_size wide) and projection heads, keyed exactly as their VoCoHead.state_dict()."""
import torch
import torch.nn as nn

from .swin_vit import SwinViT, UnetrBasicBlock


class SwinBackbone(nn.Module):
    def __init__(self, feature_size=48, in_channels=1, window=(7, 7, 7), patch=2, depths=(2, 2, 2, 2), heads=(3, 6, 12, 24)):
        super().__init__()
        fs = feature_size
        self.swinViT = SwinViT(in_channels, fs, window, patch, depths, heads, use_v2=True)
        self.encoder1 = UnetrBasicBlock(in_channels, fs)
        self.encoder2 = UnetrBasicBlock(fs, fs)
        self.encoder3 = UnetrBasicBlock(2 * fs, 2 * fs)
        self.encoder4 = UnetrBasicBlock(4 * fs, 4 * fs)
        self.encoder10 = UnetrBasicBlock(16 * fs, 16 * fs)
        self.embed_dim = 24 * fs

    def encodings(self, x):
        hidden = self.swinViT(x)
        return hidden, [self.encoder1(x), self.encoder2(hidden[0]), self.encoder3(hidden[1]), self.encoder4(hidden[2]), self.encoder10(hidden[4])]

    def forward(self, x):
        _, encs = self.encodings(x)
        return torch.cat([e.mean(dim=(2, 3, 4)) for e in encs], 1)


class ProjectionHeadRef(nn.Module):
    def __init__(self, in_dim, hidden, out):
        super().__init__()
        bn = lambda: nn.BatchNorm1d(hidden, affine=False, track_running_stats=False)
        self.layer1 = nn.Sequential(nn.Linear(in_dim, hidden), bn(), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Linear(hidden, hidden), bn(), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Linear(hidden, out))

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(x)))


class VoCoHead(nn.Module):
    def __init__(self, feature_size=48, head_width=1024, **kw):
        super().__init__()
        self.backbone = SwinBackbone(feature_size, **kw)
        d = self.backbone.embed_dim
        self.student = ProjectionHeadRef(d, head_width, head_width)
        self.teacher = ProjectionHeadRef(d, head_width, head_width)
        for p in self.teacher.parameters():
            p.requires_grad_(False)


def load_authors_state(model, state, strict=True):
    """Loads a state dict in the authors' layout; a DDP checkpoint's 'module.' prefix and a {'state_dict': …}
    wrapper are accepted. Float16 values are widened."""
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    clean = {(k[len('module.'):] if k.startswith('module.') else k): torch.as_tensor(v) for k, v in state.items()}
    own = model.state_dict()
    for k, v in clean.items():
        if k in own and own[k].is_floating_point():
            clean[k] = v.to(own[k].dtype)
    missing, unexpected = model.load_state_dict(clean, strict=False)
    missing = [k for k in missing if not k.endswith('relative_position_index')]
    if strict and (missing or unexpected):
        raise ValueError(f'state dict does not fit VoCoHead: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return missing, unexpected


def save_authors_checkpoint(model, global_step, path, ddp_prefix=False):
    """The layout the authors' voco_train.py writes: {"global_step": int, "state_dict": {...}}."""
    prefix = 'module.' if ddp_prefix else ''
    torch.save({'global_step': int(global_step), 'state_dict': {prefix + k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)
