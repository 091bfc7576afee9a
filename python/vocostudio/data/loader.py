"""Data loading for DDP training. Preparation: the scans are split over ranks and DataLoader workers, each
preprocessed once into the cache (see cache.py); every rank then knows every volume's dims. Training: the
batch sampler runs in the main process and draws the studio's plans (sampler.py) for the global batch; each
item it yields is one volume's crops, which DataLoader workers cut out of the memory-mapped cache (numpy crop
sampler, the studio's kernel semantics) into patch tokens; the collate puts them in the studio's row order.
Each batch carries the sampler state after it, so a checkpoint saves the state of the last batch TRAINED, not
of the batches prefetched."""
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from ..kernels.crop_sampler import sample_crop_tokens
from ..sampler import rank_slice
from ..voco.crop_plan import plan_labels


class _PrepareDataset(Dataset):
    def __init__(self, scans, indices, cache):
        self.scans, self.indices, self.cache = scans, indices, cache

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        i = self.indices[k]
        try:
            path, dims = self.cache.ensure(self.scans[i])
            return i, path, dims, None
        except Exception as e:  # noqa: BLE001
            return i, None, None, str(e)


def prepare_volumes(scans, cache, rank=0, world=1, workers=0):
    """[(cache path, dims)] for every scan (same list on every rank). Raises naming every scan that failed."""
    mine = list(range(rank, len(scans), world))
    loader = DataLoader(_PrepareDataset(scans, mine, cache), batch_size=None, num_workers=workers, collate_fn=lambda x: x)
    local = [item for item in loader]
    if world > 1:
        gathered = [None] * world
        dist.all_gather_object(gathered, local)
        local = [x for part in gathered for x in part]
    local.sort(key=lambda x: x[0])
    errors = [f'{scans[i]}: {err}' for i, _, _, err in local if err]
    if errors:
        raise ValueError(f'{len(errors)} scan(s) could not be preprocessed:\n  ' + '\n  '.join(errors[:20]))
    return [(p, d) for _, p, d, _ in local]


class CropDataset(Dataset):
    """Item: (volume index, crops) → patch tokens [len(crops), T, p³] from the memory-mapped cached volume."""

    def __init__(self, paths, r, patch):
        self.paths, self.r, self.patch = paths, r, patch
        self._open = {}

    def volume(self, i):
        v = self._open.get(i)
        if v is None:
            if len(self._open) > 64:
                self._open.clear()
            v = self._open[i] = np.load(self.paths[i], mmap_mode='r')
        return v

    def __getitem__(self, item):
        vol_index, crops, extra = item
        vols = {vol_index: self.volume(vol_index)}
        return sample_crop_tokens(vols, crops, self.r, self.patch), extra

    def __len__(self):
        return len(self.paths)


class PlanBatchSampler(Sampler):
    """Yields, per step, this rank's items: one per volume (bases then randoms of that volume), the first one
    carrying the step's labels, dropout rows and the sampler state after the step."""

    def __init__(self, sampler, dims, rank, world, steps):
        self.sampler, self.dims, self.rank, self.world, self.steps = sampler, dims, rank, world, steps

    def __len__(self):
        return self.steps

    def __iter__(self):
        bv = self.sampler.batch_volumes
        for _ in range(self.steps):
            plan, keep = self.sampler.next(self.dims, self.world)
            sub, rows = rank_slice(plan, keep, self.rank, bv)
            info = {'labels': plan_labels(sub), 'rowKeep': rows, 'state': self.sampler.state(), 'volumes': [v.volume for v in sub.volumes],
                    'regionOrigins': [v.region_origin for v in sub.volumes]}
            items = []
            for k, v in enumerate(sub.volumes):
                items.append((v.volume, list(v.bases) + list(v.randoms), info if k == 0 else None))
            yield items


def collate(batch):
    """[(tokens [nb+sw, T, p³], info)] per volume → tokens in the studio's order (all bases, then all randoms)."""
    info = batch[0][1]
    nb = len(batch[0][0]) - len(info['labels'][0])
    bases = [t[:nb] for t, _ in batch]
    randoms = [t[nb:] for t, _ in batch]
    tokens = torch.from_numpy(np.concatenate(bases + randoms, 0))
    return tokens, info


def make_loader(paths, dims, sampler, r, patch, rank, world, steps, workers=2, prefetch=2):
    ds = CropDataset(paths, r, patch)
    bs = PlanBatchSampler(sampler, dims, rank, world, steps)
    kw = {'prefetch_factor': prefetch, 'persistent_workers': False} if workers > 0 else {}
    return DataLoader(ds, batch_sampler=bs, num_workers=workers, collate_fn=collate, pin_memory=torch.cuda.is_available(), **kw)
