// VoCo losses (TPAMI version): intra-volume position prediction, inter-volume consistency and the base-crop
// regulariser, written as batched Gram matrices so one step costs a handful of matmuls, not B·sw·n² dot products.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients (the @tensorflow/tfjs union package would); these losses exist to be
// differentiated, so register them here, once, as a side effect.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

const COSINE_EPS = 1e-8; // torch.nn.functional.cosine_similarity's eps
const LOG_EPS = 1e-6; // the reference's epsilon inside log and in the denominators

/**
 * Identity forward, no gradient backward (torch's `.detach()` inside a differentiated function). The value is
 * produced inside a customGrad that takes no inputs, so the tape holds a node that depends on nothing: backprop
 * never walks into x's producers (the teacher head costs no backward pass), and ops applied to the result, even
 * ones without a gradient such as equal, stay off every path from the variables to the loss.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const detached = tf.customGrad(() => ({ value: x.clone(), gradFunc: () => [] as tf.Tensor[] }));
  return detached() as T;
}

/**
 * [y = 0] as float32, off the tape. tf.equal has no gradient in tfjs, so if y depended on the variables (labels
 * made from the teacher, which sees the encoder's embeddings) backprop would throw "gradient function not found
 * for Equal"; detaching y first keeps the Equal node off every path to the variables.
 */
function zeroMask(y: tf.Tensor): tf.Tensor {
  return tf.cast(tf.equal(stopGradient(y), 0), 'float32');
}

/** Each row divided by max(‖row‖, 1e-8), along the last axis. */
export function normalizeRows<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const sumSq = tf.sum(tf.square(x), -1, true);
    return tf.mul(x, tf.rsqrt(tf.maximum(sumSq, COSINE_EPS * COSINE_EPS))) as T;
  });
}

/**
 * relu of a cosine, clamped at 1. |cos| ≤ 1 in exact arithmetic, but two identical rows (Dropout1d zeroes whole
 * rows, so dropped crops share one projection) can round to 1 + 2e-6 on SIMD/FMA backends (wasm/XNNPACK), and
 * then log(1 - p + 1e-6) in the ce is NaN. The clamp is a no-op on every exact value.
 */
export function reluCos<T extends tf.Tensor>(cos: T): T {
  return tf.minimum(tf.relu(cos), 1) as T;
}

/** relu(cosine similarity) of every row of x with every row of bases: [rowsX, rowsBases]. */
export function positionLogits(x: tf.Tensor2D, bases: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[1] !== bases.shape[1]) {
    throw new Error(`positionLogits: x has ${x.shape[1]} features but bases have ${bases.shape[1]}`);
  }
  return tf.tidy(() => reluCos(tf.matMul(normalizeRows(x), normalizeRows(bases), false, true))) as tf.Tensor2D;
}

/**
 * The reference's ce_loss for each volume of a batch: y, p are [B, sw, k]; returns [B].
 * ce(y, p) = −Σ y·log(1 − |y − p| + ε) / (Σ y + ε) − Σ [y = 0]·log(1 − p + ε) / (Σ [y = 0] + ε), sums per volume.
 */
export function vocoCe(y: tf.Tensor3D, p: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => {
    const axes = [1, 2];
    const pos = tf.div(
      tf.neg(tf.sum(tf.mul(y, tf.log(tf.add(tf.sub(1, tf.abs(tf.sub(y, p))), LOG_EPS))), axes)),
      tf.add(tf.sum(y, axes), LOG_EPS),
    );
    const negMask = zeroMask(y);
    const neg = tf.div(
      tf.neg(tf.sum(tf.mul(negMask, tf.log(tf.add(tf.sub(1, p), LOG_EPS))), axes)),
      tf.add(tf.sum(negMask, axes), LOG_EPS),
    );
    return tf.add(pos, neg) as tf.Tensor1D;
  });
}

export interface VocoLossInput {
  /** Student projections of the random crops, [batch*sw, dim], rows grouped by volume. */
  xStudent: tf.Tensor2D;
  /** Student projections of the base crops, [batch*bases, dim], rows grouped by volume. */
  basesStudent: tf.Tensor2D;
  /** Teacher projections (no gradient flows into them; they are wrapped in stopGradient here). */
  xTeacher: tf.Tensor2D;
  basesTeacher: tf.Tensor2D;
  /** Position labels [batch][sw][bases]. */
  labels: tf.Tensor3D;
  batch: number;
  sw: number;
  bases: number;
}

