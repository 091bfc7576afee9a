"""Presets against src/model/presets.ts, the model's names and parameter counts, the crop sampler against a literal
flip-then-rot90 reference, safetensors (the float16 Swin fixture too), JS-exact JSON/number text, and .voco files
written and read back byte for byte."""
import math
import os
import re
import unittest

import numpy as np
import torch

from vocostudio.kernels.crop_sampler import sample_crop, sample_crop_tokens
from vocostudio.model import PRESETS, VocoModel, param_count
from vocostudio.persist import jsjson
from vocostudio.persist.run_file import RunFile, RunFileError
from vocostudio.persist.safetensors import read_safetensors, write_safetensors
from vocostudio.persist.zipio import ZipEntry, read_zip, write_zip
from vocostudio.voco.crop_plan import CropSpec
from .helpers import REPO, VOCO_SWIN_FIXTURE


class PresetTests(unittest.TestCase):
    def test_presets_match_the_studio(self):
        text = open(os.path.join(REPO, 'src', 'model', 'presets.ts'), encoding='utf-8').read()
        body = text[text.index('export const PRESETS'):]
        found = {}
        for m in re.finditer(r"(\w+):\s*\{([^{}]*)\}", body):
            f = m.group(2)
            name = re.search(r"name:\s*'([^']+)'", f)
            if not name:
                continue
            num = lambda k: float(re.search(rf"\b{k}:\s*([\d.]+)", f).group(1))
            stages = [int(x) for x in re.search(r"stageEnds:\s*\[([^\]]*)\]", f).group(1).split(',') if x.strip()]
            found[name.group(1)] = (num('patch'), num('dim'), num('depth'), num('heads'), num('mlpRatio'), stages, num('headHidden'), num('headOut'))
        self.assertEqual(sorted(found), sorted(PRESETS))
        for k, p in PRESETS.items():
            self.assertEqual(found[k], (p.patch, p.dim, p.depth, p.heads, p.mlpRatio, p.stageEnds, p.headHidden, p.headOut), k)

    def test_names_shapes_and_counts(self):
        m = VocoModel(PRESETS['S'], 32, seed=None)
        names = m.weight_names()
        self.assertEqual(names[:4], ['encoder.patch_embed.weight', 'encoder.patch_embed.bias', 'encoder.blocks.0.norm1.weight', 'encoder.blocks.0.norm1.bias'])
        self.assertIn('student.6.weight', names)
        self.assertEqual(names[-1], 'teacher.6.bias')
        pc = param_count(PRESETS['S'])
        enc = sum(p.numel() for n, p in m.named_parameters() if n.startswith('encoder.'))
        stu = sum(p.numel() for n, p in m.named_parameters() if n.startswith('student.'))
        self.assertEqual((enc, stu), (pc['encoder'], pc['head']))
        self.assertEqual((round(pc['encoder'] / 1e6, 2), round(pc['head'] / 1e6, 2)), (0.86, 2.76))  # the README's table
        self.assertTrue(all(not p.requires_grad for p in m.teacher.parameters()))
        self.assertEqual(len(m.trainable()), len([n for n in names if not n.startswith('teacher.')]))

    def test_forward_shapes_and_dropout_rows(self):
        m = VocoModel(PRESETS['tiny'], 8, seed=3)
        tokens = torch.rand(6, 8, 64)
        s, t = m(tokens, [True, False, True, True, False, True])
        self.assertEqual(tuple(s.shape), (6, 64))
        self.assertFalse(t.requires_grad)
        # Two dropped rows give the same student projection (whole rows are zeroed).
        torch.testing.assert_close(s[1], s[4])
        emb = m.encoder(tokens)
        self.assertEqual(tuple(emb.shape), (6, 3 * 32))
        torch.testing.assert_close(m.encoder.forward_tokens(tokens).mean(1), emb, rtol=1e-5, atol=1e-6)


