"""AdamW exactly as the studio's src/voco/adamw.ts (which follows torch.optim.AdamW): decoupled weight decay
p ← p·(1 − lr·wd), bias-corrected Adam step, amsgrad keeps max(v) (raw, corrected at use), optional global-norm
clipping coef = min(clip / (‖g‖ + 1e-6), 1). The same float32 operations in the same order, so a step here and in
the studio agree to rounding. State is saved as the studio names it: m.<i>, v.<i>, vMax.<i> for trainable i."""
import math

import numpy as np

import torch


class AdamW:
    def __init__(self, params, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=True, clip_norm=None):
        self.params = list(params)
        self.weight_decay = float(weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.amsgrad = bool(amsgrad)
        self.clip_norm = float(clip_norm) if clip_norm else None
        if not self.weight_decay >= 0:
            raise ValueError(f'AdamW: weightDecay must be ≥ 0, got {weight_decay}')
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f'AdamW: clipNorm must be > 0, got {clip_norm}')
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.v_max = [torch.zeros_like(p) for p in self.params] if self.amsgrad else None

    @torch.no_grad()
    def grad_norm(self, grads):
        return torch.sqrt(sum(torch.sum(g.float() * g.float()) for g in grads))

    @torch.no_grad()
    def apply(self, grads, lr):
        """One update with the given gradients (list aligned with params). Returns the pre-clip global norm."""
        if len(grads) != len(self.params):
            raise ValueError(f'AdamW.apply: {len(self.params)} variables but {len(grads)} gradients')
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f'AdamW.apply: lr must be a finite number ≥ 0, got {lr}')
        self.step_count += 1
        t = self.step_count
        b1, b2, eps = self.beta1, self.beta2, self.eps
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = math.sqrt(1 - b2 ** t)
        decay = 1 - lr * self.weight_decay
        norm = self.grad_norm(grads)
        gs = grads
        if self.clip_norm is not None:
            coef = torch.clamp(self.clip_norm / (norm + 1e-6), max=1.0)
            gs = [g * coef for g in grads]
        for i, p in enumerate(self.params):
            g = gs[i]
            m, v = self.m[i], self.v[i]
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            second = v
            if self.v_max is not None:
                torch.maximum(self.v_max[i], v, out=self.v_max[i])
                second = self.v_max[i]
            denom = (torch.sqrt(second) / bc2_sqrt).add_(eps)
            p.mul_(decay).addcdiv_(m, denom, value=-step_size)
        return norm

    def state_tensors(self):
        """{'m.<i>', 'v.<i>', 'vMax.<i>'} in the studio's order (float32, flattened by the caller as needed)."""
        out = {}
        for i in range(len(self.params)):
            out[f'm.{i}'] = self.m[i]
            out[f'v.{i}'] = self.v[i]
            if self.v_max is not None:
                out[f'vMax.{i}'] = self.v_max[i]
        return out

    def load_state(self, step, tensors):
        """tensors: name → flat float32 numpy/torch; shapes follow the params. step 0 → fresh zeros (as the studio)."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f'AdamW.setState: bad step {step}')
        self.step_count = step
        if step == 0:
            return
        for i, p in enumerate(self.params):
            for key, slot in (('m', self.m), ('v', self.v)) + ((('vMax', self.v_max),) if self.v_max is not None else ()):
                name = f'{key}.{i}'
                if name not in tensors:
                    raise ValueError(f"AdamW: saved optimizer state has no '{name}'")
                data = torch.as_tensor(np.array(tensors[name], dtype=np.float32))
                if data.numel() != p.numel():
                    raise ValueError(f"AdamW: saved optimizer state '{name}' has {data.numel()} values but variable {i} has {p.numel()}")
                slot[i].copy_(data.reshape(p.shape).to(slot[i].dtype))
