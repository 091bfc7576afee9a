// AdamW as torch.optim.AdamW computes it: decoupled weight decay (p ← p·(1 − lr·wd)), then the Adam step with
// bias correction; with amsgrad the running maximum of the raw second moment v is kept and bias-corrected at use
// (torch keeps max(v), not max(v̂)). Optional global-norm clipping as torch.nn.utils.clip_grad_norm_.
// Everything happens on the device inside one tidy; slots are non-trainable variables updated by assign.
// Where the backend has the fused kernel (src/kernels/fusedAdamW.ts: cpu, wasm, webgpu) each variable is updated in
// one pass; elsewhere (webgl) by tf ops. A caller that already knows the global gradient norm (the trainer reads
// it with the loss) passes it, and the norm is not computed a second time.
import * as tf from '@tensorflow/tfjs-core';
import { fusedAdamW, fusedAdamWAvailable } from '../kernels/fusedAdamW';

export interface AdamWOptions {
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  amsgrad?: boolean;
  /** Clip gradients to this global L2 norm (coef = clipNorm / (norm + 1e-6), capped at 1). */
  clipNorm?: number;
  /** Measure the global gradient norm even without clipping (readable via the result or readGradNorm). */
  trackGradNorm?: boolean;
}

export interface AdamWResult {
  /**
   * Global gradient norm before clipping, when clipping or tracking is on and the backend can read it
   * synchronously for free (cpu, wasm); null otherwise — then use `await readGradNorm()`.
   */
  gradNorm: number | null;
}

export interface AdamWState {
  step: number;
  /** `m.<i>`, `v.<i>` and (amsgrad) `vMax.<i>` for variable i, flattened. */
  tensors: Record<string, Float32Array>;
}

interface Slot {
  m: tf.Variable;
  v: tf.Variable;
  vMax: tf.Variable | null;
}

const SYNC_READ_BACKENDS = new Set(['cpu', 'wasm']);

/**
 * Global L2 norm of a list of tensors. Summed pairwise, not with tf.addN: webgpu's AddN binds every input at once
 * and fails (silently, as a GPU validation error) beyond maxStorageBuffersPerShaderStage, i.e. for any real model.
 */
function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.sqrt(grads.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b))) as tf.Scalar;
}

export class AdamW {
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly amsgrad: boolean;
  readonly clipNorm: number | null;
  readonly trackGradNorm: boolean;
  private stepCount = 0;
  private slots: Slot[] | null = null;
  private pendingState: AdamWState | null = null;
  private lastGradNorm: tf.Scalar | null = null;