class CropSamplerTests(unittest.TestCase):
    def test_against_literal_flip_then_rot90(self):
        rng = np.random.default_rng(0)
        vol = rng.random((9, 11, 13), dtype=np.float32)  # [z, y, x]
        r = 4
        for k in range(4):
            for flips in [(False, False, False), (True, False, True), (False, True, False), (True, True, True)]:
                for origin in [(2, 3, 1), (-2, 9, 7), (10, -1, 3)]:
                    c = CropSpec(0, origin, flips, k, 0.25)
                    # Literal: C0 in [x, y, z] order, flips, rot90 in the x-y plane, shift.
                    c0 = np.zeros((r, r, r), np.float32)
                    for x in range(r):
                        for y in range(r):
                            for z in range(r):
                                sx, sy, sz = origin[0] + x, origin[1] + y, origin[2] + z
                                if 0 <= sx < 13 and 0 <= sy < 11 and 0 <= sz < 9:
                                    c0[x, y, z] = vol[sz, sy, sx]
                    for a in range(3):
                        if flips[a]:
                            c0 = np.flip(c0, a)
                    c2 = np.rot90(c0, k, axes=(0, 1)) + np.float32(0.25)
                    got = sample_crop(vol, c, r)  # [z, y, x]
                    np.testing.assert_array_equal(got, np.transpose(c2, (2, 1, 0)))

    def test_patch_token_layout(self):
        vol = np.arange(8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8)
        t = sample_crop_tokens([vol], [CropSpec(0, (0, 0, 0))], 8, 4)[0]
        # token (tx, ty, tz) = (1, 0, 1), voxel (dx, dy, dz) = (2, 3, 1)
        tok, k = (1 * 2 + 0) * 2 + 1, (1 * 4 + 3) * 4 + 2
        self.assertEqual(t[tok, k], vol[4 + 1, 0 + 3, 4 + 2])