export interface VocoLossOutput {
  intra: tf.Scalar;
  inter: tf.Scalar;
  reg: tf.Scalar;
  total: tf.Scalar;
  /** Intra-volume predictions relu(cos(x_student_i, bases_teacher_i)), [batch][sw][bases]. */
  logits: tf.Tensor3D;
}

/**
 * intra = mean_i ce(labels_i, p(x_student_i, bases_teacher_i))
 * inter = mean_i ce(stopgrad p(x_teacher_i, bases_teacher_j), p(x_student_i, bases_student_j)), j = (i+1) mod B
 * reg   = mean_i mean_{a<b} relu(cos(bases_student_i[a], stopgrad bases_student_i[b]))²
 * total = intra + inter + reg
 */
export function vocoLosses(inp: VocoLossInput): VocoLossOutput {
  const { batch, sw, bases } = inp;
  checkShapes(inp);
  const [intra, inter, reg, total, logits] = tf.tidy(() => {
    const dim = inp.xStudent.shape[1];
    const xs = tf.reshape(normalizeRows(inp.xStudent), [batch, sw, dim]) as tf.Tensor3D;
    const bs = tf.reshape(normalizeRows(inp.basesStudent), [batch, bases, dim]) as tf.Tensor3D;
    const xt = tf.reshape(normalizeRows(stopGradient(inp.xTeacher)), [batch, sw, dim]) as tf.Tensor3D;
    const bt = tf.reshape(normalizeRows(stopGradient(inp.basesTeacher)), [batch, bases, dim]) as tf.Tensor3D;

    const logits = reluCos(tf.matMul(xs, bt, false, true)) as tf.Tensor3D;
    const intra = tf.mean(vocoCe(inp.labels, logits));

    // Volume i is compared with the bases of volume (i+1) mod B: roll the base blocks by one volume.
    const bsNext = rollVolumes(bs);
    const btNext = rollVolumes(bt);
    const target = stopGradient(reluCos(tf.matMul(xt, btNext, false, true)) as tf.Tensor3D);
    const pred = reluCos(tf.matMul(xs, bsNext, false, true)) as tf.Tensor3D;
    const inter = tf.mean(vocoCe(target, pred));

    // Only the first base of each pair (a < b) carries gradient.
    const gram = tf.matMul(bs, stopGradient(bs), false, true);
    const pairs = (bases * (bases - 1)) / 2;
    const perVolume = tf.div(tf.sum(tf.mul(tf.square(reluCos(gram)), upperTriangleMask(bases)), [1, 2]), pairs);
    const reg = tf.mean(perVolume);

    const total = tf.add(tf.add(intra, inter), reg);
    return [intra, inter, reg, total, logits];
  });
  return { intra, inter, reg, total, logits } as VocoLossOutput;
}

function rollVolumes(t: tf.Tensor3D): tf.Tensor3D {
  const [b, k, d] = t.shape;
  return tf.concat([tf.slice(t, [1, 0, 0], [b - 1, k, d]), tf.slice(t, [0, 0, 0], [1, k, d])], 0);
}

/** [k, k] with 1 where row < column. */
function upperTriangleMask(k: number): tf.Tensor2D {
  const values = new Float32Array(k * k);
  for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) values[a * k + b] = 1;
  return tf.tensor2d(values, [k, k]);
}

function checkShapes(inp: VocoLossInput): void {
  const { batch, sw, bases } = inp;
  if (!Number.isInteger(batch) || batch < 2) {
    throw new Error(`vocoLosses: batch must be an integer ≥ 2 (inter-volume pairs i with i+1), got ${batch}`);
  }
  if (!Number.isInteger(bases) || bases < 2) throw new Error(`vocoLosses: bases must be an integer ≥ 2, got ${bases}`);
  const dim = inp.xStudent.shape[1];
  const expect = (name: string, t: tf.Tensor, shape: number[]) => {
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`vocoLosses: ${name} has shape [${t.shape}], expected [${shape}] (batch=${batch}, sw=${sw}, bases=${bases})`);
    }
  };
  expect('xStudent', inp.xStudent, [batch * sw, dim]);
  expect('xTeacher', inp.xTeacher, [batch * sw, dim]);
  expect('basesStudent', inp.basesStudent, [batch * bases, dim]);
  expect('basesTeacher', inp.basesTeacher, [batch * bases, dim]);
  expect('labels', inp.labels, [batch, sw, bases]);
}
