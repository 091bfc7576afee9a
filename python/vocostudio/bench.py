"""Step time of this package's training step beside bench/torch_twin.py's, interleaved in one process (so machine
load hits both alike): preset, B volumes × (n² + sw) crops of r³ voxels as `npm run bench` (B=2, sw=2, n=3, r=32),
real crop sampling from a synthetic volume, the full step (EMA, forward, losses, backward, AdamW).

  PYTHONPATH=python /usr/bin/python3 -m vocostudio.bench --preset B --steps 3 [--json]"""
import argparse
import importlib.util
import json
import os
import statistics
import time

import numpy as np
import torch

from .kernels.crop_sampler import sample_crop_tokens
from .model import PRESETS
from .sampler import StudioSampler
from .trainer import Trainer
from .voco.crop_plan import batch_crops, plan_labels

HERE = os.path.dirname(os.path.abspath(__file__))
TWIN = os.path.join(HERE, '..', '..', 'bench', 'torch_twin.py')


def load_twin():
    spec = importlib.util.spec_from_file_location('torch_twin', TWIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', default='B')
    ap.add_argument('--B', type=int, default=2)
    ap.add_argument('--sw', type=int, default=2)
    ap.add_argument('--n', type=int, default=3)
    ap.add_argument('--r', type=int, default=32)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--no-twin', action='store_true')
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    cfg = {'preset': args.preset, 'gridN': args.n, 'cropSize': args.r, 'randomCrops': args.sw, 'batchVolumes': args.B, 'lr': 1e-4,
           'warmupSteps': 1, 'totalSteps': 1000, 'weightDecay': 0.01, 'gradClip': 1, 'seed': 1}
    ours = Trainer(cfg, preset, model=None)
    rng = np.random.default_rng(0)
    dims = [(args.n * args.r + 20, args.n * args.r + 10, args.r + 8)] * 4
    vols = [rng.random((d[2], d[1], d[0]), dtype=np.float32) for d in dims]
    sampler = StudioSampler(1, args.n, args.r, args.sw, args.B, len(vols))

    def our_step():
        plan, keep = sampler.next(dims)
        tokens = sample_crop_tokens(vols, batch_crops(plan), args.r, preset.patch)
        return ours.step_on(tokens, plan_labels(plan), keep, args.B)['loss']

    twin_step = None
    if not args.no_twin:
        twin = load_twin()
        tp = twin.read_presets()[args.preset]
        ns = argparse.Namespace(n=args.n, r=args.r, sw=args.sw, B=args.B, warmup=0, steps=1, max_step_s=1e9)
        # torch_twin.run() times its own loop; here one of its steps at a time is interleaved with ours.
        twin_step = make_twin_step(twin, tp, ns)
    times = {'package': [], 'twin': []}
    our_step()
    if twin_step:
        twin_step()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = our_step()
        times['package'].append((time.perf_counter() - t0) * 1000)
        if twin_step:
            t0 = time.perf_counter()
            twin_step()
            times['twin'].append((time.perf_counter() - t0) * 1000)
    crops = args.B * (args.n ** 2 + args.sw)
    flops = load_twin().step_flops(load_twin().read_presets()[args.preset], args.r, crops)
    res = {'preset': args.preset, 'threads': args.threads, 'torch': torch.__version__, 'crops': crops, 'flopsPerStep': flops,
           'load': os.getloadavg(), 'lossFinite': bool(np.isfinite(loss)),
           **{f'{k}MedianMs': statistics.median(v) for k, v in times.items() if v}, 'stepMs': times}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"preset {args.preset}, {crops} crops, {flops / 1e9:.2f} GFLOP/step, torch {torch.__version__}, {args.threads} thread(s), load {res['load'][0]:.1f}")
        for k, v in times.items():
            if v:
                print(f'  {k:8}: median {statistics.median(v):8.0f} ms  ({", ".join(f"{x:.0f}" for x in v)})  {flops / (statistics.median(v) * 1e6):.2f} GFLOP/s')


def make_twin_step(twin, p, a):
    """One training step of bench/torch_twin.py's model (its own classes and losses), as a callable."""
    import torch.nn as nn
    torch.manual_seed(0)
    nb = a.n * a.n
    crops = a.B * (nb + a.sw)
    t = (a.r // p['patch']) ** 3
    enc = twin.Encoder(p, a.r)
    emb_dim = len(p['stageEnds']) * p['dim']
    student = twin.head(emb_dim, p['headHidden'], p['headOut'])
    teacher = twin.head(emb_dim, p['headHidden'], p['headOut'])
    for w in teacher.parameters():
        w.requires_grad_(False)
    params = list(enc.parameters()) + list(student.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2, amsgrad=True)
    drop = nn.Dropout1d(0.2)
    labels = torch.rand(a.B, a.sw, nb)
    labels = labels / labels.sum(-1, keepdim=True)

    def step():
        tokens = torch.rand(crops, t, p['patch'] ** 3)
        with torch.no_grad():
            for tw, sw_ in zip(teacher.parameters(), student.parameters()):
                tw.mul_(0.9).add_(sw_.detach(), alpha=0.1)
        emb = enc(tokens)
        s = student(drop(emb))
        with torch.no_grad():
            te = teacher(emb.detach())
        split = lambda z: (z[:a.B * nb].view(a.B, nb, -1), z[a.B * nb:].view(a.B, a.sw, -1))
        bs, xs = split(s)
        bt, xt = split(te)
        loss = twin.voco_losses(xs, bs, xt, bt, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()
    return step


if __name__ == '__main__':
    main()
