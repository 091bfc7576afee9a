"""Seeded, serialisable PRNG: sfc32 seeded through splitmix32, bit for bit the studio's src/voco/rng.ts, so the
same seed (or saved state) gives the same crop plans, volume order and dropout rows here as in the browser."""
import math

M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & M32


def _splitmix32(seed):
    s = seed & M32

    def nxt():
        nonlocal s
        s = (s + 0x9E3779B9) & M32
        z = s
        z = _imul(z ^ (z >> 16), 0x85EBCA6B)
        z = _imul(z ^ (z >> 13), 0xC2B2AE35)
        return (z ^ (z >> 16)) & M32

    return nxt


class Rng:
    __slots__ = ('a', 'b', 'c', 'd')

    def __init__(self, seed):
        if not isinstance(seed, (int, float)) or not math.isfinite(seed):
            raise ValueError(f'Rng: seed must be a finite number, got {seed!r}')
        mix = _splitmix32(int(math.floor(seed)) & M32)
        self.a, self.b, self.c, self.d = mix(), mix(), mix(), mix()
        for _ in range(12):
            self.next_uint32()

    def next_uint32(self):
        a, b, c, d = self.a, self.b, self.c, self.d
        t = (((a + b) & M32) + d) & M32
        self.d = (d + 1) & M32
        self.a = b ^ (b >> 9)
        self.b = (c + ((c << 3) & M32)) & M32
        c = (((c << 21) & M32) | (c >> 11)) & M32
        self.c = (c + t) & M32
        return t

    def next(self):
        """Uniform in [0, 1) (float64, as the JS number)."""
        return self.next_uint32() / 4294967296.0

    def int(self, lo, hi_excl):
        """Uniform integer in [lo, hi_excl), like numpy's randint(low, high)."""
        if not (isinstance(lo, int) and isinstance(hi_excl, int)) or hi_excl <= lo:
            raise ValueError(f'Rng.int: need integers lo < hiExcl, got [{lo}, {hi_excl})')
        return lo + math.floor(self.next() * (hi_excl - lo))

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.next()

    def bool(self, p):
        return self.next() < p

    def get_state(self):
        return [self.a, self.b, self.c, self.d]

    @staticmethod
    def from_state(s):
        if not isinstance(s, (list, tuple)) or len(s) != 4 or any(not isinstance(v, int) or v < 0 or v > M32 for v in s):
            raise ValueError(f'Rng.from_state: expected four unsigned 32-bit integers, got {s!r}')
        r = Rng(0)
        r.a, r.b, r.c, r.d = (int(v) for v in s)
        return r
