"""The authors' reference encoder (SwinViT v2 + UNETR encoder blocks + projection heads, MONAI-free) against
test/fixtures/voco-swin (made with their classes on MONAI 1.3.2): state_dict keys exactly as VoCoHead's (also at
VoCo-B's size), every stage output, the embedding, both heads and the gradients of seven weights; the authors'
DDP checkpoint layout is read and written."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from vocostudio.model.swin import VoCoHead, load_authors_state, save_authors_checkpoint
from vocostudio.persist.safetensors import read_safetensors
from .helpers import VOCO_SWIN_FIXTURE


def rel(a, b):
    b = torch.as_tensor(np.array(b, dtype=np.float32))
    return float((a.detach().float() - b).norm() / b.norm())


class SwinFixtureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(max(1, (os.cpu_count() or 1)))
        with open(os.path.join(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'), 'rb') as f:
            cls.weights, _ = read_safetensors(f.read())
        with open(os.path.join(VOCO_SWIN_FIXTURE, 'swin-fs12-io.safetensors'), 'rb') as f:
            cls.io, _ = read_safetensors(f.read())
        with open(os.path.join(VOCO_SWIN_FIXTURE, 'swin-fs12.json')) as f:
            cls.meta = json.load(f)
        cfg = cls.meta['config']
        torch.manual_seed(0)
        cls.model = VoCoHead(feature_size=cfg['feature_size'], head_width=cfg['head_width'])
        load_authors_state(cls.model, {k: torch.from_numpy(np.array(v)) for k, v in cls.weights.items()})
        cls.model.train()
        x = torch.from_numpy(np.array(cls.io['input'], dtype=np.float32))
        cls.hidden, cls.encs = cls.model.backbone.encodings(x)
        cls.embedding = torch.cat([e.mean(dim=(2, 3, 4)) for e in cls.encs], 1)
        w = torch.from_numpy(np.array(cls.io['grad.weights'], dtype=np.float32))
        (cls.embedding * w).sum().backward()

    def test_keys_are_the_authors(self):
        own = self.model.state_dict()
        self.assertEqual(sorted(own), sorted(self.meta['weights']))
        for k, shape in self.meta['weights'].items():
            self.assertEqual(list(own[k].shape), shape, k)
        with open(os.path.join(VOCO_SWIN_FIXTURE, 'voco-b-keys.json')) as f:
            b = json.load(f)
        entries = b['keys'] if isinstance(b, dict) and 'keys' in b else b
        keys = {e['key'] if isinstance(e, dict) else e: e for e in entries} if isinstance(entries, list) else entries
        big = VoCoHead(feature_size=48, head_width=1024).state_dict()
        self.assertEqual(sorted(big), sorted(keys))
        for k, (dtype, shape) in keys.items():
            self.assertEqual((str(big[k].dtype).replace('torch.', ''), list(big[k].shape)), (dtype, shape), k)

    def test_stage_outputs_embedding_and_heads(self):
        io = self.io
        checks = [('swin.hidden0', self.hidden[0][:, :, ::2, ::2, ::2]), ('enc0', self.encs[0][:, :, ::4, ::4, ::4]),
                  ('enc1', self.encs[1][:, :, ::2, ::2, ::2])]
        checks += [(f'swin.hidden{i}', self.hidden[i]) for i in range(1, 5)]
        checks += [('enc2', self.encs[2]), ('enc3', self.encs[3]), ('enc4', self.encs[4]), ('embedding', self.embedding)]
        checks += [(f'enc{i}.pooled', self.encs[i].mean(dim=(2, 3, 4))) for i in range(5)]
        for name, got in checks:
            self.assertEqual(list(got.shape), list(io[name].shape), name)
            self.assertLess(rel(got, io[name]), 1e-5, name)
        with torch.no_grad():
            e = self.embedding.detach()
            # BatchNorm over two rows amplifies float differences; 1e-4 as the studio's parity bound.
            self.assertLess(rel(self.model.student(e), io['student']), 1e-4)
            self.assertLess(rel(self.model.teacher(e), io['teacher']), 1e-4)

    def test_gradients_of_seven_weights(self):
        params = dict(self.model.named_parameters())
        names = [k[len('grad.'):] for k in self.io if k.startswith('grad.') and k != 'grad.weights']
        self.assertEqual(len(names), 7)
        for n in names:
            self.assertLess(rel(params[n].grad, self.io[f'grad.{n}']), 1e-4, n)

    def test_authors_checkpoint_layout(self):
        sub = torch.load(os.path.join(VOCO_SWIN_FIXTURE, 'swin-fs12-subset.pt'), map_location='cpu')
        self.assertEqual(sub['global_step'], 7)
        own = self.model.state_dict()
        for k, v in sub['state_dict'].items():
            self.assertTrue(k.startswith('module.'), k)
            self.assertIn(k[len('module.'):], own)
            self.assertEqual(tuple(v.shape), tuple(own[k[len('module.'):]].shape), k)
            if k.endswith('relative_position_index'):
                self.assertTrue(torch.equal(v, own[k[len('module.'):]]), k)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'model.pt')
            save_authors_checkpoint(self.model, 123, path, ddp_prefix=True)
            ck = torch.load(path, map_location='cpu')
            self.assertEqual(ck['global_step'], 123)
            fresh = VoCoHead(feature_size=12, head_width=128)
            load_authors_state(fresh, ck)
            for k, v in fresh.state_dict().items():
                self.assertTrue(torch.equal(v, own[k]), k)


if __name__ == '__main__':
    unittest.main()
