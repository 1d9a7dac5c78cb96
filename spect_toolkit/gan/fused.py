"""Fused kernels for the TensorFlow backend, computing exactly what Keras' own layers compute.

On the CPU the paper preset's step is dominated by small ops: each Keras batch norm is about a dozen (moments,
normalisation, moving averages) and each Adam update half a dozen per variable, some 12,000 op launches per step
in all. TensorFlow has one kernel for each: ``FusedBatchNormV3`` and ``ResourceApplyAdam``. These classes use them
on the TensorFlow backend and fall back to Keras' own code on every other backend (JAX) and case (masks, renorm,
inference), so weights, checkpoints and results are the same whichever runs.
"""

from __future__ import annotations

import keras
from keras import ops


def _tensorflow() -> bool:
    return keras.backend.backend() == "tensorflow"


@keras.saving.register_keras_serializable(package="spect_toolkit")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` (same variables, same statistics) with TensorFlow's fused kernel in
    training. The kernel's batch variance carries Bessel's correction; Keras' moving variance does not, so it is
    taken back out: the moving statistics equal Keras' own."""

    def call(self, inputs, training=None, mask=None):
        fusable = (
            _tensorflow()
            and training
            and self.trainable
            and mask is None
            and not self.renorm
            and self.axis in (-1, len(inputs.shape) - 1)
            and len(inputs.shape) == 4
            and self.scale
            and self.center
        )
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = ops.cast(inputs, "float32")  # as Keras: statistics in float32 whatever the compute dtype
        empty = tf.constant([], tf.float32)
        y, mean, unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=ops.cast(self.gamma, "float32"),
            offset=ops.cast(self.beta, "float32"),
            mean=empty,
            variance=empty,
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        variance = unbiased * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return ops.cast(y, self.compute_dtype)


def _handle(variable):
    """The resource handle of a tf.Variable, or of the one a Keras variable wraps."""
    return variable.handle if hasattr(variable, "handle") else variable.value.handle


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose per-variable update is TensorFlow's single ``ResourceApplyAdam`` kernel
    (the same formula: m, v moving averages, bias-corrected step, epsilon outside the square root)."""

    def update_step(self, gradient, variable, learning_rate):
        if not _tensorflow() or self.amsgrad or variable.dtype != "float32":
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, tf.float32)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.constant(self.beta_1, tf.float32), step),
            beta2_power=tf.pow(tf.constant(self.beta_2, tf.float32), step),
            lr=tf.cast(learning_rate, tf.float32),
            beta1=tf.constant(self.beta_1, tf.float32),
            beta2=tf.constant(self.beta_2, tf.float32),
            epsilon=tf.constant(self.epsilon, tf.float32),
            grad=tf.cast(gradient, tf.float32),
        )
