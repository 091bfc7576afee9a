"""VoCo math against the authors' golden values (test/fixtures/voco-reference.json), AdamW against torch's own
AdamW(amsgrad), the schedule, the crop plan's invariants and the DDP slicing of a global plan."""
import json
import math
import unittest

import numpy as np
import torch

from vocostudio.sampler import StudioSampler, rank_slice
from vocostudio.voco import REFERENCE_AUGMENT, AdamW, Rng, batch_crops, learning_rate, plan_batch, position_labels, voco_losses
from .helpers import VOCO_REFERENCE


class GoldenTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(VOCO_REFERENCE) as f:
            cls.ref = json.load(f)

    def test_position_labels(self):
        cases = self.ref['position_labels']
        self.assertGreater(len(cases), 5)
        for c in cases:
            got = position_labels(c['roi'], c['num_crops'], c['center_x'], c['center_y'])
            np.testing.assert_allclose(got, c['labels'], atol=1e-7)
            self.assertAlmostEqual(float(got.sum()), 1.0, places=5)

    def check_losses(self, dtype, tol):
        self.assertGreater(len(self.ref['losses']), 3)
        for c in self.ref['losses']:
            B, sw, nb = c['batch'], c['sw'], c['bases']
            t = lambda k, g=False: torch.tensor(c[k], dtype=dtype, requires_grad=g)
            xs, bs = t('x_student', True), t('bases_student', True)
            out = voco_losses(xs, bs, t('x_teacher'), t('bases_teacher'), t('labels'), B, sw, nb)
            for k, ref in (('intra', c['intra']), ('inter', c['inter']), ('reg', c['reg']), ('total', c['loss'])):
                self.assertLess(abs(float(out[k]) - ref) / max(abs(ref), 1e-12), tol, msg=k)
            out['total'].backward()
            for got, ref in ((xs.grad, c['grad_x_student']), (bs.grad, c['grad_bases_student'])):
                ref = np.asarray(ref)
                self.assertLess(np.linalg.norm(got.double().numpy() - ref) / np.linalg.norm(ref), tol)

    def test_losses_and_gradients_float64(self):
        self.check_losses(torch.float64, 1e-6)

    def test_losses_and_gradients_float32(self):
        self.check_losses(torch.float32, 1e-4)


class AdamWTests(unittest.TestCase):
    def test_matches_torch_adamw_amsgrad(self):
        torch.manual_seed(0)
        shapes = [(7, 5), (5,), (3, 4, 2)]
        ours = [torch.randn(s) for s in shapes]
        theirs = [p.clone().requires_grad_(True) for p in ours]
        opt = AdamW(ours, weight_decay=0.01, amsgrad=True)
        ref = torch.optim.AdamW(theirs, lr=1e-3, weight_decay=0.01, amsgrad=True)
        for step in range(6):
            lr = 1e-3 * (step + 1) / 6
            for g in ref.param_groups:
                g['lr'] = lr
            grads = [torch.randn(s) * 10 ** (step % 3 - 1) for s in shapes]
            for p, g in zip(theirs, grads):
                p.grad = g.clone()
            ref.step()
            opt.apply(grads, lr)
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=2e-6, atol=1e-7)
        st = ref.state[theirs[0]]
        np.testing.assert_allclose(opt.v_max[0].numpy(), st['max_exp_avg_sq'].numpy(), rtol=1e-6)
        self.assertEqual(opt.step_count, 6)

    def test_clipping_scales_to_the_global_norm(self):
        p = [torch.zeros(4), torch.zeros(3)]
        opt = AdamW(p, weight_decay=0.0, clip_norm=1.0)
        g = [torch.full((4,), 3.0), torch.full((3,), 4.0)]
        norm = opt.apply(g, 0.1)
        self.assertAlmostEqual(float(norm), math.sqrt(4 * 9 + 3 * 16), places=4)
        coef = 1.0 / (float(norm) + 1e-6)
        np.testing.assert_allclose(opt.m[0].numpy(), 0.1 * 3.0 * coef, rtol=1e-5)

    def test_state_round_trip_and_fresh_start(self):
        p = [torch.ones(3)]
        a = AdamW(p, weight_decay=0.01)
        a.apply([torch.tensor([1.0, -2.0, 3.0])], 0.01)
        st = {k: v.numpy().copy() for k, v in a.state_tensors().items()}
        self.assertEqual(sorted(st), ['m.0', 'v.0', 'vMax.0'])
        b = AdamW([torch.ones(3)], weight_decay=0.01)
        b.load_state(1, st)
        np.testing.assert_array_equal(b.v_max[0].numpy(), st['vMax.0'])
        with self.assertRaises(ValueError):
            AdamW([torch.ones(2)], weight_decay=0.01).load_state(1, st)