class SafetensorsTests(unittest.TestCase):
    def test_round_trip_bits_and_layout(self):
        a = np.array([1.5, -0.0, np.inf, np.nan], np.float32)
        a.view(np.uint32)[3] = 0x7FC01234
        b = np.arange(6, dtype=np.float32).reshape(2, 3)
        data = write_safetensors([('w', a), ('10', b)], {'format': 'x'})
        n = int.from_bytes(data[:8], 'little')
        self.assertEqual((8 + n) % 8, 0)
        header = data[8:8 + n].decode()
        # A JS object lists integer-like keys first: the studio's header order.
        self.assertLess(header.index('"10"'), header.index('"__metadata__"'))
        t, meta = read_safetensors(data)
        self.assertEqual(meta, {'format': 'x'})
        self.assertEqual(t['w'].tobytes(), a.tobytes())
        np.testing.assert_array_equal(t['10'], b)
        self.assertEqual(write_safetensors([('w', t['w']), ('10', t['10'])], meta), data)

    def test_refuses_damage(self):
        data = bytearray(write_safetensors([('w', np.zeros(4, np.float32))]))
        with self.assertRaisesRegex(ValueError, 'trailing bytes'):
            read_safetensors(bytes(data) + b'\0\0\0\0', 'x.safetensors')
        with self.assertRaisesRegex(ValueError, 'x.safetensors: too short'):
            read_safetensors(b'abc', 'x.safetensors')

    def test_reads_the_authors_float16_swin_weights(self):
        t, _ = read_safetensors(open(os.path.join(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'), 'rb').read())
        w = t['backbone.swinViT.patch_embed.proj.weight']
        self.assertEqual((w.dtype, w.shape), (np.dtype('<f2'), (12, 1, 2, 2, 2)))
        self.assertTrue(np.isfinite(w.astype(np.float32)).all())
        self.assertIn('student.layer1.0.weight', t)


class JsTextTests(unittest.TestCase):
    def test_numbers_as_javascript_writes_them(self):
        cases = {1e-4: '0.0001', 1e-7: '1e-7', 1.5e21: '1.5e+21', 1e21: '1e+21', 123.456: '123.456', 0.1 + 0.2: '0.30000000000000004',
                 100.0: '100', -0.0: '0', 2.5e-6: '0.0000025', 1e-6: '0.000001', 3: '3', -1.25e-9: '-1.25e-9', 5e-324: '5e-324',
                 float('nan'): 'NaN', float('-inf'): '-Infinity', 1e20: '100000000000000000000', 123456789.125: '123456789.125'}
        for v, s in cases.items():
            self.assertEqual(jsjson.js_number(v), s, repr(v))

    def test_stringify_with_indent(self):
        doc = {'a': [1, 2.5, {'b': []}], 'c': {}, 'd': 'é"\n', 'e': None, 'f': True, 'g': [[]]}
        self.assertEqual(jsjson.stringify(doc, 2), '{\n  "a": [\n    1,\n    2.5,\n    {\n      "b": []\n    }\n  ],\n  "c": {},\n  "d": "é\\"\\n",\n  "e": null,\n  "f": true,\n  "g": [\n    []\n  ]\n}')
        self.assertEqual(jsjson.stringify([float('nan'), 1e-7]), '[null,1e-7]')


def make_run():
    """A .voco as this package writes one (studio-written files are checked by test/python-parity.test.ts)."""
    manifest = {'format': 'voco-studio-run', 'version': 1, 'meta': {'id': 'r', 'name': 'n', 'createdAt': 1, 'savedAt': 2, 'step': 3,
                'volumes': [], 'lastLoss': 0.5, 'backend': 'cpu', 'origin': 'trained'},
                'preset': PRESETS['tiny'].to_json(), 'weightOrder': ['b', 'a'],
                'trainer': {'step': 3, 'rng': [1, 2, 3, 4], 'volumeOrder': [], 'volumeCursor': 0, 'dropoutRng': [5, 6, 7, 8], 'optimizerStep': 3}}
    config = {'format': 'voco-studio-run-config', 'version': 1, 'config': {'volumeIds': [], 'preset': 'tiny', 'lr': 1e-4}}
    w = [('b', np.float32([1, 2, 3])), ('a', np.float32([[0.1]]))]
    opt = [('m.0', np.float32([0.5, 0.25]))]
    cols = {'step': [0.0, 1.0, 2.0], 'loss': [1.0, float('nan'), 1e-9]}
    header = ['step', 'loss', 'intra', 'inter', 'reg', 'lr', 'stepMs', 'accuracy', 'mae']
    for h in header[2:]:
        cols[h] = [0.1, 0.2, 1 / 3]
    return RunFile(manifest, config, w, {'format': 'voco-studio-weights', 'preset': 'tiny'}, opt, {'step': '3'}, header, cols)


class RunFileTests(unittest.TestCase):
    def test_write_read_write_is_byte_exact(self):
        data = make_run().to_bytes(mtime=1_700_000_000)
        back = RunFile.from_bytes(data, 'x.voco')
        self.assertEqual([n for n, _ in back.weights], ['b', 'a'])
        self.assertTrue(math.isnan(back.metrics['loss'][1]))
        self.assertEqual(back.metrics['loss'][2], 1e-9)
        self.assertEqual(back.to_bytes(), data)
        # A changed entry is rewritten, the others keep their records.
        back.manifest['meta']['name'] = 'changed'
        again = RunFile.from_bytes(back.to_bytes(), 'y.voco')
        self.assertEqual(again.meta['name'], 'changed')
        self.assertEqual(again.weight_dict()['a'].tobytes(), np.float32([[0.1]]).tobytes())

    def test_refuses_non_runs_with_the_file_name(self):
        with self.assertRaisesRegex(RunFileError, 'bad.voco is not a VoCo run file'):
            RunFile.from_bytes(b'not a zip', 'bad.voco')
        z = write_zip([ZipEntry('other.txt', b'x')])
        with self.assertRaisesRegex(RunFileError, 'no voco-run.json'):
            RunFile.from_bytes(z, 'z.voco')

    def test_zip_reader_checks_crc(self):
        z = bytearray(write_zip([ZipEntry('a.txt', b'hello world', compress=False)]))
        i = z.index(b'hello')
        z[i] = ord('j')
        with self.assertRaisesRegex(ValueError, 'a.txt is damaged'):
            read_zip(bytes(z))


if __name__ == '__main__':
    unittest.main()
