#!/usr/bin/python3
"""The reference encoder in PyTorch for `npm run bench` (bench/swin-bench.mjs): forward ms per r³ crop, forward +
backward of sum(embedding) per crop, and one VoCo training step (bench/torch_twin.py's run_reference at B = 2, n = 2,
sw = 1), with the authors' SwinViT v2 + UNETR from python/vocostudio/model/swin (checked against
test/fixtures/voco-swin) on CPU. Random weights and crops. A measure predicted to take longer than --max-s after its
first pass is timed once (the first pass). Use Debian's /usr/bin/python3 (torch)."""
import argparse
import json
import os
import statistics
import sys
import time
from types import SimpleNamespace

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'python'))
sys.path.insert(0, HERE)


def timed(fn, rounds, max_s):
    """First pass, then up to `rounds` more while the total stays under max_s; median of the later ones."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    while len(times) < rounds and first + sum(times) + (times[-1] if times else first) <= max_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return (statistics.median(times) if times else first) * 1000, not times


def measure(fs, r, rounds, max_s, step):
    from vocostudio.model.swin import VoCoHead
    torch.manual_seed(0)
    model = VoCoHead(feature_size=fs, head_width=1024)
    x = torch.rand(1, 1, r, r, r)

    def fwd():
        with torch.no_grad():
            model.backbone(x)

    def grad():
        model.zero_grad(set_to_none=True)
        model.backbone(x).sum().backward()

    out = {'featureSize': fs, 'r': r}
    out['forwardMs'], f1 = timed(fwd, rounds, max_s)
    out['gradientMs'], g1 = timed(grad, rounds, max_s)
    notes = [n for n, only in (('forward', f1), ('fwd+bwd', g1)) if only]
    del model
    if step:
        import torch_twin
        crops = 2 * (2 * 2 + 1)
        if out['gradientMs'] * crops / 1000 > max_s:
            out['stepMs'] = None
            notes.append(f'step skipped: predicted {out["gradientMs"] * crops / 1000:.0f} s')
        else:
            args = SimpleNamespace(n=2, r=r, sw=1, B=2, reference=fs, reference_head=1024, warmup=1, steps=1)
            out['stepMs'] = torch_twin.run_reference(args, torch.device('cpu'))['medianMs']
    if notes:
        out['note'] = 'first pass only: ' + ', '.join(notes)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--feature-size', type=int, action='append', help='12 (swin-tiny), 48 (VoCo-B), …; repeatable')
    ap.add_argument('--r', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--max-s', type=float, default=120.0)
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--no-step', action='store_true')
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import torch_twin
    results = [measure(fs, args.r, args.rounds, args.max_s, not args.no_step) for fs in (args.feature_size or [12, 48])]
    doc = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': torch_twin.blas_info(), 'results': results}
    if args.json:
        print(json.dumps(doc))
        return
    for x in results:
        print(f"fs {x['featureSize']}: forward {x['forwardMs']:.0f} ms/crop, fwd+bwd {x['gradientMs']:.0f} ms/crop, "
              f"step {x.get('stepMs') or float('nan'):.0f} ms {x.get('note', '')}")


if __name__ == '__main__':
    main()
