"""Seeded weight initialisation (src/model/init.ts): each tensor from its own sfc32 stream keyed by (seed, name),
so the same seed gives the studio's initial weights. (Normal draws use log/cos; libm and V8 agree on these
to the bit in practice; the parity test checks it.)"""
import math

import numpy as np

from ..voco.rng import Rng, _imul


def weight_seed(seed, name):
    h = 0x811C9DC5
    for ch in name:
        h ^= ord(ch)
        h = _imul(h, 0x01000193)
    return (h ^ _imul(seed & 0xFFFFFFFF, 0x9E3779B1)) & 0xFFFFFFFF


def init_values(size, init, rng):
    kind = init[0]
    out = np.zeros(size, dtype=np.float64)
    if kind == 'zeros':
        pass
    elif kind == 'ones':
        out[:] = 1
    elif kind == 'uniform':
        bound = init[1]
        for i in range(size):
            out[i] = (2 * rng.next() - 1) * bound
    elif kind == 'truncNormal':
        std = init[1]
        for i in range(size):
            while True:
                z = math.sqrt(-2 * math.log(1 - rng.next())) * math.cos(2 * math.pi * rng.next())
                if abs(z) <= 2:
                    break
            out[i] = z * std
    else:
        raise ValueError(f'unknown init {init!r}')
    return out.astype(np.float32)


def make_values(seed, full_name, shape, init):
    size = int(np.prod(shape)) if shape else 1
    return init_values(size, init, Rng(weight_seed(seed, full_name))).reshape(shape)


def torch_linear_init(in_dim):
    b = 1 / math.sqrt(in_dim)
    return ('uniform', b), ('uniform', b)


VIT_LINEAR_INIT = (('truncNormal', 0.02), ('zeros',))
