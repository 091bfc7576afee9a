// Device copies of the window plans (windows.ts) and relative-position gather lists (relativeBias.ts), made once per
// (crops, grid, shift) and kept out of tidy scopes until the model is disposed. A small LRU: similarity maps embed in
// batches of varying size, and each size has its own plans.
import * as tf from '@tensorflow/tfjs-core';
import { SWIN_WINDOW } from './config';
import { buildBiasIndex, disposeBiasIndex, type BiasIndex } from './relativeBias';
import { relativePositionIndex, windowPlan, type Dims3 } from './windows';

export interface DevicePlan {
  windows: number;
  tokens: number;
  src: tf.Tensor1D;
  inv: tf.Tensor1D;
  mask: tf.Tensor2D | null;
}

const MAX_PLANS = 24;

export class PlanCache {
  private readonly plans = new Map<string, DevicePlan>();
  private readonly biases = new Map<number, BiasIndex>();

  plan(crops: number, dims: Dims3, shifted: boolean): DevicePlan {
    const key = `${crops}:${dims.join('x')}:${shifted}`;
    let p = this.plans.get(key);
    if (p) {
      // Refresh its LRU position.
      this.plans.delete(key);
      this.plans.set(key, p);
      return p;
    }
    const wp = windowPlan(crops, dims, shifted);
    // tf.keep: plan() may run inside a caller's tidy scope.
    p = {
      windows: wp.windows,
      tokens: wp.tokens,
      src: tf.keep(tf.tensor1d(wp.src, 'int32')),
      inv: tf.keep(tf.tensor1d(wp.inv, 'int32')),
      mask: wp.mask ? tf.keep(tf.tensor2d(wp.mask, [wp.windows, wp.tokens * wp.tokens])) : null,
    };
    this.plans.set(key, p);
    if (this.plans.size > MAX_PLANS) {
      const [oldKey, old] = this.plans.entries().next().value as [string, DevicePlan];
      this.plans.delete(oldKey);
      tf.dispose([old.src, old.inv, ...(old.mask ? [old.mask] : [])]);
    }
    return p;
  }

  bias(tokens: number): BiasIndex {
    let b = this.biases.get(tokens);
    if (!b) {
      b = buildBiasIndex(relativePositionIndex(tokens), (2 * SWIN_WINDOW - 1) ** 3);
      tf.keep(b.index);
      tf.keep(b.lists);
      this.biases.set(tokens, b);
    }
    return b;
  }

  dispose(): void {
    for (const p of this.plans.values()) tf.dispose([p.src, p.inv, ...(p.mask ? [p.mask] : [])]);
    this.plans.clear();
    for (const b of this.biases.values()) disposeBiasIndex(b);
    this.biases.clear();
  }
}
