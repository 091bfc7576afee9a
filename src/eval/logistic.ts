// Multinomial logistic regression (softmax regression) in plain TypeScript: the linear probe of the benchmark.
// Features are standardised with the training set's mean and deviation; the weights are fitted by full-batch
// gradient descent with Nesterov momentum on the mean cross-entropy plus an L2 penalty on the weights. The step
// size is 1/L for L, a bound on the loss's curvature (the softmax Hessian is at most ½·XᵀX/n, whose largest
// eigenvalue a few power iterations estimate), so no learning rate has to be tuned per encoder.

export interface SoftmaxRegression {
  dim: number;
  classes: number;
  /** Standardisation of the inputs (training set). */
  mean: Float32Array;
  scale: Float32Array;
  /** Weights [dim × classes] row-major, biases [classes]. */
  weights: Float64Array;
  bias: Float64Array;
}

export interface FitOptions {
  /** Gradient steps (default 300). */
  iterations?: number;
  /** L2 penalty on the weights (not the biases); default 1e-3. */
  l2?: number;
  /** Called every `reportEvery` iterations (and after the last) with the training loss. */
  onIteration?: (iteration: number, loss: number, model: SoftmaxRegression) => void;
  reportEvery?: number;
}

/**
 * Fits softmax regression to `x` (n × dim, row-major) with labels y in 0..classes−1. Throws on bad shapes or
 * labels (a label out of range names its row).
 */
export function fitSoftmaxRegression(x: Float32Array, dim: number, y: ArrayLike<number>, classes: number, opts: FitOptions = {}): SoftmaxRegression {
  const n = y.length;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`softmax regression: feature width must be a positive integer, got ${dim}`);
  if (x.length !== n * dim) throw new Error(`softmax regression: ${x.length} feature values for ${n} labels of width ${dim}`);
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`softmax regression: needs at least 2 classes, got ${classes}`);
  if (n === 0) throw new Error('softmax regression: no training rows');
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(y[i]) || y[i] < 0 || y[i] >= classes) throw new Error(`softmax regression: row ${i} has label ${y[i]}, expected 0..${classes - 1}`);
  }
  const iterations = opts.iterations ?? 300;
  const l2 = opts.l2 ?? 1e-3;
  const reportEvery = Math.max(1, opts.reportEvery ?? 10);

  const { mean, scale } = standardiser(x, n, dim);
  const z = standardise(x, n, dim, mean, scale);
  // Curvature bound: ½·λmax(ZᵀZ/n) for the weights (+ ½ for the bias column), plus the penalty.
  const lipschitz = 0.5 * (largestEigenvalue(z, n, dim) + 1) + l2;
  const step = 1 / lipschitz;

  const C = classes;
  const model: SoftmaxRegression = { dim, classes: C, mean, scale, weights: new Float64Array(dim * C), bias: new Float64Array(C) };
  // Nesterov: gradient at the look-ahead point v, then w_new = v − step·g, v = w_new + μ·(w_new − w).
  let w = new Float64Array(dim * C);
  let b = new Float64Array(C);
  const vw = new Float64Array(dim * C);
  const vb = new Float64Array(C);
  const gw = new Float64Array(dim * C);
  const gb = new Float64Array(C);
  const probs = new Float64Array(C);
  let t = 1;
  for (let it = 1; it <= iterations; it++) {
    gw.fill(0);
    gb.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const row = i * dim;
      logitsInto(z, row, dim, vw, vb, C, probs);
      loss += softmaxInPlace(probs, y[i]);
      probs[y[i]] -= 1; // dL/dlogits = p − onehot
      for (let d = 0; d < dim; d++) {
        const v = z[row + d];
        if (v === 0) continue;
        const o = d * C;
        for (let c = 0; c < C; c++) gw[o + c] += v * probs[c];
      }
      for (let c = 0; c < C; c++) gb[c] += probs[c];
    }
    let penalty = 0;
    for (let k = 0; k < gw.length; k++) {
      gw[k] = gw[k] / n + l2 * vw[k];
      penalty += vw[k] * vw[k];
    }
    for (let c = 0; c < C; c++) gb[c] /= n;
    loss = loss / n + 0.5 * l2 * penalty;

    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const mu = (t - 1) / tNext;
    t = tNext;
    const wNext = new Float64Array(dim * C);
    const bNext = new Float64Array(C);
    for (let k = 0; k < wNext.length; k++) {
      wNext[k] = vw[k] - step * gw[k];
      vw[k] = wNext[k] + mu * (wNext[k] - w[k]);
    }
    for (let c = 0; c < C; c++) {
      bNext[c] = vb[c] - step * gb[c];
      vb[c] = bNext[c] + mu * (bNext[c] - b[c]);
    }
    w = wNext;
    b = bNext;
    if (opts.onIteration && (it % reportEvery === 0 || it === iterations)) {
      model.weights = w;
      model.bias = b;
      opts.onIteration(it, loss, model);
    }
  }
  model.weights = w;
  model.bias = b;
  return model;
}

