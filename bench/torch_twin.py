#!/usr/bin/python3
"""PyTorch twin of the studio's VoCo training step, for the benchmark's "studio ÷ PyTorch" ratio.

Plain PyTorch (CPU or CUDA), nothing else. Builds the same encoder as src/model (preset dims read from
src/model/presets.ts): patch embedding as a matmul over patch tokens [N, T, p³] plus a fixed 3-D sin-cos
position table, pre-norm ViT blocks (LayerNorm → MHSA → residual, LayerNorm → MLP(GELU) → residual),
GAP of the layer-normalised (no affine) token stream at `stageEnds`, concatenated; the projection heads
(Linear → BN(no affine, batch stats) → ReLU ×2 → Linear), student with Dropout1d on its input, teacher by
EMA under no_grad; the VoCo losses of test/fixtures/README.md; AdamW (amsgrad, weight decay 0.01 as the
reference's torch default) without clipping unless --clip is given (the studio's default; the reference never clips). Times one training step at B volumes × (n² bases + sw randoms) crops of r³ voxels, random data
of the same shape (the crop sampling itself is not part of this twin).

Run with Debian's interpreter, which has torch:  /usr/bin/python3 bench/torch_twin.py --preset S
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS_TS = os.path.join(HERE, '..', 'src', 'model', 'presets.ts')


def read_presets(path=PRESETS_TS):
    """Parses the PRESETS object literal of src/model/presets.ts (flat fields, one nested list)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    body = text[text.index('export const PRESETS'):]
    presets = {}
    for m in re.finditer(r"(\w+):\s*\{([^{}]*)\}", body):
        fields = m.group(2)

        def num(key):
            mm = re.search(rf"\b{key}:\s*([\d.]+)", fields)
            if not mm:
                raise ValueError(f"{path}: preset {m.group(1)} has no numeric field '{key}'")
            v = float(mm.group(1))
            return int(v) if v.is_integer() else v

        name = re.search(r"name:\s*'([^']+)'", fields)
        stages = re.search(r"stageEnds:\s*\[([^\]]*)\]", fields)
        if not name or not stages:
            continue
        presets[name.group(1)] = {
            'name': name.group(1), 'patch': num('patch'), 'dim': num('dim'), 'depth': num('depth'),
            'heads': num('heads'), 'mlpRatio': num('mlpRatio'),
            'stageEnds': [int(s) for s in stages.group(1).split(',') if s.strip()],
            'headHidden': num('headHidden'), 'headOut': num('headOut'),
        }
    if not presets:
        raise ValueError(f"{path}: no presets found")
    return presets


