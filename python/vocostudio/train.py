"""Continue a studio run on one machine or a cluster, with PyTorch DDP:

  torchrun --nproc_per_node=N -m vocostudio.train --from run.voco --data DIR|datalist.json --steps K --out DIR

Every rank loads the run (weights, AdamW state with the amsgrad maxima, step, schedule, seeds and generator
positions), the scans are preprocessed once into a shared cache, and training continues from the run's step:
rank k trains volumes k·B..(k+1)·B−1 of each global batch drawn from the studio's generators (one process on the
studio's own volumes reproduces the browser's next steps). Checkpoints are .voco files the studio imports, with
the browser's metrics followed by the cluster's and a marker where the run moved. Multi-node: torchrun's
rendezvous flags (docs/cluster.md)."""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from . import __version__
from .data.cache import VolumeCache
from .data.loader import make_loader, prepare_volumes
from .data.sources import list_scans, read_datalist
from .persist.run_file import RunFile, read_run_file
from .preprocess.preprocess import PreprocessSettings
from .run_io import update_run
from .sampler import SamplerState, StudioSampler
from .trainer import NonFiniteLossError, trainer_from_run, unknown_config_fields


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog='python -m vocostudio.train', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--from', dest='run', required=True, help='the studio run to continue (.voco, from "Continue on a cluster")')
    ap.add_argument('--data', required=True, help='a folder of scans (NIfTI, DICOM series folders) or a datalist JSON {"training": [{"image": path}]}')
    ap.add_argument('--data-root', help='folder that datalist paths are relative to (default: the JSON file\'s folder)')
    ap.add_argument('--steps', type=int, required=True, help='optimizer steps to take now')
    ap.add_argument('--out', required=True, help='output folder (checkpoints, metrics, cache)')
    ap.add_argument('--total-steps', type=int, help='length of the cosine schedule (default: the run\'s)')
    ap.add_argument('--batch-volumes', type=int, help='volumes per batch PER PROCESS (default: the run\'s B)')
    ap.add_argument('--checkpoint-every', type=int, default=0, help='also write a .voco every N steps (0: only at the end)')
    ap.add_argument('--cache', help='preprocessed-volume cache folder (default: OUT/cache)')
    ap.add_argument('--workers', type=int, default=2, help='DataLoader workers per process')
    ap.add_argument('--order', choices=['studio', 'torch'], default='studio',
                    help="volume order: the studio's (epochs over one seeded shuffle; continues the browser exactly) or torch's "
                         "DistributedSampler (the authors' way; seed = the run's seed, epoch by epoch)")
    ap.add_argument('--mode', choices=['region', 'whole'], help="data mode (default: the run's dataMode): a random region of each "
                    "scan, or the whole scan resized to the region")
    ap.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    ap.add_argument('--amp', action='store_true', help='mixed precision (fp16 autocast) on CUDA')
    ap.add_argument('--threads', type=int, help='torch CPU threads per process (default: cores / local processes)')
    ap.add_argument('--pt', action='store_true', help='also write the authors\' checkpoint layout {"global_step", "state_dict"} (.pt)')
    ap.add_argument('--name', default='run', help='checkpoint file name prefix')
    ap.add_argument('--strict-config', action='store_true', help='refuse a run whose configuration has fields this package does not implement')
    return ap.parse_args(argv)


def log(rank, *a):
    if rank == 0:
        print(*a, flush=True)


def weights_hash(model):
    h = hashlib.sha256()
    for _, p in model.named_parameters():
        h.update(p.detach().cpu().numpy().astype(np.float32).tobytes())
    return h.hexdigest()