/** Class probabilities (n × classes, row-major) of rows `x` (n × dim, raw features). */
export function predictProba(model: SoftmaxRegression, x: Float32Array): Float64Array {
  const { dim, classes: C } = model;
  if (x.length % dim !== 0) throw new Error(`softmax regression: ${x.length} values are not rows of width ${dim}`);
  const n = x.length / dim;
  const z = standardise(x, n, dim, model.mean, model.scale);
  const out = new Float64Array(n * C);
  const probs = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    logitsInto(z, i * dim, dim, model.weights, model.bias, C, probs);
    softmaxInPlace(probs, -1);
    out.set(probs, i * C);
  }
  return out;
}

/** Most probable class of each row. */
export function predictClasses(model: SoftmaxRegression, x: Float32Array): Int32Array {
  const p = predictProba(model, x);
  const C = model.classes;
  const out = new Int32Array(p.length / C);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (p[i * C + c] > p[i * C + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Mean cross-entropy of the model on labelled rows (no penalty). */
export function crossEntropy(model: SoftmaxRegression, x: Float32Array, y: ArrayLike<number>): number {
  const p = predictProba(model, x);
  let s = 0;
  for (let i = 0; i < y.length; i++) s -= Math.log(Math.max(p[i * model.classes + y[i]], 1e-12));
  return s / y.length;
}

// ---- internals ------------------------------------------------------------------------------------------

function standardiser(x: Float32Array, n: number, dim: number): { mean: Float32Array; scale: Float32Array } {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d] - mean[d];
      sq[d] += v * v;
    }
  }
  // A constant feature carries nothing: scale 0 drops it instead of dividing by zero.
  const scale = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    const sd = Math.sqrt(sq[d] / n);
    scale[d] = sd > 1e-6 ? 1 / sd : 0;
  }
  return { mean: Float32Array.from(mean), scale };
}

function standardise(x: Float32Array, n: number, dim: number, mean: Float32Array, scale: Float32Array): Float64Array {
  const z = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) z[i * dim + d] = (x[i * dim + d] - mean[d]) * scale[d];
  return z;
}

function logitsInto(z: Float64Array, row: number, dim: number, w: Float64Array, b: Float64Array, C: number, out: Float64Array): void {
  for (let c = 0; c < C; c++) out[c] = b[c];
  for (let d = 0; d < dim; d++) {
    const v = z[row + d];
    if (v === 0) continue;
    const o = d * C;
    for (let c = 0; c < C; c++) out[c] += v * w[o + c];
  }
}

/** Softmax of `logits` in place; returns −log p[label] (0 when label < 0). */
function softmaxInPlace(logits: Float64Array, label: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (let c = 0; c < logits.length; c++) {
    logits[c] = Math.exp(logits[c] - max);
    sum += logits[c];
  }
  for (let c = 0; c < logits.length; c++) logits[c] /= sum;
  return label >= 0 ? -Math.log(Math.max(logits[label], 1e-300)) : 0;
}

/** Largest eigenvalue of ZᵀZ/n by power iteration (an estimate from above after a safety factor). */
function largestEigenvalue(z: Float64Array, n: number, dim: number): number {
  let v = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  let lambda = 0;
  const zv = new Float64Array(n);
  for (let it = 0; it < 30; it++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += z[i * dim + d] * v[d];
      zv[i] = s;
    }
    const next = new Float64Array(dim);
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) next[d] += z[i * dim + d] * zv[i];
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      next[d] /= n;
      norm += next[d] * next[d];
    }
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    lambda = norm;
    for (let d = 0; d < dim; d++) next[d] /= norm;
    v = next;
  }
  // Power iteration approaches λmax from below; 10 % headroom keeps the step stable.
  return lambda * 1.1;
}
