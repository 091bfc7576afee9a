// AdamW (torch.optim.AdamW semantics), the warmup-cosine schedule and the EMA update, each against numbers
// computed independently here, plus tensor-leak checks.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, emaUpdate, learningRate } from '../src/voco';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface RefOpts { lr: number; wd: number; b1: number; b2: number; eps: number; amsgrad: boolean; clip?: number }

/** torch.optim.AdamW's update, written out in float64 for a list of scalar parameters. */
function referenceAdamW(p0: number[], gradSteps: number[][], o: RefOpts): number[][] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const vMax = p.map(() => 0);
  const history: number[][] = [];
  gradSteps.forEach((g0, s) => {
    const t = s + 1;
    let g = g0;
    if (o.clip !== undefined) {
      const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
      const coef = Math.min(1, o.clip / (norm + 1e-6));
      g = g.map((x) => x * coef);
    }
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - o.lr * o.wd;
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      vMax[i] = Math.max(vMax[i], v[i]);
      const second = o.amsgrad ? vMax[i] : v[i];
      const denom = Math.sqrt(second) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      p[i] -= (o.lr / (1 - o.b1 ** t)) * (m[i] / denom);
    }
    history.push([...p]);
  });
  return history;
}

function runAdamW(p0: number[], gradSteps: number[][], o: RefOpts, lrs?: number[]): { history: number[][]; norms: (number | null)[] } {
  const opt = new AdamW({ weightDecay: o.wd, beta1: o.b1, beta2: o.b2, eps: o.eps, amsgrad: o.amsgrad, clipNorm: o.clip });
  // Split the parameters over two variables (a scalar and the rest) to exercise several variables at once.
  const vars = [tf.variable(tf.scalar(p0[0])), tf.variable(tf.tensor1d(p0.slice(1)))];
  const history: number[][] = [];
  const norms: (number | null)[] = [];
  gradSteps.forEach((g, s) => {
    const grads = [tf.scalar(g[0]), tf.tensor1d(g.slice(1))];
    norms.push(opt.apply(vars, grads, lrs ? lrs[s] : o.lr).gradNorm);
    tf.dispose(grads);
    history.push([vars[0].dataSync()[0], ...vars[1].dataSync()]);
  });
  opt.dispose();
  tf.dispose(vars);
  return { history, norms };
}

