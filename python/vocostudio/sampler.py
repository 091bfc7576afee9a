"""The studio's sampling state (src/worker/trainer.ts: nextVolumeIndices, nextPlan, nextDropoutRows), generalised
to DDP: every rank holds the same generators and draws the GLOBAL batch of world·B volumes in the studio's order;
rank k trains volumes [k·B, (k+1)·B) with their dropout rows. With one process this is exactly the studio's stream,
so a run continues where the browser stopped."""
from dataclasses import dataclass
from typing import List, Optional

from .model.heads import STUDENT_DROPOUT
from .voco.crop_plan import REFERENCE_AUGMENT, BatchPlan, plan_batch
from .voco.rng import Rng

DROPOUT_SEED_XOR = 0x0D0D0D0D


def shuffled(count, rng):
    a = list(range(count))
    for i in range(count - 1, 0, -1):
        j = rng.int(0, i + 1)
        a[i], a[j] = a[j], a[i]
    return a


@dataclass
class SamplerState:
    rng: List[int]
    volumeOrder: List[int]
    volumeCursor: int
    dropoutRng: List[int]
    # --order torch: the DistributedSampler epoch (volumeCursor then counts steps within it).
    epoch: Optional[int] = None

    def to_json(self):
        d = {'rng': list(self.rng), 'volumeOrder': list(self.volumeOrder), 'volumeCursor': self.volumeCursor,
             'dropoutRng': list(self.dropoutRng)}
        if self.epoch is not None:
            d['epoch'] = self.epoch
        return d


class TorchOrder:
    """The authors' volume order: torch's DistributedSampler (shuffle, seed, drop_last), one per rank, epoch by epoch.
    Every rank builds all ranks' samplers (they are deterministic), so the global batch is known everywhere:
    step s of an epoch takes B indices from each rank's list, rank-major."""

    def __init__(self, volume_count, world, batch_volumes, seed, epoch=0, cursor=0):
        from torch.utils.data.distributed import DistributedSampler
        self.world, self.b, self.epoch, self.cursor = world, batch_volumes, epoch, cursor
        self.samplers = [DistributedSampler(range(volume_count), num_replicas=world, rank=k, shuffle=True, seed=seed, drop_last=True)
                         for k in range(world)]
        if len(self.samplers[0]) < batch_volumes:
            raise ValueError(f'{volume_count} volumes give each of {world} processes fewer than B = {batch_volumes} per epoch')
        self._lists = None

    def _epoch_lists(self):
        if self._lists is None:
            for s in self.samplers:
                s.set_epoch(self.epoch)
            self._lists = [list(iter(s)) for s in self.samplers]
        return self._lists

    def next(self):
        lists = self._epoch_lists()
        if (self.cursor + 1) * self.b > len(lists[0]):
            self.epoch, self.cursor, self._lists = self.epoch + 1, 0, None
            lists = self._epoch_lists()
        lo = self.cursor * self.b
        self.cursor += 1
        return [i for part in lists for i in part[lo:lo + self.b]]


class StudioSampler:
    def __init__(self, seed, n, r, sw, batch_volumes, volume_count, augment=True, fixed_batch=False, state=None, order='studio', world=1):
        self.seed, self.n, self.r, self.sw = seed, n, r, sw
        self.batch_volumes, self.volume_count = batch_volumes, volume_count
        self.augment = REFERENCE_AUGMENT if augment else None
        self.fixed_batch = fixed_batch
        if state is None:
            self.rng = Rng(seed)
            self.dropout_rng = Rng((seed ^ DROPOUT_SEED_XOR) & 0xFFFFFFFF)
            self.volume_order, self.volume_cursor = [], 0
        else:
            self.rng = Rng.from_state(list(state.rng))
            self.dropout_rng = Rng.from_state(list(state.dropoutRng))
            if any(not (0 <= v < volume_count) for v in state.volumeOrder):
                raise ValueError(f'volume order {state.volumeOrder} does not fit {volume_count} volumes')
            self.volume_order, self.volume_cursor = list(state.volumeOrder), int(state.volumeCursor)
        self.torch_order = None
        if order == 'torch':
            epoch = state.epoch if state is not None and state.epoch is not None else 0
            cursor = self.volume_cursor if state is not None and state.epoch is not None else 0
            self.torch_order = TorchOrder(volume_count, world, batch_volumes, seed, epoch, cursor)
        elif order != 'studio':
            raise ValueError(f"order must be 'studio' or 'torch', got {order!r}")

    def state(self):
        if self.torch_order is not None:
            t = self.torch_order
            return SamplerState(self.rng.get_state(), [], t.cursor, self.dropout_rng.get_state(), epoch=t.epoch)
        return SamplerState(self.rng.get_state(), list(self.volume_order), self.volume_cursor, self.dropout_rng.get_state())

    def next_volume_indices(self, count):
        V, picked = self.volume_count, []
        while len(picked) < count:
            if self.volume_cursor >= len(self.volume_order):
                self.volume_order = shuffled(V, self.rng)
                self.volume_cursor = 0
            at = self.volume_cursor
            if V >= count and self.volume_order[at] in picked:
                k = at + 1
                while k < V and self.volume_order[k] in picked:
                    k += 1
                if k < V:
                    self.volume_order[at], self.volume_order[k] = self.volume_order[k], self.volume_order[at]
            picked.append(self.volume_order[at])
            self.volume_cursor = at + 1
        return picked

    def next(self, dims, world=1):
        """The global plan for world·B volumes and its dropout rows (bases of all volumes, then randoms)."""
        g = self.batch_volumes * world
        if self.fixed_batch:
            idx = [i % self.volume_count for i in range(g)]
            plan = plan_batch(Rng(self.seed), dims, idx, self.n, self.r, self.sw, self.augment)
            drop = Rng((self.seed ^ DROPOUT_SEED_XOR) & 0xFFFFFFFF)
        else:
            if self.torch_order is not None:
                if self.torch_order.world != world:
                    raise ValueError(f'the DistributedSampler order was built for {self.torch_order.world} processes, not {world}')
                idx = self.torch_order.next()
            else:
                idx = self.next_volume_indices(g)
            plan = plan_batch(self.rng, dims, idx, self.n, self.r, self.sw, self.augment)
            drop = self.dropout_rng
        rows = g * (self.n * self.n + self.sw)
        keep = [not drop.bool(STUDENT_DROPOUT) for _ in range(rows)]
        return plan, keep


def rank_slice(plan: BatchPlan, keep, rank, batch_volumes):
    """Rank `rank`'s part of a global plan: its B volumes and their dropout rows, in the studio's row order."""
    g = len(plan.volumes)
    nb = plan.n * plan.n
    lo, hi = rank * batch_volumes, (rank + 1) * batch_volumes
    sub = BatchPlan(plan.n, plan.r, plan.sw, plan.volumes[lo:hi])
    rows = keep[lo * nb:hi * nb] + keep[g * nb + lo * plan.sw:g * nb + hi * plan.sw]
    return sub, rows
