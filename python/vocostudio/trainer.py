"""One VoCo training step in torch, as src/worker/trainer.ts does it:
  EMA of the teacher head (m = 0.9) first → one encoder pass over all crops (bases, then randoms) → student head
  on Dropout1d rows, teacher head without gradient → intra + inter + reg → backward (DDP averages the gradients
  across ranks) → finite check (a non-finite step is skipped, the teacher restored) → AdamW (amsgrad, decoupled
  weight decay, optional global-norm clipping) at the warmup-cosine learning rate."""
import math
import time

import numpy as np
import torch
import torch.distributed as dist

from .model import PRESETS, VocoModel, preset_from_json
from .voco.adamw import AdamW
from .voco.losses import voco_losses
from .voco.schedule import learning_rate

DEFAULT_EMA_MOMENTUM = 0.9

# RunConfig fields (src/worker/protocol.ts) this package implements. A run whose config has others was made by a
# newer studio: train.py says so loudly (and refuses with --strict-config) instead of ignoring them silently.
KNOWN_CONFIG_FIELDS = {
    'volumeIds', 'preset', 'gridN', 'cropSize', 'spacing', 'huWindow', 'batchVolumes', 'randomCrops', 'lr', 'warmupSteps',
    'totalSteps', 'weightDecay', 'gradClip', 'seed', 'backend', 'checkpointEvery', 'augment', 'emaMomentum', 'minLr', 'fixedBatch',
    'dataMode',
}


def unknown_config_fields(config):
    return sorted(k for k in config if k not in KNOWN_CONFIG_FIELDS)


class NonFiniteLossError(RuntimeError):
    pass


def position_summary(labels, logits):
    """accuracy (argmax hit rate) and mae over every (volume, random crop), as src/store/metricsHistory.ts."""
    l = labels.reshape(-1, labels.shape[-1])
    p = logits.reshape(-1, logits.shape[-1])
    acc = float((l.argmax(1) == p.argmax(1)).float().mean()) if l.shape[0] else float('nan')
    mae = float((p - l).abs().mean()) if l.numel() else float('nan')
    return acc, mae


