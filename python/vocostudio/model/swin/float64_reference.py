"""The swin fixture recomputed in float64: the exact values its float32 tensors approximate. Where PyTorch's own float32
result is far from them (a weight gradient that sums nearly cancelling terms over every voxel of both crops), a
parity check can hold the studio to the exact value instead of to PyTorch's rounding.

    python3 -m vocostudio.model.swin.float64_reference FIXTURE_DIR OUT.json [GRADIENT_NAME ...]

writes {"gradients": {name: [values, PyTorch layout]}, "fixture_error": {name: max|fixture - exact| / max|exact|}}
for the named weights (default: every gradient the fixture lists)."""
import json
import os
import sys

import numpy as np
import torch

from vocostudio.persist.safetensors import read_safetensors
from .voco_head import VoCoHead, load_authors_state


def float64_gradients(fixture_dir, names=None):
    with open(os.path.join(fixture_dir, 'swin-fs12.safetensors'), 'rb') as f:
        weights, _ = read_safetensors(f.read(), 'swin-fs12.safetensors')
    with open(os.path.join(fixture_dir, 'swin-fs12-io.safetensors'), 'rb') as f:
        io, _ = read_safetensors(f.read(), 'swin-fs12-io.safetensors')
    with open(os.path.join(fixture_dir, 'swin-fs12.json')) as f:
        cfg = json.load(f)['config']
    listed = [k[len('grad.'):] for k in io if k.startswith('grad.') and k != 'grad.weights']
    names = list(names) if names else listed
    for n in names:
        if n not in listed:
            raise ValueError(f'{fixture_dir}: the fixture has no gradient for {n!r}')
    model = VoCoHead(feature_size=cfg['feature_size'], head_width=cfg['head_width'])
    load_authors_state(model, {k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    model = model.double().train()
    x = torch.from_numpy(np.array(io['input'], dtype=np.float64))
    embedding = model.backbone(x)
    (embedding * torch.from_numpy(np.array(io['grad.weights'], dtype=np.float64))).sum().backward()
    params = dict(model.named_parameters())
    out = {'gradients': {}, 'fixture_error': {}}
    for n in names:
        exact = params[n].grad.detach().numpy().astype(np.float64)
        stored = np.asarray(io[f'grad.{n}'], dtype=np.float64)
        out['gradients'][n] = exact.ravel().tolist()
        out['fixture_error'][n] = float(np.abs(stored - exact).max() / np.abs(exact).max())
    return out


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    with open(argv[1], 'w') as f:
        json.dump(float64_gradients(argv[0], argv[2:]), f)


if __name__ == '__main__':
    main(sys.argv[1:])
