// Seeded weight initialisation. Every tensor is drawn in JavaScript from its own stream, keyed by
// (model seed, weight name), and only then uploaded, so the same seed gives bit-identical weights on every
// backend, and adding a weight never shifts the values of the others. (The normal draws use Math.log and
// Math.cos, which the language does not require to be correctly rounded: two different JS engines could
// differ in the last bit. V8 — Node and Chromium — agrees with itself.)
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../voco/rng';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  /** Normal(0, std) truncated at ±2·std (timm's ViT linear init uses std 0.02). */
  | { kind: 'truncNormal'; std: number }
  /** Uniform(-bound, bound): torch.nn.Linear's default for weight and bias is bound = 1/√fan_in. */
  | { kind: 'uniform'; bound: number };

/** 32-bit FNV-1a of the name, mixed with the seed: the stream for one weight. */
export function weightSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

export function initValues(size: number, init: Init, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'uniform':
      for (let i = 0; i < size; i++) out[i] = (2 * rng.next() - 1) * init.bound;
      break;
    case 'truncNormal':
      for (let i = 0; i < size; i++) {
        let z: number;
        do {
          // Box–Muller; 1 - next() lies in (0, 1], so the log is finite.
          z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
        } while (Math.abs(z) > 2);
        out[i] = z * init.std;
      }
      break;
  }
  return out;
}

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** Creates named, seeded variables and remembers them in creation order (the stable checkpoint order). */
export class ParamFactory {
  readonly created: NamedVariable[] = [];

  constructor(
    private readonly seed: number,
    private readonly prefix: string,
    private readonly trainable: boolean,
  ) {}

  make(name: string, shape: number[], init: Init): tf.Variable {
    const full = `${this.prefix}${name}`;
    if (this.created.some((c) => c.name === full)) throw new Error(`ParamFactory: duplicate weight name '${full}'`);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = initValues(size, init, new Rng(weightSeed(this.seed, full)));
    // tfjs variable names are global; leave them automatic so two models can coexist. Our names live here.
    const initial = tf.tensor(values, shape, 'float32');
    const variable = tf.variable(initial, this.trainable);
    initial.dispose();
    this.created.push({ name: full, variable });
    return variable;
  }
}