function expectClose(got: number[][], want: number[][], rel = 2e-6) {
  expect(got.length).toBe(want.length);
  got.forEach((row, s) => row.forEach((x, i) => {
    expect(Math.abs(x - want[s][i]), `step ${s + 1}, parameter ${i}: ${x} vs ${want[s][i]}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(want[s][i])));
  }));
}

describe('AdamW', () => {
  const p0 = [0.5, -1.25, 2.0];
  // Large then small gradients so the second moment shrinks and amsgrad's running maximum matters.
  const grads = [[0.8, -0.3, 1.5], [0.05, 0.02, -0.1], [-0.01, 0.4, 0.003]];
  const base: RefOpts = { lr: 0.1, wd: 0.5, b1: 0.9, b2: 0.5, eps: 1e-8, amsgrad: true };

  it('first step: p(1 − lr·wd) − lr·g/(|g| + eps)', () => {
    const { history } = runAdamW(p0, [grads[0]], base);
    const want = p0.map((p, i) => p * (1 - 0.1 * 0.5) - (0.1 * grads[0][i]) / (Math.abs(grads[0][i]) + 1e-8));
    expectClose(history, [want]);
  });

  it('matches torch.optim.AdamW for 3 steps, with and without amsgrad', () => {
    const withMax = runAdamW(p0, grads, base).history;
    const withoutMax = runAdamW(p0, grads, { ...base, amsgrad: false }).history;
    expectClose(withMax, referenceAdamW(p0, grads, base));
    expectClose(withoutMax, referenceAdamW(p0, grads, { ...base, amsgrad: false }));
    // The case is built so amsgrad changes the result at step 2.
    expect(Math.abs(withMax[1][0] - withoutMax[1][0])).toBeGreaterThan(1e-3);
  });

  it('matches with torch default betas, weight decay 0.01 and a changing lr', () => {
    const o: RefOpts = { lr: 1e-3, wd: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, amsgrad: true };
    const lrs = [1e-3, 5e-4, 2e-3];
    const { history } = runAdamW(p0, grads, o, lrs);
    const want = [1, 2, 3].map((k) => referenceAdamWVaryingLr(p0, grads.slice(0, k), o, lrs.slice(0, k)));
    expectClose(history, want);
  });

  it('clips to the global norm like clip_grad_norm_ and reports the pre-clip norm', async () => {
    const g = [[3, 0, 4], [0.3, 0.1, -0.2], [6, 8, 0]];
    const o = { ...base, clip: 1 };
    const { history, norms } = runAdamW(p0, g, o);
    expectClose(history, referenceAdamW(p0, g, o));
    expect(norms[0]).toBeCloseTo(5, 5);
    expect(norms[1]).toBeCloseTo(Math.sqrt(0.14), 5);
    expect(norms[2]).toBeCloseTo(10, 5);
    // Clipping really changes the trajectory.
    expect(Math.abs(history[2][1] - referenceAdamW(p0, g, base)[2][1])).toBeGreaterThan(1e-4);

    const opt = new AdamW({ weightDecay: 0, clipNorm: 1 });
    const v = [tf.variable(tf.tensor1d([1, 2]))];
    const gr = [tf.tensor1d([3, 4])];
    opt.apply(v, gr, 0.1);
    expect(await opt.readGradNorm()).toBeCloseTo(5, 5);
    expect(new AdamW({ weightDecay: 0 }).apply(v, gr, 0.1).gradNorm).toBeNull();
    opt.dispose();
    tf.dispose([...v, ...gr]);
  });

  it('saves and restores its state so training resumes identically', async () => {
    const make = () => [tf.variable(tf.tensor1d(p0))];
    const a = new AdamW({ weightDecay: 0.5, beta2: 0.5, amsgrad: true });
    const va = make();
    for (const g of grads.slice(0, 2)) tf.tidy(() => { a.apply(va, [tf.tensor1d(g)], 0.1); });
    const state = await a.getState();
    expect(state.step).toBe(2);
    expect(Object.keys(state.tensors).sort()).toEqual(['m.0', 'v.0', 'vMax.0']);

    const b = new AdamW({ weightDecay: 0.5, beta2: 0.5, amsgrad: true });
    b.setState(JSON.parse(JSON.stringify({ step: state.step, tensors: Object.fromEntries(Object.entries(state.tensors).map(([k, x]) => [k, Array.from(x)])) }), (k, x) => (Array.isArray(x) && k !== '' ? Float32Array.from(x) : x)));
    const vb = [tf.variable(tf.tensor1d(Array.from(va[0].dataSync())))];
    tf.tidy(() => { a.apply(va, [tf.tensor1d(grads[2])], 0.1); b.apply(vb, [tf.tensor1d(grads[2])], 0.1); });
    expect(Array.from(vb[0].dataSync())).toEqual(Array.from(va[0].dataSync()));
    expectClose([Array.from(va[0].dataSync())], [referenceAdamW(p0, grads, base)[2]]);

    const wrong = new AdamW({ weightDecay: 0.5, amsgrad: true });
    wrong.setState(state);
    const short = [tf.variable(tf.tensor1d([1, 2]))];
    expect(() => tf.tidy(() => { wrong.apply(short, [tf.tensor1d([1, 1])], 0.1); })).toThrow(/has 3 values but variable/);
    [a, b, wrong].forEach((o) => o.dispose());
    tf.dispose([...va, ...vb, ...short]);
  });

  it('does not leak tensors over 50 updates, with clipping and amsgrad', () => {
    const vars = [tf.variable(tf.randomNormal([4, 3])), tf.variable(tf.randomNormal([7]))];
    const opt = new AdamW({ weightDecay: 0.01, amsgrad: true, clipNorm: 1 });
    const grads = [tf.randomNormal([4, 3]), tf.randomNormal([7])];
    opt.apply(vars, grads, 1e-3); // creates the slots
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) opt.apply(vars, grads, 1e-3);
    expect(tf.memory().numTensors).toBe(before);
    const beforeDispose = tf.memory().numTensors;
    opt.dispose();
    // 3 slots × 2 variables + the kept gradient norm are released.
    expect(tf.memory().numTensors).toBe(beforeDispose - 7);
    tf.dispose([...vars, ...grads]);
  });

  it('rejects mismatched inputs with a clear message', () => {
    const opt = new AdamW({ weightDecay: 0 });
    const v = [tf.variable(tf.zeros([2, 2]))];
    const g = [tf.zeros([4])];
    expect(() => opt.apply(v, g, 0.1)).toThrow(/gradient 0 has shape \[4\]/);
    expect(() => opt.apply(v, [], 0.1)).toThrow(/1 variables but 0 gradients/);
    expect(() => new AdamW({ weightDecay: -1 })).toThrow(/weightDecay/);
    opt.dispose();
    tf.dispose([...v, ...g]);
  });
});

/** torch AdamW with a per-step lr (as a scheduler sets it); returns the parameters after the last step. */
function referenceAdamWVaryingLr(p0: number[], gradSteps: number[][], o: RefOpts, lrs: number[]): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const vMax = p.map(() => 0);
  gradSteps.forEach((g, s) => {
    const t = s + 1;
    const lr = lrs[s];
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * o.wd;
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      vMax[i] = Math.max(vMax[i], v[i]);
      p[i] -= (lr / (1 - o.b1 ** t)) * (m[i] / (Math.sqrt(o.amsgrad ? vMax[i] : v[i]) / Math.sqrt(1 - o.b2 ** t) + o.eps));
    }
  });
  return p;
}

describe('learningRate', () => {
  const cfg = { lr: 1e-3, warmupSteps: 100, totalSteps: 1100, minLr: 1e-5 };

  it('warms up linearly from 0 to the peak at the end of warmup', () => {
    expect(learningRate(0, cfg)).toBe(0);
    expect(learningRate(1, cfg)).toBeCloseTo(1e-5, 12);
    expect(learningRate(50, cfg)).toBeCloseTo(5e-4, 12);
    expect(learningRate(99, cfg)).toBeCloseTo(9.9e-4, 12);
    expect(learningRate(100, cfg)).toBeCloseTo(1e-3, 12);
  });

  it('decays along half a cosine to minLr at totalSteps and stays there', () => {
    expect(learningRate(600, cfg)).toBeCloseTo((1e-3 + 1e-5) / 2, 12); // half way
    expect(learningRate(350, cfg)).toBeCloseTo(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(learningRate(1100, cfg)).toBeCloseTo(1e-5, 12);
    expect(learningRate(5000, cfg)).toBeCloseTo(1e-5, 12);
    for (let s = 100; s < 1100; s += 10) expect(learningRate(s + 10, cfg)).toBeLessThan(learningRate(s, cfg));
    // The reference (WarmupCosineSchedule) decays to 0 when no minLr is given.
    expect(learningRate(1100, { lr: 1e-4, warmupSteps: 100, totalSteps: 1100 })).toBeCloseTo(0, 15);
  });
});

describe('emaUpdate', () => {
  it('moves the teacher to m·t + (1 − m)·s without leaking', () => {
    const teacher = [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor2d([[10]]))];
    const student = [tf.variable(tf.tensor1d([3, 2, -1])), tf.variable(tf.tensor2d([[0]]))];
    const before = tf.memory().numTensors;
    emaUpdate(teacher, student, 0.9);
    expect(tf.memory().numTensors).toBe(before);
    const t0 = Array.from(teacher[0].dataSync());
    [1.2, 2, 2.6].forEach((want, i) => expect(t0[i]).toBeCloseTo(want, 6));
    expect(teacher[1].dataSync()[0]).toBeCloseTo(9, 5);
    expect(Array.from(student[0].dataSync())).toEqual([3, 2, -1]); // the student is untouched
    emaUpdate(teacher, student, 0.9);
    expect(teacher[1].dataSync()[0]).toBeCloseTo(8.1, 5);
    for (let i = 0; i < 20; i++) emaUpdate(teacher, student, 0.9);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => emaUpdate(teacher, student.slice(0, 1), 0.9)).toThrow(/2 variables, student 1/);
    expect(() => emaUpdate([teacher[0]], [student[1]], 0.9)).toThrow(/shape/);
    tf.dispose([...teacher, ...student]);
  });
});
