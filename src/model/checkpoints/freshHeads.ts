// Projection heads for imported checkpoints that carry none (backbone-only, SwinUNETR fine-tuning files):
// initialised fresh as torch initialises nn.Linear (weight and bias U(±1/√fan_in)), in PyTorch layout, seeded
// per key from the run seed (the studio's sfc32 stream; FNV-1a of the key mixed with the seed, as
// model/init.ts seeds its weights), so the same seed gives the same heads everywhere. Pure, tensor-free.
import { Rng } from '../../voco/rng';
import { embeddingWidth } from './layout';
import type { NamedFloat32 } from './export';

function keySeed(seed: number, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

export function freshHeadWeights(featureSize: number, headWidth: number, seed: number, heads: readonly ('student' | 'teacher')[]): NamedFloat32[] {
  const out: NamedFloat32[] = [];
  for (const head of heads) {
    const layers: [string, number, number][] = [
      ['layer1', embeddingWidth(featureSize), headWidth],
      ['layer2', headWidth, headWidth],
      ['layer3', headWidth, headWidth],
    ];
    for (const [layer, fanIn, width] of layers) {
      const bound = 1 / Math.sqrt(fanIn);
      for (const [suffix, shape] of [
        ['weight', [width, fanIn]],
        ['bias', [width]],
      ] as const) {
        const name = `${head}.${layer}.0.${suffix}`;
        const rng = new Rng(keySeed(seed, name));
        const data = new Float32Array(shape.reduce((a: number, b: number) => a * b, 1));
        for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
        out.push({ name, shape: [...shape], data });
      }
    }
  }
  return out;
}