def step_flops(p, r, crops):
    """Same count as src/model/flops.ts stepFlops (matmul FLOPs only)."""
    t = (r // p['patch']) ** 3
    dim, hidden = p['dim'], round(p['mlpRatio'] * p['dim'])

    def mm(m, k, n):
        return 2 * m * k * n

    block = mm(t, dim, 3 * dim) + mm(t, dim, t) + mm(t, t, dim) + mm(t, dim, dim) + mm(t, dim, hidden) + mm(t, hidden, dim)
    patch = mm(t, p['patch'] ** 3, dim)
    h = p['headHidden']
    head = mm(1, len(p['stageEnds']) * dim, h) + mm(1, h, h) + mm(1, h, p['headOut'])
    return crops * (2 * patch + 3 * p['depth'] * block + 3 * head + head)


def sincos3d(g, dim):
    per_axis = 2 * (dim // 6)
    half = per_axis // 2
    out = torch.zeros(g, g, g, dim)
    k = torch.arange(half, dtype=torch.float64)
    freq = 1.0 / (10000 ** (k / half))
    for axis in range(3):
        pos = torch.arange(g, dtype=torch.float64)
        ang = pos[:, None] * freq[None, :]
        block = torch.cat([torch.sin(ang), torch.cos(ang)], 1).float()  # [g, per_axis]
        shape = [1, 1, 1, per_axis]
        shape[2 - axis] = g  # token index (tz, ty, tx): x is the last grid axis
        out[..., axis * per_axis:(axis + 1) * per_axis] = block.view(*shape).expand(g, g, g, per_axis)
    return out.view(g ** 3, dim)


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def attention(self, x, n, t):
        dim = x.shape[1]
        dh = dim // self.heads
        q, k, v = self.qkv(x).split(dim, 1)
        split = lambda z: z.reshape(n, t, self.heads, dh).transpose(1, 2).reshape(n * self.heads, t, dh)
        scores = torch.bmm(split(q * (1.0 / math.sqrt(dh))), split(k).transpose(1, 2))
        ctx = torch.bmm(scores.softmax(-1), split(v))
        return self.proj(ctx.reshape(n, self.heads, t, dh).transpose(1, 2).reshape(n * t, dim))

    def forward(self, x, n, t):
        x = x + self.attention(self.norm1(x), n, t)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self, p, r):
        super().__init__()
        self.p = p
        self.g = r // p['patch']
        self.patch_embed = nn.Linear(p['patch'] ** 3, p['dim'])
        self.register_buffer('pos', sincos3d(self.g, p['dim']))
        hidden = round(p['mlpRatio'] * p['dim'])
        self.blocks = nn.ModuleList([Block(p['dim'], p['heads'], hidden) for _ in range(p['depth'])])

    def forward(self, tokens):
        n, t, _ = tokens.shape
        dim = self.p['dim']
        taps = []
        tap = lambda x: taps.append(F.layer_norm(x, (dim,)).view(n, t, dim).mean(1))
        x = (self.patch_embed(tokens.reshape(n * t, -1)).view(n, t, dim) + self.pos).reshape(n * t, dim)
        if 0 in self.p['stageEnds']:
            tap(x)
        for i, b in enumerate(self.blocks):
            x = b(x, n, t)
            if i + 1 in self.p['stageEnds']:
                tap(x)
        return torch.cat(taps, 1)


def head(in_dim, hidden, out):
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden, affine=False, track_running_stats=False), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden, affine=False, track_running_stats=False), nn.ReLU(),
        nn.Linear(hidden, out))


def p_logits(a, b):
    """relu(cosine(a rows, b rows)) batched: a [B, m, d], b [B, k, d] → [B, m, k]."""
    return F.relu(torch.bmm(F.normalize(a, dim=-1, eps=1e-8), F.normalize(b, dim=-1, eps=1e-8).transpose(1, 2)))


def ce(y, p):
    """The reference ce_loss per volume: y, p [B, sw, k] → [B]."""
    eps = 1e-6
    pos = -(y * torch.log(1 - (y - p).abs() + eps)).sum((1, 2)) / (y.sum((1, 2)) + eps)
    neg_mask = (y == 0).float()
    neg = -(neg_mask * torch.log(1 - p + eps)).sum((1, 2)) / (neg_mask.sum((1, 2)) + eps)
    return pos + neg


def voco_losses(xs, bs, xt, bt, labels):
    """xs/xt [B, sw, d], bs/bt [B, nb, d]; teacher inputs carry no gradient."""
    xt, bt = xt.detach(), bt.detach()
    logits = p_logits(xs, bt)
    intra = ce(labels, logits).mean()
    roll = lambda z: torch.roll(z, -1, 0)  # volume i meets the bases of volume (i+1) mod B
    inter = ce(p_logits(xt, roll(bt)).detach(), p_logits(xs, roll(bs))).mean()
    nb = bs.shape[1]
    bsn = F.normalize(bs, dim=-1, eps=1e-8)
    gram = torch.bmm(bsn, bsn.detach().transpose(1, 2))
    upper = torch.triu(torch.ones(nb, nb, device=bs.device), 1)
    reg = ((F.relu(gram) ** 2) * upper).sum((1, 2)).div(nb * (nb - 1) / 2).mean()
    return intra + inter + reg


