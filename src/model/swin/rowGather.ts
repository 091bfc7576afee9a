// y[p] = x[idx[p]] over the rows of a 2-D tensor, where idx may point one past the end (a zero row: padding), and
// every row of x appears at most once in idx (window partition / reverse are such partial permutations). Its
// gradient is then the gather by the inverse index, dx[r] = dy[inverse[r]] (inverse pointing one past the end of dy
// where row r was dropped), so no scatter-add kernel is needed: tfjs-wasm has none (UnsortedSegmentSum), and
// tf.gather's own gradient would use it. Everything stays rank 2.
import * as tf from '@tensorflow/tfjs-core';

function withZeroRow(x: tf.Tensor2D): tf.Tensor2D {
  return tf.concat([x, tf.zeros([1, x.shape[1]])], 0);
}

const gatherOp = (idx: tf.Tensor1D, inverse: tf.Tensor1D) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.gather(withZeroRow(args[0] as tf.Tensor2D), idx),
    gradFunc: (dy: tf.Tensor) => tf.gather(withZeroRow(dy as tf.Tensor2D), inverse),
  }));

/** y [idx.length, C] = rows of x (a zero row where idx = x.rows); `inverse` [x.rows] maps back (= y.rows where dropped). */
export function rowGather(x: tf.Tensor2D, idx: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor2D {
  if (inverse.shape[0] !== x.shape[0]) throw new Error(`rowGather: inverse index has ${inverse.shape[0]} entries for ${x.shape[0]} rows`);
  return gatherOp(idx, inverse)(x) as tf.Tensor2D;
}
