// The backbone's weights as a Map keyed exactly as the authors' VoCoHead.state_dict(), in our layouts: made fresh
// (seeded, torch's default initialisers), loaded from PyTorch-layout tensors (checked against the key list first,
// nothing created when anything is wrong), and read back in PyTorch layout for export.
import * as tf from '@tensorflow/tfjs-core';
import { initValues, weightSeed, type Init } from '../init';
import type { NamedTensorData } from '../weights';
import { Rng } from '../../voco/rng';
import type { SwinConfig } from './config';
import type { WeightMap } from './convBridge';
import { internalShape, internalToTorch, swinStateDictSpec, torchToInternal, type StateDictEntry } from './stateDict';

/** The float entries (what the Map holds): every key but the int64 relative_position_index buffers. */
export function weightEntries(cfg: SwinConfig): StateDictEntry[] {
  return swinStateDictSpec(cfg).filter((e) => e.dtype === 'float32');
}

function initFor(e: StateDictEntry): Init {
  switch (e.init) {
    case 'ones':
      return { kind: 'ones' };
    case 'zeros':
      return { kind: 'zeros' };
    case 'truncNormal02':
      return { kind: 'truncNormal', std: 0.02 };
    // nn.Linear / nn.Conv3d defaults: kaiming_uniform(a=√5) for the weight and U(±1/√fan_in) for the bias are both
    // U(±1/√fan_in).
    default:
      return { kind: 'uniform', bound: 1 / Math.sqrt(e.fanIn ?? 1) };
  }
}

/** Variables for every weight, seeded per key (the same seed gives the same weights on every backend). */
export function initSwinWeights(cfg: SwinConfig, seed: number): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const e of weightEntries(cfg)) {
    const n = e.torchShape.reduce((a, b) => a * b, 1);
    const torchValues = initValues(n, initFor(e), new Rng(weightSeed(seed, e.key)));
    out.set(e.key, makeVariable(e, torchToInternal(e, torchValues), !e.key.startsWith('teacher.')));
  }
  return out;
}

function makeVariable(e: StateDictEntry, internal: Float32Array, trainable: boolean): tf.Variable {
  return tf.tidy(() => tf.variable(tf.tensor(internal, internalShape(e), 'float32'), trainable));
}

export interface WeightCheck {
  missing: string[];
  unexpected: string[];
  wrongShape: { key: string; got: number[]; want: number[] }[];
}

/** Compares PyTorch-layout tensors with the key list (relative_position_index buffers are accepted and ignored). */
export function checkTorchWeights(cfg: SwinConfig, named: { name: string; shape: number[] }[]): WeightCheck {
  const spec = new Map(swinStateDictSpec(cfg).map((e) => [e.key, e]));
  const seen = new Set<string>();
  const r: WeightCheck = { missing: [], unexpected: [], wrongShape: [] };
  for (const t of named) {
    const e = spec.get(t.name);
    if (!e) {
      r.unexpected.push(t.name);
      continue;
    }
    seen.add(t.name);
    if (t.shape.length !== e.torchShape.length || t.shape.some((d, i) => d !== e.torchShape[i])) r.wrongShape.push({ key: t.name, got: t.shape, want: e.torchShape });
  }
  for (const e of spec.values()) if (e.dtype === 'float32' && !seen.has(e.key)) r.missing.push(e.key);
  return r;
}

/**
 * PyTorch-layout tensors (state_dict keys) → Map of variables in our layout. Throws, creating nothing, when a
 * weight is missing, unexpected or of the wrong shape. `teacher.*` variables are not trainable.
 */
export function loadSwinWeights(cfg: SwinConfig, named: NamedTensorData[], source = 'weights'): Map<string, tf.Variable> {
  const c = checkTorchWeights(cfg, named);
  const problems = [
    ...c.missing.map((k) => `missing '${k}'`),
    ...c.unexpected.map((k) => `unexpected '${k}'`),
    ...c.wrongShape.map((w) => `'${w.key}' has shape [${w.got}], feature size ${cfg.featureSize} needs [${w.want}]`),
  ];
  if (problems.length) {
    throw new Error(`${source}: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`);
  }
  const byName = new Map(named.map((t) => [t.name, t]));
  const out = new Map<string, tf.Variable>();
  for (const e of weightEntries(cfg)) out.set(e.key, makeVariable(e, torchToInternal(e, byName.get(e.key)!.data), !e.key.startsWith('teacher.')));
  return out;
}

/** Every float weight in PyTorch layout, in state_dict order. */
export async function readTorchWeights(cfg: SwinConfig, weights: WeightMap): Promise<NamedTensorData[]> {
  const entries = weightEntries(cfg);
  const data = await Promise.all(entries.map((e) => weights.get(e.key)!.data() as Promise<Float32Array>));
  return entries.map((e, i) => ({ name: e.key, shape: [...e.torchShape], data: internalToTorch(e, data[i]) }));
}
