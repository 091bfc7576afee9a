// Relative position bias of a window: table [13³, heads] gathered by the relative-position index into [heads, n·n].
// The gradient is a segment sum over the index (each table row collects every (a, b) pair with that offset); tfjs's
// gather gradient would need a scatter-add kernel that tfjs-wasm lacks, so the pairs of each row are listed in JS,
// padded to the longest list with a zero row, gathered, and summed: dTable = Σ_j gather(dB ∪ {0}, lists)[:, j].
import * as tf from '@tensorflow/tfjs-core';

export interface BiasIndex {
  /** [n·n] table row of each (a, b) pair. */
  index: tf.Tensor1D;
  /** [tableRows · longest] the pairs of each table row, padded with n·n (a zero row). */
  lists: tf.Tensor1D;
  longest: number;
  tableRows: number;
}

export function buildBiasIndex(index: Int32Array, tableRows: number): BiasIndex {
  const counts = new Int32Array(tableRows);
  for (const r of index) counts[r]++;
  const longest = Math.max(1, ...counts);
  const lists = new Int32Array(tableRows * longest).fill(index.length);
  const fill = new Int32Array(tableRows);
  index.forEach((r, q) => {
    lists[r * longest + fill[r]++] = q;
  });
  return { index: tf.tensor1d(index, 'int32'), lists: tf.tensor1d(lists, 'int32'), longest, tableRows };
}

const biasOp = (bi: BiasIndex) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const table = args[0] as tf.Tensor2D;
    const heads = table.shape[1];
    return {
      value: tf.transpose(tf.gather(table, bi.index)), // [heads, n·n]
      gradFunc: (dy: tf.Tensor) => {
        const rows = tf.concat([tf.transpose(dy as tf.Tensor2D), tf.zeros([1, heads])], 0); // [n·n + 1, heads]
        const picked = tf.reshape(tf.gather(rows, bi.lists), [bi.tableRows, bi.longest, heads]);
        return tf.sum(picked, 1);
      },
    };
  });

/** [heads, n·n] bias for the window attention scores. */
export function relativeBias(table: tf.Tensor2D, bi: BiasIndex): tf.Tensor2D {
  if (table.shape[0] !== bi.tableRows) throw new Error(`relativeBias: table has ${table.shape[0]} rows, index expects ${bi.tableRows}`);
  return biasOp(bi)(table) as tf.Tensor2D;
}

export function disposeBiasIndex(bi: BiasIndex): void {
  bi.index.dispose();
  bi.lists.dispose();
}