def run(p, args, device):
    torch.manual_seed(0)
    n, r, sw, B = args.n, args.r, args.sw, args.B
    nb = n * n
    crops = B * (nb + sw)
    t = (r // p['patch']) ** 3
    enc = Encoder(p, r).to(device)
    emb_dim = len(p['stageEnds']) * p['dim']
    student = head(emb_dim, p['headHidden'], p['headOut']).to(device)
    teacher = head(emb_dim, p['headHidden'], p['headOut']).to(device)
    for w in teacher.parameters():
        w.requires_grad_(False)
    params = list(enc.parameters()) + list(student.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, amsgrad=True)
    drop = nn.Dropout1d(0.2)
    labels = torch.rand(B, sw, nb, device=device)
    labels = labels / labels.sum(-1, keepdim=True)

    def step():
        tokens = torch.rand(crops, t, p['patch'] ** 3, device=device)
        with torch.no_grad():  # EMA first, as the studio (and voco_head.py) do
            for tw, sw_ in zip(teacher.parameters(), student.parameters()):
                tw.mul_(0.9).add_(sw_.detach(), alpha=0.1)
        emb = enc(tokens)
        s = student(drop(emb))
        with torch.no_grad():
            te = teacher(emb.detach())
        split = lambda z: (z[:B * nb].view(B, nb, -1), z[B * nb:].view(B, sw, -1))
        bs, xs = split(s)
        bt, xt = split(te)
        loss = voco_losses(xs, bs, xt, bt, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        return loss.item()  # the studio reads its loss back every step too

    sync = (lambda: torch.cuda.synchronize()) if device.type == 'cuda' else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    slow = args.warmup and (time.perf_counter() - t0) / args.warmup > args.max_step_s
    times = []
    for _ in range(1 if slow else args.steps):
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    if not math.isfinite(loss):
        raise RuntimeError(f'non-finite loss {loss}')
    flops = step_flops(p, r, crops)
    med = statistics.median(times)
    return {
        'preset': p['name'], 'device': str(device), 'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'B': B, 'sw': sw, 'n': n, 'r': r, 'crops': crops, 'steps': len(times), 'stepMs': times,
        'medianMs': med, 'flopsPerStep': flops, 'gflops': flops / (med * 1e6),
        'params': sum(w.numel() for w in params),
    }


def run_reference(args, device):
    """The same VoCo step with the authors' backbone (SwinViT v2 + UNETR encoder blocks, 24 × feature size wide) and
    their projection heads, from python/vocostudio/model/swin (MONAI-free, checked against test/fixtures/voco-swin)."""
    sys.path.insert(0, os.path.join(HERE, '..', 'python'))
    from vocostudio.model.swin import VoCoHead
    torch.manual_seed(0)
    n, r, sw, B = args.n, args.r, args.sw, args.B
    if r % 32 or r < 64:
        sys.exit(f'--reference needs crops of r³ with r a multiple of 32 and ≥ 64, got r = {r}')
    nb = n * n
    crops = B * (nb + sw)
    model = VoCoHead(feature_size=args.reference, head_width=args.reference_head).to(device)
    params = list(model.backbone.parameters()) + list(model.student.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2, amsgrad=True)
    drop = nn.Dropout1d(0.2)
    labels = torch.rand(B, sw, nb, device=device)
    labels = labels / labels.sum(-1, keepdim=True)

    def step():
        x = torch.rand(crops, 1, r, r, r, device=device)
        with torch.no_grad():
            for tw, sw_ in zip(model.teacher.parameters(), model.student.parameters()):
                tw.mul_(0.9).add_(sw_.detach(), alpha=0.1)
        emb = model.backbone(x)
        s = model.student(drop(emb))
        with torch.no_grad():
            te = model.teacher(emb.detach())
        split = lambda z: (z[:B * nb].view(B, nb, -1), z[B * nb:].view(B, sw, -1))
        bs, xs = split(s)
        bt, xt = split(te)
        loss = voco_losses(xs, bs, xt, bt, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    sync = (lambda: torch.cuda.synchronize()) if device.type == 'cuda' else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    if not math.isfinite(loss):
        raise RuntimeError(f'non-finite loss {loss}')
    return {'model': f'reference SwinViT v2 + UNETR, feature size {args.reference}', 'device': str(device), 'threads': torch.get_num_threads(),
            'B': B, 'sw': sw, 'n': n, 'r': r, 'crops': crops, 'steps': len(times), 'stepMs': times, 'medianMs': statistics.median(times),
            'params': sum(w.numel() for w in params)}


def blas_info():
    """Which BLAS torch's matmuls run on: Debian's torch is built against the generic libblas.so.3, so the
    speed depends on the alternative installed (reference netlib BLAS: a few GFLOP/s; OpenBLAS: ~30× more)."""
    cfg = torch.__config__.show()
    m = re.search(r'BLAS_INFO=(\w+)', cfg)
    info = m.group(1) if m else 'unknown'
    for link in ('/etc/alternatives/libblas.so.3-x86_64-linux-gnu', '/etc/alternatives/libblas.so.3'):
        if os.path.exists(link):
            return f'{info} → {os.path.realpath(link)}'
    return info


def matmul_gflops(device, size=1024, reps=10):
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    (a @ b).sum().item()
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        (a @ b).sum().item()
        best = max(best, 2 * size ** 3 / ((time.perf_counter() - t0) * 1e9))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', action='append', help='preset name (repeatable); default: all')
    ap.add_argument('--B', type=int, default=2)
    ap.add_argument('--sw', type=int, default=2)
    ap.add_argument('--n', type=int, default=3)
    ap.add_argument('--r', type=int, default=32)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--clip', type=float, default=0.0, help='global-norm gradient clip; 0 (default) disables, as the studio')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--json', action='store_true', help='print one JSON document instead of a table')
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1,
                    help='torch threads (default: all cores). On a busy machine 1 can be much faster: OpenMP regions wait for descheduled threads')
    ap.add_argument('--max-step-s', type=float, default=60.0, help='after a warm-up step slower than this, time a single step')
    ap.add_argument('--reference', type=int, metavar='FEATURE_SIZE',
                    help="time the authors' reference backbone (python/vocostudio/model/swin) at this feature size instead "
                         "(VoCo-B 48, L 96, H 192); crops of r³ voxels, r a multiple of 32 and ≥ 64 (the last stage needs 2³ voxels), as the authors' 96³ or 64³")
    ap.add_argument('--reference-head', type=int, default=1024, help='projection head width for --reference')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda: torch sees no CUDA device')
    if args.reference:
        res = run_reference(args, device)
        if args.json:
            print(json.dumps(res))
        else:
            print(f"{res['model']}: {res['medianMs']:.1f} ms/step, {res['crops']} crops of {args.r}³ on {device}, "
                  f"{torch.get_num_threads()} threads ({res['params'] / 1e6:.2f} M params)")
        return
    presets = read_presets()
    names = args.preset or list(presets)
    unknown = [x for x in names if x not in presets]
    if unknown:
        sys.exit(f"unknown preset(s) {unknown}; src/model/presets.ts has {list(presets)}")
    results = [run(presets[x], args, device) for x in names]
    doc = {'matmul1024Gflops': matmul_gflops(device), 'threads': torch.get_num_threads(), 'blas': blas_info(), 'results': results}
    if args.json:
        print(json.dumps(doc))
        return
    print(f"torch {torch.__version__} on {device}, {doc['threads']} threads, BLAS {doc['blas']}; 1024² matmul {doc['matmul1024Gflops']:.1f} GFLOP/s")
    for res in results:
        print(f"{res['preset']:>5}: {res['medianMs']:8.1f} ms/step  {res['crops']} crops  "
              f"{res['flopsPerStep'] / 1e9:7.2f} GFLOP/step  {res['gflops']:6.1f} GFLOP/s  ({res['params'] / 1e6:.2f} M params)")


if __name__ == '__main__':
    main()
