"""Driven by test/python-parity.test.ts: takes a studio run (.voco) and the run's preprocessed volumes, and
  1. rewrites the .voco through the package (roundtrip.voco: must equal the input byte for byte);
  2. initialises a fresh model with the run's preset and seed (init.safetensors: the studio's seeded init);
  3. draws the next batch from the run's sampling state (plan.json: crops, dropout rows, lr);
  4. takes ONE training step on it (result.safetensors: loss terms, intra logits, gradients, updated weights and
     optimizer state) and writes the continued run as after.voco.
Usage: /usr/bin/python3 python/tests/parity_step.py DIR"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from vocostudio.kernels.crop_sampler import sample_crop_tokens  # noqa: E402
from vocostudio.model import VocoModel, preset_from_json  # noqa: E402
from vocostudio.persist.run_file import RunFile  # noqa: E402
from vocostudio.persist.safetensors import read_safetensors, write_safetensors  # noqa: E402
from vocostudio.run_io import update_run  # noqa: E402
from vocostudio.sampler import SamplerState, StudioSampler  # noqa: E402
from vocostudio.trainer import trainer_from_run  # noqa: E402
from vocostudio.voco.crop_plan import batch_crops, plan_labels  # noqa: E402


def main(d):
    torch.set_num_threads(1)
    src = open(os.path.join(d, 'run.voco'), 'rb').read()
    run = RunFile.from_bytes(src, 'run.voco')
    open(os.path.join(d, 'roundtrip.voco'), 'wb').write(run.to_bytes())

    preset = preset_from_json(run.manifest['preset'])
    fresh = VocoModel(preset, run.config['cropSize'], seed=run.config['seed'])
    write_path = os.path.join(d, 'init.safetensors')
    open(write_path, 'wb').write(write_safetensors([(n, p.detach().numpy()) for n, p in fresh.named_parameters()]))

    vols, _ = read_safetensors(open(os.path.join(d, 'volumes.safetensors'), 'rb').read())
    volumes = [np.array(vols[f'vol.{i}']) for i in range(len(vols))]
    dims = [(v.shape[2], v.shape[1], v.shape[0]) for v in volumes]
    c = run.config
    tr = run.trainer
    sampler = StudioSampler(c['seed'], c['gridN'], c['cropSize'], c['randomCrops'], c['batchVolumes'], len(volumes),
                            augment=c.get('augment', True) is not False, fixed_batch=bool(c.get('fixedBatch')),
                            state=SamplerState(tr['rng'], tr['volumeOrder'], tr['volumeCursor'], tr['dropoutRng']))
    plan, keep = sampler.next(dims)
    crops = batch_crops(plan)
    tokens = sample_crop_tokens(volumes, crops, c['cropSize'], preset.patch)
    trainer = trainer_from_run(run)
    lr = trainer.lr_at(trainer.step_index)
    json.dump({'crops': [x.to_json() for x in crops], 'rowKeep': keep, 'lr': lr,
               'volumes': [v.volume for v in plan.volumes], 'regionOrigins': [list(v.region_origin) for v in plan.volumes]},
              open(os.path.join(d, 'plan.json'), 'w'))
    labels = plan_labels(plan)
    probe = trainer.probe(tokens, labels, keep, len(plan.volumes))
    res = trainer.step_on(tokens, labels, keep, len(plan.volumes), keep_grads=True)
    f32 = lambda v: np.array([v], np.float32)
    out = [('probe.loss', f32(probe['total'])), ('probe.intra', f32(probe['intra'])), ('probe.inter', f32(probe['inter'])),
           ('probe.reg', f32(probe['reg'])), ('probe.logits', probe['logits'].numpy().reshape(-1)),
           ('loss', f32(res['loss'])), ('intra', f32(res['intra'])), ('inter', f32(res['inter'])), ('reg', f32(res['reg'])),
           ('logits', res['logits'].numpy().reshape(-1))]
    names = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    out += [(f'probe.grad.{n}', g.numpy()) for n, g in zip(names, probe['grads'])]
    out += [(f'grad.{n}', g.numpy()) for n, g in zip(names, res['grads'])]
    out += [(f'weight.{n}', w) for n, w in trainer.weights_numpy()]
    out += [(f'opt.{k}', v.detach().numpy().reshape(-1)) for k, v in trainer.optimizer.state_tensors().items()]
    open(os.path.join(d, 'result.safetensors'), 'wb').write(write_safetensors(out))
    after = update_run(run, trainer, sampler.state(), [res], marker=None)
    open(os.path.join(d, 'after.voco'), 'wb').write(after.to_bytes())


if __name__ == '__main__':
    main(sys.argv[1])
