"""A run file continued by this package: the studio's .voco with the new weights, AdamW state, step and sampling
state, the cluster's metrics appended to the browser's, and a marker where the run moved."""
import copy
import time

import numpy as np

from . import __version__
from .persist.run_file import METRIC_COLUMNS, RunFile


def update_run(run: RunFile, trainer, sampler_state, rows, marker=None, cluster=None, studio_sampler_state=None, backend=None):
    """A new RunFile (the input is untouched). rows: metric dicts of the steps taken here. marker: {step, label} to
    add. sampler_state: the state the studio should continue from (studio_sampler_state overrides it for the
    manifest's trainer block when the cluster's volume list differs from the studio's)."""
    manifest = copy.deepcopy(run.manifest)
    order = manifest['weightOrder']
    named = dict(trainer.weights_numpy())
    weights = [(n, named[n]) for n in order]
    opt = [(k, v.detach().cpu().numpy().astype(np.float32).reshape(-1)) for k, v in trainer.optimizer.state_tensors().items()]
    step = trainer.step_index
    st = (studio_sampler_state or sampler_state).to_json()
    manifest['trainer'] = {'step': step, 'rng': st['rng'], 'volumeOrder': st['volumeOrder'], 'volumeCursor': st['volumeCursor'],
                           'dropoutRng': st['dropoutRng'], 'optimizerStep': trainer.optimizer.step_count}
    meta = manifest['meta']
    meta['step'] = step
    meta['savedAt'] = int(time.time() * 1000)
    if rows:
        meta['lastLoss'] = rows[-1]['loss']
    if backend:
        meta['backend'] = backend
    if marker is not None:
        markers = list(meta.get('markers', []))
        if not any(m.get('step') == marker['step'] and m.get('label') == marker['label'] for m in markers):
            markers.append(dict(marker))
        meta['markers'] = markers
    if cluster is not None:
        meta['cluster'] = {k: v for k, v in cluster.items() if k != 'sampler'}
        manifest['cluster'] = {'package': f'vocostudio {__version__}', 'dataFingerprint': cluster.get('dataFingerprint'),
                               'volumeCount': cluster.get('volumes'), **sampler_state.to_json()}
    config_doc = copy.deepcopy(run.config_doc)
    config_doc['config'] = dict(trainer.config)
    header = list(run.metrics_header)
    metrics = {h: list(v) for h, v in run.metrics.items()}
    # A resumed run drops the points at or after its first new step (as the studio's history does).
    if rows:
        first = rows[0]['step']
        keep = [i for i, s in enumerate(metrics['step']) if s < first]
        metrics = {h: [v[i] for i in keep] for h, v in metrics.items()}
    for r in rows:
        for h in header:
            metrics[h].append(float(r[h]) if h in r else float('nan'))
    wmeta = dict(run.weights_meta)
    return RunFile(manifest, config_doc, weights, wmeta, opt, {'step': str(trainer.optimizer.step_count)}, header, metrics, archive=run.archive)


__all__ = ['update_run', 'METRIC_COLUMNS']


def new_run(config, name='cluster run', seed=None):
    """A fresh run file (step 0) for a config, with the studio's seeded initial weights: lets a run start on the
    cluster without the studio (the studio imports it like any other)."""
    from .model import PRESETS, VocoModel
    from .persist.run_file import RunFile
    from .sampler import DROPOUT_SEED_XOR
    from .voco.rng import Rng
    preset = PRESETS[config['preset']]
    seed = config['seed'] if seed is None else seed
    model = VocoModel(preset, config['cropSize'], seed=seed)
    weights = [(n, p.detach().numpy().astype(np.float32)) for n, p in model.named_parameters()]
    now = int(time.time() * 1000)
    manifest = {
        'format': 'voco-studio-run', 'version': 1,
        'meta': {'id': f'run-py-{now:x}', 'name': name, 'createdAt': now, 'savedAt': now, 'step': 0, 'volumes': [],
                 'lastLoss': None, 'backend': None, 'origin': 'trained'},
        'preset': preset.to_json(), 'weightOrder': [n for n, _ in weights],
        'trainer': {'step': 0, 'rng': Rng(seed).get_state(), 'volumeOrder': [], 'volumeCursor': 0,
                    'dropoutRng': Rng((seed ^ DROPOUT_SEED_XOR) & 0xFFFFFFFF).get_state(), 'optimizerStep': 0},
    }
    config_doc = {'format': 'voco-studio-run-config', 'version': 1, 'config': dict(config)}
    return RunFile(manifest, config_doc, weights, {'format': 'voco-studio-weights', 'preset': preset.name}, [], {'step': '0'},
                   list(METRIC_COLUMNS), {c: [] for c in METRIC_COLUMNS})
