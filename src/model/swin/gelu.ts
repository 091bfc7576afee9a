// torch.nn.GELU() in its exact (erf) form, as MONAI's MLPBlock uses it: ½x(1 + erf(x/√2)). The studio's ViT uses
// the tanh form (within 1e-3), which would break parity with the released weights here. Gradient by hand:
// Φ(x) + x·φ(x), so backprop records no erf gradient kernels.
import * as tf from '@tensorflow/tfjs-core';

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export const geluErf = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, INV_SQRT2)), 1), 0.5); // Φ(x)
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, phi] = saved;
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), INV_SQRT_2PI);
      return tf.mul(dy, tf.add(phi, tf.mul(xs, pdf)));
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;
