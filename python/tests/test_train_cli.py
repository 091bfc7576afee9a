"""python -m vocostudio.train end to end in one process on the bundled CTs: a run made by the package itself
(new_run: the studio's seeded init), continued, written as .voco with the history and a marker, read back; bad input
and configuration fields from a newer studio are reported, not ignored silently."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from vocostudio.persist.run_file import read_run_file
from vocostudio.run_io import new_run
from .helpers import ABDOMEN_CT, CHEST_CT, REPO

CONFIG = {'volumeIds': [], 'preset': 'tiny', 'gridN': 2, 'cropSize': 8, 'spacing': [3, 3, 3], 'huWindow': [-175, 250],
          'batchVolumes': 2, 'randomCrops': 2, 'lr': 1e-3, 'warmupSteps': 1, 'totalSteps': 10, 'weightDecay': 0.01,
          'gradClip': 1, 'seed': 3, 'backend': 'cpu', 'checkpointEvery': 0}


def train(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, 'python'), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'vocostudio.train', *args], capture_output=True, text=True, env=env, timeout=300)


class TrainCliTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        with open(os.path.join(self.d, 'data.json'), 'w') as f:
            json.dump({'training': [{'image': ABDOMEN_CT}, {'image': CHEST_CT}]}, f)

    def tearDown(self):
        self.tmp.cleanup()

    def write_run(self, config):
        path = os.path.join(self.d, 'run.voco')
        with open(path, 'wb') as f:
            f.write(new_run(config).to_bytes())
        return path

    def test_trains_and_writes_a_continued_run(self):
        run = self.write_run(CONFIG)
        out = os.path.join(self.d, 'out')
        r = train('--from', run, '--data', os.path.join(self.d, 'data.json'), '--steps', '2', '--out', out, '--workers', '0', '--pt')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        back = read_run_file(os.path.join(out, 'run-step2.voco'))
        self.assertEqual(back.step, 2)
        self.assertEqual(back.trainer['optimizerStep'], 2)
        self.assertEqual(back.metrics['step'], [0.0, 1.0])
        self.assertEqual(back.markers(), [{'step': 0, 'label': 'cluster: python ×1 (gloo, cpu)'}])
        self.assertTrue(os.path.exists(os.path.join(out, 'run-step2.pt')))
        self.assertEqual(len(back.optimizer), 3 * len([n for n, _ in back.weights if not n.startswith('teacher.')]))
        # Continuing the continued run on the same data resumes the cluster's own sampler state.
        r2 = train('--from', os.path.join(out, 'latest.voco'), '--data', os.path.join(self.d, 'data.json'), '--steps', '1', '--out', out, '--workers', '0')
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        self.assertIn("the cluster run's sampler state", r2.stdout)
        again = read_run_file(os.path.join(out, 'run-step3.voco'))
        self.assertEqual(again.metrics['step'], [0.0, 1.0, 2.0])
        self.assertEqual(len(again.markers()), 1)

    def test_unknown_config_fields_are_reported(self):
        run = self.write_run({**CONFIG, 'dataModeFromTheFuture': 'whole'})
        r = train('--from', run, '--data', os.path.join(self.d, 'data.json'), '--steps', '1', '--out', os.path.join(self.d, 'o'), '--workers', '0')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('WARNING', r.stdout)
        self.assertIn('dataModeFromTheFuture', r.stdout)
        r = train('--from', run, '--data', os.path.join(self.d, 'data.json'), '--steps', '1', '--out', os.path.join(self.d, 'o2'), '--strict-config')
        self.assertEqual(r.returncode, 2)
        self.assertIn('dataModeFromTheFuture', r.stderr)

    def test_bad_input_names_the_file(self):
        bad = os.path.join(self.d, 'bad.voco')
        with open(bad, 'wb') as f:
            f.write(b'no zip')
        r = train('--from', bad, '--data', os.path.join(self.d, 'data.json'), '--steps', '1', '--out', os.path.join(self.d, 'o'))
        self.assertEqual(r.returncode, 2)
        self.assertIn('bad.voco is not a VoCo run file', r.stderr)
        run = self.write_run(CONFIG)
        r = train('--from', run, '--data', os.path.join(self.d, 'nowhere'), '--steps', '1', '--out', os.path.join(self.d, 'o'))
        self.assertEqual(r.returncode, 2)
        self.assertIn('nowhere: not a folder', r.stderr)


if __name__ == '__main__':
    unittest.main()
