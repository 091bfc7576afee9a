"""Preprocessing (grid sizes, window, foreground crop, pad, RAS), scan discovery, the datalist format, the cache,
and the DataLoader path (workers cut the same tokens as the direct sampler, in the studio's row order)."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from vocostudio.data.cache import VolumeCache
from vocostudio.data.loader import make_loader, prepare_volumes
from vocostudio.data.sources import list_scans, read_datalist, write_datalist
from vocostudio.kernels.crop_sampler import sample_crop_tokens
from vocostudio.preprocess.preprocess import PreprocessSettings, permute_flip, preprocess_array, ras_axis_mapping, resample_grid
from vocostudio.sampler import StudioSampler, rank_slice
from vocostudio.voco.crop_plan import batch_crops
from .helpers import ABDOMEN_CT, CHEST_CT, DATA


class PreprocessTests(unittest.TestCase):
    def test_grid_size_is_round_extent_over_spacing(self):
        self.assertEqual(resample_grid([122, 101, 112], [3, 3, 3], [1.5, 1.5, 1.5])[0], [244, 202, 224])
        self.assertEqual(resample_grid([512, 512, 300], [0.7, 0.7, 1.0], [3, 3, 3])[0], [119, 119, 100])

    def test_ras_mapping_permutes_and_flips(self):
        aff = np.array([[0, 0, -2, 10], [-1, 0, 0, 5], [0, 3, 0, 0], [0, 0, 0, 1]], float)
        fa, fl = ras_axis_mapping(aff)
        self.assertEqual((fa, fl), ([2, 0, 1], [True, True, False]))
        data = np.arange(2 * 3 * 4).reshape(4, 3, 2)  # [z, y, x] with dims x=2, y=3, z=4
        out = permute_flip(data, (fa, fl))
        # output x runs along source z reversed: out[.., .., x] = data[nz-1-x, .., ..]
        self.assertEqual(out.shape, (3, 2, 4))
        self.assertEqual(out[0, 0, 0], data[3, 0, 1])

    def test_window_foreground_and_pad(self):
        data = np.full((20, 30, 40), -1000.0, np.float32)
        data[5:15, 10:20, 8:28] = 100.0
        data[6, 11, 9] = np.nan
        out = preprocess_array(data, np.diag([1.0, 1.0, 1.0, 1.0]), PreprocessSettings((1, 1, 1), (-175, 250), (32, 16, 4)))
        self.assertEqual(out.shape, (10, 16, 32))  # foreground 20×10×10, x padded to 32, y to 16
        self.assertEqual(out.dtype, np.float32)
        self.assertAlmostEqual(float(out.max()), (100 + 175) / 425, places=6)
        self.assertEqual(float(out.min()), 0.0)
        self.assertFalse(np.isnan(out).any())
        with self.assertRaisesRegex(ValueError, 'Preprocessing "empty" failed: no voxel above 0'):
            preprocess_array(np.full((4, 4, 4), -1000.0), np.eye(4), PreprocessSettings(), name='empty')

    def test_whole_volume_mode_fills_the_region(self):
        data = np.full((20, 30, 40), -1000.0, np.float32)
        data[2:18, 3:27, 4:36] = 0.0
        out = preprocess_array(data, np.eye(4), PreprocessSettings((1, 1, 1), (-175, 250), (24, 24, 8), mode='whole'))
        self.assertEqual(out.shape, (8, 24, 24))
        self.assertGreater(float(out.min()), 0.0)

    def test_resize_is_torch_trilinear_align_corners_false(self):
        import torch
        from vocostudio.preprocess.preprocess import resize_trilinear
        x = np.random.default_rng(1).random((7, 9, 11)).astype(np.float32)  # [z, y, x]
        got = resize_trilinear(x, (6, 13, 4))  # [x, y, z] sizes
        ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None, None].double(), size=(4, 13, 6), mode='trilinear', align_corners=False)
        np.testing.assert_allclose(got, ref[0, 0].numpy(), atol=1e-6)


class SourceAndCacheTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_folder_and_datalist(self):
        scans = list_scans(os.path.join(DATA, 'ct-abdomen-totalseg'))
        self.assertEqual([os.path.basename(s) for s in scans], ['example_ct.nii.gz', 'example_ct_sm.nii.gz'])
        dl = os.path.join(self.tmp, 'datalist.json')
        write_datalist([ABDOMEN_CT, CHEST_CT], dl)
        with open(dl) as f:
            doc = json.load(f)
        self.assertFalse(os.path.isabs(doc['training'][0]['image']))
        self.assertEqual(read_datalist(dl), [os.path.join(self.tmp, x['image']) for x in doc['training']])
        with open(dl, 'w') as f:
            json.dump({'training': [{'image': 'nope.nii.gz'}]}, f)
        with self.assertRaisesRegex(ValueError, 'do not exist'):
            read_datalist(dl)
        with self.assertRaisesRegex(ValueError, 'not a folder'):
            list_scans(os.path.join(self.tmp, 'missing'))

    def test_cache_keys_and_loader(self):
        s = PreprocessSettings((3, 3, 3), (-175, 250), (16, 16, 8))
        cache = VolumeCache(os.path.join(self.tmp, 'cache'), s)
        prepared = prepare_volumes([ABDOMEN_CT, CHEST_CT], cache, workers=0)
        self.assertEqual(len(os.listdir(cache.folder)), 2)
        again = prepare_volumes([ABDOMEN_CT, CHEST_CT], cache, workers=0)
        self.assertEqual(prepared, again)
        other = VolumeCache(os.path.join(self.tmp, 'cache'), PreprocessSettings((2, 2, 2), (-175, 250), (16, 16, 8)))
        self.assertNotEqual(other.path_for(ABDOMEN_CT), cache.path_for(ABDOMEN_CT))
        paths = [p for p, _ in prepared]
        dims = [d for _, d in prepared]
        vols = [np.load(p) for p in paths]
        # Through DataLoader workers vs. directly, for the same sampler stream (rank 1 of 2).
        a = StudioSampler(4, 2, 8, 2, 2, 2)
        b = StudioSampler(4, 2, 8, 2, 2, 2)
        loader = make_loader(paths, dims, a, 8, 4, rank=1, world=2, steps=2, workers=1)
        for tokens, info in loader:
            plan, keep = b.next(dims, 2)
            sub, rows = rank_slice(plan, keep, 1, 2)
            np.testing.assert_array_equal(tokens.numpy(), sample_crop_tokens(vols, batch_crops(sub), 8, 4))
            self.assertEqual(info['rowKeep'], rows)
            self.assertEqual(info['state'].to_json(), b.state().to_json())


if __name__ == '__main__':
    unittest.main()