  constructor(opts: AdamWOptions) {
    this.weightDecay = opts.weightDecay;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.amsgrad = opts.amsgrad ?? false;
    this.clipNorm = opts.clipNorm ?? null;
    this.trackGradNorm = opts.trackGradNorm ?? false;
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW: weightDecay must be ≥ 0, got ${opts.weightDecay}`);
    for (const [name, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${name} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps > 0)) throw new Error(`AdamW: eps must be > 0, got ${this.eps}`);
    if (this.clipNorm !== null && !(this.clipNorm > 0)) throw new Error(`AdamW: clipNorm must be > 0, got ${this.clipNorm}`);
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * One update. `knownGradNorm`: the global L2 norm of `grads`, when the caller has it already (skips measuring it).
   * `opts.fused: false` forces the tf-op path (for parity tests and benchmarks).
   */
  apply(vars: tf.Variable[], grads: tf.Tensor[], lr: number, knownGradNorm?: number, opts: { fused?: boolean } = {}): AdamWResult {
    if (vars.length !== grads.length) throw new Error(`AdamW.apply: ${vars.length} variables but ${grads.length} gradients`);
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`AdamW.apply: lr must be a finite number ≥ 0, got ${lr}`);
    vars.forEach((v, i) => {
      const g = grads[i];
      if (v.shape.length !== g.shape.length || v.shape.some((d, k) => d !== g.shape[k])) {
        throw new Error(`AdamW.apply: gradient ${i} has shape [${g.shape}] but variable ${v.name} has [${v.shape}]`);
      }
    });
    const slots = this.ensureSlots(vars);
    this.stepCount += 1;
    const t = this.stepCount;
    const { beta1, beta2, eps } = this;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const decay = 1 - lr * this.weightDecay;
    const measure = this.clipNorm !== null || this.trackGradNorm;

    this.lastGradNorm?.dispose();
    this.lastGradNorm = null;
    let gradNorm: tf.Scalar | null = null;
    const fused = opts.fused !== false && fusedAdamWAvailable();
    if (knownGradNorm !== undefined && !(knownGradNorm >= 0)) throw new Error(`AdamW.apply: knownGradNorm must be ≥ 0, got ${knownGradNorm}`);
    tf.tidy(() => {
      let gs = grads;
      if (fused) {
        const norm = !measure ? null : knownGradNorm !== undefined ? tf.scalar(knownGradNorm) : globalNorm(grads);
        if (norm) gradNorm = tf.keep(norm);
        const coef = this.clipNorm !== null && norm ? (tf.minimum(tf.div(this.clipNorm, tf.add(norm, 1e-6)), 1) as tf.Scalar) : tf.scalar(1);
        const h = { beta1, beta2, eps, stepSize, bc2Sqrt, decay, amsgrad: this.amsgrad };
        vars.forEach((p, i) => {
          const { m, v, vMax } = slots[i];
          const [pNew, mNew, vNew, xNew] = fusedAdamW(p, grads[i], m, v, vMax ?? v, coef, h);
          m.assign(mNew);
          v.assign(vNew);
          if (vMax) vMax.assign(xNew);
          p.assign(pNew);
        });
        return;
      }
      if (measure) {
        const norm = knownGradNorm !== undefined ? tf.scalar(knownGradNorm) : globalNorm(grads);
        gradNorm = tf.keep(norm);
        if (this.clipNorm !== null) {
          const coef = tf.minimum(tf.div(this.clipNorm, tf.add(norm, 1e-6)), 1);
          gs = grads.map((g) => tf.mul(g, coef));
        }
      }
      vars.forEach((p, i) => {
        const g = gs[i];
        const { m, v, vMax } = slots[i];
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        let second: tf.Tensor = v;
        if (vMax) {
          vMax.assign(tf.maximum(vMax, v));
          second = vMax;
        }
        const denom = tf.add(tf.div(tf.sqrt(second), bc2Sqrt), eps);
        p.assign(tf.sub(tf.mul(p, decay), tf.mul(tf.div(m, denom), stepSize)));
      });
    });

    this.lastGradNorm = gradNorm as tf.Scalar | null;
    const readable = this.lastGradNorm !== null && SYNC_READ_BACKENDS.has(tf.getBackend());
    return { gradNorm: readable ? this.lastGradNorm!.dataSync()[0] : null };
  }

  /** The pre-clip global gradient norm of the last apply (null if not measured); works on every backend. */
  async readGradNorm(): Promise<number | null> {
    return this.lastGradNorm ? (await this.lastGradNorm.data())[0] : null;
  }

  async getState(): Promise<AdamWState> {
    if (!this.slots) {
      return { step: this.stepCount, tensors: { ...(this.pendingState?.tensors ?? {}) } };
    }
    const tensors: Record<string, Float32Array> = {};
    for (let i = 0; i < this.slots.length; i++) {
      const { m, v, vMax } = this.slots[i];
      tensors[`m.${i}`] = ((await m.data()) as Float32Array).slice();
      tensors[`v.${i}`] = ((await v.data()) as Float32Array).slice();
      if (vMax) tensors[`vMax.${i}`] = ((await vMax.data()) as Float32Array).slice();
    }
    return { step: this.stepCount, tensors };
  }

  /** Restores a saved state; the slots are rebuilt (and checked against the variables) on the next apply. */
  setState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`AdamW.setState: bad step ${state.step}`);
    this.disposeSlots();
    this.stepCount = state.step;
    this.pendingState = { step: state.step, tensors: { ...state.tensors } };
  }

  dispose(): void {
    this.disposeSlots();
    this.lastGradNorm?.dispose();
    this.lastGradNorm = null;
    this.pendingState = null;
  }

  private disposeSlots(): void {
    for (const s of this.slots ?? []) {
      s.m.dispose();
      s.v.dispose();
      s.vMax?.dispose();
    }
    this.slots = null;
  }

  private ensureSlots(vars: tf.Variable[]): Slot[] {
    if (this.slots) {
      if (this.slots.length !== vars.length) {
        throw new Error(`AdamW.apply: optimizer holds state for ${this.slots.length} variables, got ${vars.length}`);
      }
      vars.forEach((p, i) => {
        if (p.size !== this.slots![i].m.size) {
          throw new Error(`AdamW.apply: variable ${i} (${p.name}) has ${p.size} values, its optimizer state ${this.slots![i].m.size}`);
        }
      });
      return this.slots;
    }
    const saved = this.pendingState?.tensors;
    const slot = (key: string, p: tf.Variable): tf.Variable => {
      let init: tf.Tensor;
      if (!saved || this.pendingState!.step === 0) {
        init = tf.zeros(p.shape);
      } else {
        const data = saved[key];
        if (!data) throw new Error(`AdamW: saved optimizer state has no '${key}' (for variable ${p.name})`);
        if (data.length !== p.size) {
          throw new Error(`AdamW: saved optimizer state '${key}' has ${data.length} values but variable ${p.name} has ${p.size}`);
        }
        init = tf.tensor(data, p.shape, 'float32');
      }
      const variable = tf.variable(init, false);
      init.dispose(); // the variable holds its own reference to the data
      return variable;
    };
    const slots = vars.map((p, i) => ({ m: slot(`m.${i}`, p), v: slot(`v.${i}`, p), vMax: this.amsgrad ? slot(`vMax.${i}`, p) : null }));
    this.slots = slots;
    this.pendingState = null;
    return slots;
  }
}