def main(argv=None):
    args = parse_args(argv)
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    local_world = int(os.environ.get('LOCAL_WORLD_SIZE', str(world)))
    use_cuda = args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available())
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda: torch sees no CUDA device')
    device = torch.device(f'cuda:{local_rank}' if use_cuda else 'cpu')
    if use_cuda:
        torch.cuda.set_device(device)
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local_world))
    backend = 'nccl' if use_cuda else 'gloo'
    if world > 1:
        dist.init_process_group(backend)
    try:
        return run(args, rank, world, device, backend)
    except (ValueError, OSError) as e:
        # Bad input (a file that is not a run, a scan that cannot be read, a data set too small): say what and where.
        print(f'vocostudio.train (rank {rank}): {e}', file=sys.stderr, flush=True)
        return 2
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def run(args, rank, world, device, backend):
    t_start = time.time()
    src = read_run_file(args.run)
    cfg = dict(src.config)
    overrides = {}
    if args.total_steps:
        overrides['totalSteps'] = args.total_steps
    if args.batch_volumes:
        overrides['batchVolumes'] = args.batch_volumes
    cfg.update(overrides)
    n, r = cfg['gridN'], cfg['cropSize']
    unknown = unknown_config_fields(cfg)
    if unknown:
        msg = (f'the run\'s configuration has fields this package does not implement: {", ".join(unknown)} '
               f'(a newer studio made it); ')
        if args.strict_config:
            raise ValueError(msg + 'refusing (--strict-config)')
        log(rank, f'[vocostudio] WARNING: {msg}they are IGNORED on the cluster and recorded in the output\'s meta.cluster')
    scans = read_datalist(args.data, args.data_root) if args.data.endswith('.json') else list_scans(args.data)
    mode = args.mode or cfg.get('dataMode') or 'region'
    if args.mode and args.mode != (cfg.get('dataMode') or 'region'):
        cfg['dataMode'] = overrides['dataMode'] = args.mode
    settings = PreprocessSettings(tuple(cfg['spacing']), tuple(cfg['huWindow']), (n * r, n * r, r), mode=mode)
    cache = VolumeCache(args.cache or os.path.join(args.out, 'cache'), settings)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    prepared = prepare_volumes(scans, cache, rank, world, workers=args.workers)
    paths = [p for p, _ in prepared]
    dims = [d for _, d in prepared]
    log(rank, f'[vocostudio] {len(scans)} scans ready in {time.time() - t0:.1f} s (cache {cache.folder}); '
              f'{world} process(es) × B={cfg["batchVolumes"]} volumes, device {device}, {backend}')
    if len(scans) < 2:
        raise SystemExit('VoCo needs at least 2 volumes')
    fingerprint = hashlib.sha256('\n'.join(os.path.basename(p) for p in paths).encode()).hexdigest()[:16]

    # Where the sampler continues: the cluster's own state (a cluster run resumed on the same data), else the
    # studio's generators; its volume order only when the data are the studio's volumes (same count).
    tr = src.trainer
    cl = src.manifest.get('cluster')
    studio_count = len(src.config['volumeIds'])
    if cl and cl.get('dataFingerprint') == fingerprint and (cl.get('epoch') is not None) == (args.order == 'torch'):
        state = SamplerState(cl['rng'], cl['volumeOrder'], cl['volumeCursor'], cl['dropoutRng'], cl.get('epoch'))
        how = 'the cluster run\'s sampler state'
    elif len(scans) == studio_count:
        state = SamplerState(tr['rng'], tr['volumeOrder'], tr['volumeCursor'], tr['dropoutRng'])
        how = 'the studio\'s sampler state (same number of volumes: the studio\'s volume order continues)'
    else:
        state = SamplerState(tr['rng'], [], 0, tr['dropoutRng'])
        how = f'the studio\'s generators, a fresh epoch over {len(scans)} volumes'
    sampler = StudioSampler(cfg['seed'], n, r, cfg['randomCrops'], cfg['batchVolumes'], len(scans),
                            augment=cfg.get('augment', True) is not False, fixed_batch=bool(cfg.get('fixedBatch')), state=state,
                            order=args.order, world=world)
    if args.order == 'torch':
        how += f"; volume order from torch's DistributedSampler (epoch {sampler.torch_order.epoch})"
    trainer = trainer_from_run(src, device=device, ddp=world > 1, amp=args.amp, config_override=overrides)
    start = trainer.step_index
    log(rank, f'[vocostudio] continuing "{src.meta.get("name", "run")}" at step {start} (schedule {cfg["totalSteps"]} steps, '
              f'lr {cfg["lr"]}, warmup {cfg["warmupSteps"]}) from {how}')
    if start + args.steps > cfg['totalSteps']:
        log(rank, f'[vocostudio] note: steps past {cfg["totalSteps"]} run at the schedule\'s floor (minLr); pass --total-steps to extend it')

    launcher = 'torchrun' if 'TORCHELASTIC_RUN_ID' in os.environ else 'python'
    label = f'cluster: {launcher} ×{world} ({backend}, {device.type}{", amp" if args.amp else ""})'
    marker = None if cl else {'step': start, 'label': label}
    cluster_meta = {'package': f'vocostudio {__version__}', 'torch': torch.__version__, 'worldSize': world, 'backend': backend,
                    'device': device.type, 'amp': bool(args.amp), 'volumes': len(scans), 'data': os.path.abspath(args.data),
                    'dataFingerprint': fingerprint, 'startedAtStep': start, **({'ignoredConfigFields': unknown} if unknown else {})}
    rows, last_state = [], sampler.state()
    loader = make_loader(paths, dims, sampler, r, trainer.preset.patch, rank, world, args.steps, workers=args.workers)

    def save(final):
        same_volumes = len(scans) == studio_count and args.order == 'studio'
        studio_state = last_state if same_volumes else SamplerState(last_state.rng, [], 0, last_state.dropoutRng)
        out = update_run(src, trainer, last_state, rows, marker=marker, cluster=cluster_meta, studio_sampler_state=studio_state,
                         backend=f'torch {torch.__version__} {device.type} ×{world}')
        step = trainer.step_index
        name = os.path.join(args.out, f'{args.name}-step{step}.voco')
        data = out.to_bytes()
        with open(name + '.tmp', 'wb') as f:
            f.write(data)
        os.replace(name + '.tmp', name)
        with open(os.path.join(args.out, 'latest.voco'), 'wb') as f:
            f.write(data)
        if args.pt:
            torch.save({'global_step': step, 'state_dict': {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}},
                       os.path.join(args.out, f'{args.name}-step{step}.pt'))
        return name

    for tokens, info in loader:
        try:
            res = trainer.step_on(tokens, info['labels'], info['rowKeep'], len(info['volumes']), world=world)
        except NonFiniteLossError as e:
            log(rank, f'[vocostudio] {e}')
            if rank == 0 and rows:
                log(rank, f'[vocostudio] last good checkpoint: {save(False)}')
            return 2
        last_state = info['state']
        row = {k: res[k] for k in ('step', 'loss', 'intra', 'inter', 'reg', 'lr', 'stepMs', 'accuracy', 'mae')}
        rows.append(row)
        log(rank, f'step {row["step"]:>6}  loss {row["loss"]:.5f}  intra {row["intra"]:.4f}  inter {row["inter"]:.4f}  '
                  f'reg {row["reg"]:.4f}  lr {row["lr"]:.3g}  {row["stepMs"]:.0f} ms')
        if rank == 0 and args.checkpoint_every and trainer.step_index % args.checkpoint_every == 0 and len(rows) < args.steps:
            save(False)
    digest = weights_hash(trainer.model)
    with open(os.path.join(args.out, f'rank{rank}.json'), 'w') as f:
        json.dump({'rank': rank, 'world': world, 'step': trainer.step_index, 'weightsSha256': digest,
                   'losses': [x['loss'] for x in rows], 'sampler': last_state.to_json()}, f)
    if rank == 0:
        path = save(True)
        log(rank, f'[vocostudio] {len(rows)} steps in {time.time() - t_start:.1f} s; wrote {path} (weights sha256 {digest[:16]})')
    if world > 1:
        dist.barrier()
    return 0


if __name__ == '__main__':
    sys.exit(main())