class Trainer:
    def __init__(self, config, preset=None, model=None, device='cpu', ddp=False, amp=False):
        self.config = dict(config)
        self.preset = preset or PRESETS[config['preset']]
        self.device = torch.device(device)
        self.model = (model or VocoModel(self.preset, config['cropSize'], seed=config['seed'])).to(self.device)
        self.optimizer = AdamW(self.model.trainable(), weight_decay=config['weightDecay'], amsgrad=True,
                               clip_norm=config['gradClip'] if config.get('gradClip', 0) > 0 else None)
        self.step_index = 0
        self.ddp = ddp
        self.amp = amp and self.device.type == 'cuda'
        # Dynamic loss scale for AMP (fp16 autocast on CUDA): halve on overflow, double after 2000 good steps.
        self.loss_scale = 2.0 ** 16 if self.amp else None
        self.good_steps = 0
        self.forward_model = self.model
        if ddp:
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == 'cuda' else None, broadcast_buffers=False)

    # ---- state
    def load_weights(self, named):
        """named: name → array (studio layout). Every weight must be present with its shape, nothing else."""
        own = dict(self.model.named_parameters())
        problems = [f"missing '{n}'" for n in own if n not in named]
        problems += [f"unexpected '{n}'" for n in named if n not in own]
        problems += [f"'{n}' has shape {list(np.shape(named[n]))}, the model needs {list(p.shape)}" for n, p in own.items()
                     if n in named and tuple(np.shape(named[n])) != tuple(p.shape)]
        if problems:
            raise ValueError(f"weights do not fit preset '{self.preset.name}': " + '; '.join(problems[:8]))
        with torch.no_grad():
            for n, p in own.items():
                p.copy_(torch.from_numpy(np.array(named[n], dtype=np.float32)))

    def weights_numpy(self):
        return [(n, p.detach().cpu().numpy().astype(np.float32, copy=True)) for n, p in self.model.named_parameters()]

    def lr_at(self, step):
        c = self.config
        return learning_rate(step, c['lr'], c['warmupSteps'], c['totalSteps'], c.get('minLr', 0) or 0)

    # ---- one step
    def probe(self, tokens, labels, row_keep, batch):
        """Loss terms, intra logits and gradients for a batch without changing anything (no EMA, no update): the
        studio's Trainer.probeGradients."""
        c = self.config
        nb, sw = c['gridN'] ** 2, c['randomCrops']
        params = self.model.trainable()
        for p in params:
            p.grad = None
        student, teacher_out = self.model(torch.as_tensor(tokens, device=self.device), row_keep)
        out = voco_losses(student[batch * nb:], student[:batch * nb], teacher_out[batch * nb:], teacher_out[:batch * nb],
                          torch.as_tensor(labels, device=self.device), batch, sw, nb)
        out['total'].backward()
        grads = [p.grad.detach().clone() for p in params]
        for p in params:
            p.grad = None
        return {k: float(out[k]) for k in ('total', 'intra', 'inter', 'reg')} | {'logits': out['logits'].detach(), 'grads': grads}

    def step_on(self, tokens, labels, row_keep, batch, lr=None, world=1, keep_grads=False):
        """tokens [B·(n²+sw), T, p³] (bases of all volumes, then randoms), labels [B, sw, n²], row_keep [rows].
        Returns a dict of python floats (+ 'logits', 'grads' tensors before the update)."""
        c = self.config
        n = c['gridN']
        nb, sw = n * n, c['randomCrops']
        step = self.step_index
        lr = self.lr_at(step) if lr is None else lr
        t0 = time.perf_counter()
        teacher = list(self.model.teacher.parameters())
        backup = [t.detach().clone() for t in teacher]
        self.model.ema_update(c.get('emaMomentum', DEFAULT_EMA_MOMENTUM) if c.get('emaMomentum') is not None else DEFAULT_EMA_MOMENTUM)
        tokens = torch.as_tensor(tokens, device=self.device)
        labels = torch.as_tensor(labels, device=self.device)
        params = self.model.trainable()
        for p in params:
            p.grad = None
        with torch.autocast('cuda', enabled=self.amp):
            student, teacher_out = self.forward_model(tokens, row_keep)
        student, teacher_out = student.float(), teacher_out.float()
        split = lambda z: (z[:batch * nb], z[batch * nb:])
        bs, xs = split(student)
        bt, xt = split(teacher_out)
        out = voco_losses(xs, bs, xt, bt, labels, batch, sw, nb)
        total = out['total']
        if self.loss_scale is not None:
            (total * self.loss_scale).backward()
            grads = [p.grad / self.loss_scale for p in params]
        else:
            total.backward()
            grads = [p.grad for p in params]
        terms = torch.stack([total.detach(), out['intra'].detach(), out['inter'].detach(), out['reg'].detach()])
        gsq = sum(torch.sum(g * g) for g in grads)
        finite = torch.isfinite(gsq + terms.sum()).to(torch.float32).reshape(1)
        if world > 1:
            dist.all_reduce(terms)
            terms /= world
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        values = [float(v) for v in terms.cpu()]
        if finite.item() < 1:
            with torch.no_grad():
                for t, b in zip(teacher, backup):
                    t.copy_(b)
            if self.loss_scale is not None and all(math.isfinite(v) for v in values):
                self.loss_scale /= 2
                self.good_steps = 0
                raise NonFiniteLossError(f'Step {step}: non-finite gradients under AMP; the step was skipped')
            raise NonFiniteLossError(
                f'Step {step}: the loss is not finite (loss {values[0]}, intra {values[1]}, inter {values[2]}, reg {values[3]}); '
                'the update was skipped and the weights are the last good ones. Lower the learning rate or enable gradient clipping.')
        grad_list = [g.detach().clone() for g in grads] if keep_grads else None
        norm = self.optimizer.apply(grads, lr)
        if self.loss_scale is not None:
            self.good_steps += 1
            if self.good_steps % 2000 == 0:
                self.loss_scale *= 2
        self.step_index = step + 1
        acc, mae = position_summary(labels.detach(), out['logits'].detach())
        if world > 1:
            am = torch.tensor([acc, mae], device=self.device)
            dist.all_reduce(am)
            acc, mae = [float(v) / world for v in am.cpu()]
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return {
            'step': step, 'loss': values[0], 'intra': values[1], 'inter': values[2], 'reg': values[3], 'lr': lr,
            'stepMs': (time.perf_counter() - t0) * 1000, 'accuracy': acc, 'mae': mae, 'gradNorm': float(norm),
            'logits': out['logits'].detach(), 'grads': grad_list,
        }


def trainer_from_run(run, device='cpu', ddp=False, amp=False, config_override=None):
    """A Trainer holding a .voco's weights, AdamW state and step (sampling state is the sampler's job)."""
    config = dict(run.config)
    if config_override:
        config.update(config_override)
    preset = preset_from_json(run.manifest['preset'])
    ours = PRESETS.get(preset.name)
    if ours is not None and ours.to_json() | {'label': ''} != preset.to_json() | {'label': ''}:
        fields = [k for k in ('patch', 'dim', 'depth', 'heads', 'mlpRatio', 'stageEnds', 'headHidden', 'headOut')
                  if getattr(ours, k) != getattr(preset, k)]
        raise ValueError(f"the run's preset '{preset.name}' differs from this package's: {', '.join(fields)}")
    model = VocoModel(preset, config['cropSize'], seed=None)
    tr = Trainer(config, preset, model, device=device, ddp=False, amp=amp)
    tr.load_weights(run.weight_dict())
    tr.optimizer.load_state(run.trainer['optimizerStep'], run.optimizer_dict())
    tr.step_index = run.trainer['step']
    if ddp:
        tr.ddp = True
        tr.forward_model = torch.nn.parallel.DistributedDataParallel(
            tr.model, device_ids=[tr.device.index] if tr.device.type == 'cuda' else None, broadcast_buffers=False)
    return tr


def is_finite(x):
    return math.isfinite(x)
