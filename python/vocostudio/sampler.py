"""The studio's sampling state (src/worker/trainer.ts: nextVolumeIndices, nextPlan, nextDropoutRows), generalised
to DDP: every rank holds the same generators and draws the GLOBAL batch of world·B volumes in the studio's order;
rank k trains volumes [k·B, (k+1)·B) with their dropout rows. With one process this is exactly the studio's stream,
so a run continues where the browser stopped."""
from dataclasses import dataclass
from typing import List

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

    def to_json(self):
        return {'rng': list(self.rng), 'volumeOrder': list(self.volumeOrder), 'volumeCursor': self.volumeCursor,
                'dropoutRng': list(self.dropoutRng)}


class StudioSampler:
    def __init__(self, seed, n, r, sw, batch_volumes, volume_count, augment=True, fixed_batch=False, state=None):
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

    def state(self):
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
            plan = plan_batch(self.rng, dims, self.next_volume_indices(g), self.n, self.r, self.sw, self.augment)
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