class ScheduleAndPlanTests(unittest.TestCase):
    def test_schedule(self):
        self.assertEqual(learning_rate(0, 1e-3, 10, 100), 0)
        self.assertAlmostEqual(learning_rate(5, 1e-3, 10, 100), 5e-4)
        self.assertAlmostEqual(learning_rate(10, 1e-3, 10, 100), 1e-3)
        self.assertAlmostEqual(learning_rate(55, 1e-3, 10, 100), 5e-4)
        self.assertAlmostEqual(learning_rate(100, 1e-3, 10, 100, 1e-5), 1e-5)
        self.assertAlmostEqual(learning_rate(500, 1e-3, 10, 100, 1e-5), 1e-5)

    def test_plan_invariants(self):
        rng = Rng(3)
        dims = [(50, 40, 20), (10, 12, 5)]
        plan = plan_batch(rng, dims, [0, 1, 0], 3, 8, 4, REFERENCE_AUGMENT)
        self.assertEqual(len(batch_crops(plan)), 3 * (9 + 4))
        for v in plan.volumes:
            for lab in v.labels:
                self.assertAlmostEqual(float(lab.sum()), 1.0, places=5)
            ox, oy, oz = v.region_origin
            if v.volume == 0:
                self.assertTrue(0 <= ox <= 50 - 24 and 0 <= oy <= 40 - 24 and 0 <= oz <= 20 - 8)
            else:  # smaller than the region: centred (MONAI's symmetric pad)
                self.assertEqual((ox, oy, oz), (-((24 - 10) // 2), -((24 - 12) // 2), -((8 - 5) // 2)))
            for c in v.randoms + v.bases:
                self.assertIn(c.rot90, (0, 1, 2, 3))
                self.assertLessEqual(abs(c.shift), 0.1)
        with self.assertRaises(ValueError):
            plan_batch(rng, dims, [0], 3, 8, 4)

    def test_same_seed_same_plan_and_state_resume(self):
        dims = [(40, 40, 20)] * 5
        a = StudioSampler(9, 2, 8, 2, 2, 5)
        first = [a.next(dims) for _ in range(3)]
        st = a.state()
        nxt = a.next(dims)
        b = StudioSampler(9, 2, 8, 2, 2, 5)
        self.assertEqual([[c.to_json() for c in batch_crops(p)] for p, _ in first], [[c.to_json() for c in batch_crops(p)] for p, _ in (b.next(dims) for _ in range(3))])
        c = StudioSampler(9, 2, 8, 2, 2, 5, state=st)
        again = c.next(dims)
        self.assertEqual([x.to_json() for x in batch_crops(again[0])], [x.to_json() for x in batch_crops(nxt[0])])
        self.assertEqual(again[1], nxt[1])

    def test_rank_slices_cover_the_global_batch(self):
        dims = [(40, 40, 20)] * 6
        s = StudioSampler(1, 2, 8, 3, 2, 6)
        plan, keep = s.next(dims, world=3)
        self.assertEqual(len(plan.volumes), 6)
        parts = [rank_slice(plan, keep, k, 2) for k in range(3)]
        self.assertEqual([v.volume for p, _ in parts for v in p.volumes], [v.volume for v in plan.volumes])
        nb, sw = 4, 3
        for k, (p, rows) in enumerate(parts):
            self.assertEqual(len(rows), 2 * (nb + sw))
            self.assertEqual(rows[:2 * nb], keep[k * 2 * nb:(k + 1) * 2 * nb])
            self.assertEqual(rows[2 * nb:], keep[6 * nb + k * 2 * sw:6 * nb + (k + 1) * 2 * sw])
        # A batch holds no volume twice when there are enough volumes.
        self.assertEqual(len(set(v.volume for v in plan.volumes)), 6)


    def test_distributed_sampler_order(self):
        from torch.utils.data.distributed import DistributedSampler
        dims = [(40, 40, 20)] * 10
        s = StudioSampler(5, 2, 8, 2, 2, 10, order='torch', world=2)
        plans = [s.next(dims, 2)[0] for _ in range(3)]
        # Epoch 0: rank k's volumes are DistributedSampler(rank=k)'s list, B at a time.
        ref = []
        for k in range(2):
            d = DistributedSampler(range(10), num_replicas=2, rank=k, shuffle=True, seed=5, drop_last=True)
            d.set_epoch(0)
            ref.append(list(iter(d)))
        self.assertEqual([v.volume for v in plans[0].volumes], ref[0][0:2] + ref[1][0:2])
        self.assertEqual([v.volume for v in plans[1].volumes], ref[0][2:4] + ref[1][2:4])
        st = s.state()
        self.assertEqual((st.epoch, st.volumeCursor), (1, 1))  # 5 per rank: 2 steps fill epoch 0, step 3 opens epoch 1
        nxt = s.next(dims, 2)[0]
        again = StudioSampler(5, 2, 8, 2, 2, 10, order='torch', world=2, state=st).next(dims, 2)[0]
        self.assertEqual([c.to_json() for c in batch_crops(again)], [c.to_json() for c in batch_crops(nxt)])


if __name__ == '__main__':
    unittest.main()
