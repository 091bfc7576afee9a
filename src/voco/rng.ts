// Seeded, serialisable PRNG (sfc32, seeded through splitmix32) so a crop plan can be replayed exactly and a
// run can be resumed from a checkpoint with the same random stream.

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    const mix = splitmix32(Math.floor(seed) >>> 0);
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    // Warm up so that nearby seeds decorrelate.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [lo, hiExcl), like numpy's randint(low, high). */
  int(lo: number, hiExcl: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hiExcl) || hiExcl <= lo) {
      throw new Error(`Rng.int: need integers lo < hiExcl, got [${lo}, ${hiExcl})`);
    }
    return lo + Math.floor(this.next() * (hiExcl - lo));
  }

  /** Uniform real in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** True with probability p. */
  bool(p: number): boolean {
    return this.next() < p;
  }

  getState(): number[] {
    // Unsigned, so that fromState accepts what getState gives (the generator's words are int32 internally).
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  static fromState(s: number[]): Rng {
    if (!Array.isArray(s) || s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new Error(`Rng.fromState: expected four unsigned 32-bit integers, got ${JSON.stringify(s)}`);
    }
    const rng = new Rng(0);
    [rng.a, rng.b, rng.c, rng.d] = s;
    return rng;
  }
}
