"""The training step on TensorFlow: gradient tapes, a graph (or XLA) per step, several steps per call, and
``tf.distribute`` over several GPUs. The CPU engine: on this CPU it measured faster than the JAX step
(benchmarks/bench_gan.py)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..errors import ArgumentError
from . import step
from .step import LOSS_NAMES

MODES = ("auto", "xla", "function", "eager")


class TensorFlowDraws:
    """:class:`~.step.Draws` from TensorFlow's stateless random ops and a (2,) int64 seed."""

    def __init__(self, seed):
        self.seed = seed

    def split(self, count):
        seeds = tf.random.experimental.stateless_split(self.seed, count)
        return [TensorFlowDraws(seeds[k]) for k in range(count)]

    def uniform(self, shape, low=0.0, high=1.0):
        return tf.random.stateless_uniform(shape, self.seed, low, high)

    def integers(self, shape, low, high):
        return tf.random.stateless_uniform(shape, self.seed, low, high, dtype=tf.int32)

    def normal(self, shape):
        return tf.random.stateless_normal(shape, self.seed)

    def categorical(self, logits, count):
        return tf.cast(tf.random.stateless_categorical(logits[None], count, self.seed)[0], tf.int32)


def default_mode() -> str:
    """XLA where a GPU is visible; a plain graph on the CPU, where XLA's step measured slower (0.92x at batch 4,
    0.63x at batch 32 on 2 cores: benchmarks/bench_gan.py)."""
    return "xla" if tf.config.list_physical_devices("GPU") else "function"


def strategy(config):
    """Where the networks are built and the step runs: ``tf.distribute.MirroredStrategy`` over the visible GPUs
    when the configuration asks for it, else TensorFlow's default."""
    return tf.distribute.MirroredStrategy() if config.distribute else tf.distribute.get_strategy()


class Steps:
    """``steps(count)``: ``count`` alternating D/G steps in one graph call, their mean losses (4,).

    Modes: ``xla``: each step compiled whole by XLA, looped in one graph call; ``function``: the same loop as a
    plain graph; ``eager``: Python. The loop stays outside XLA: on a 2-core CPU, XLA ran a while-loop of this step
    compiled whole at about 2.4 s per step against 0.09 s for the step compiled alone."""

    def __init__(self, gan, data, mode: str = "auto"):
        if mode not in MODES:
            raise ArgumentError(f"unknown step mode {mode!r} for TensorFlow: {', '.join(MODES)}")
        self.gan, self.config = gan, gan.config
        self.mode = default_mode() if mode == "auto" else mode
        self.strategy = gan.strategy
        self.data = {k: tf.constant(v) for k, v in data.items()}
        self._steps = self._compile()

    def train_step(self, seed):
        """One discriminator update, then one generator update against the updated discriminator."""
        gan, c = self.gan, self.config
        real_draws, z_draws, mirror_draws, d_draws, g_draws = step.step_draws(TensorFlowDraws(seed))
        real, y_real, flip = step.real_batch(self.data, c, real_draws)
        y_g, y_d = step.flagged_conditions(y_real, flip, c)  # the generator's and the discriminator's
        z = z_draws.normal([c.batch_size, c.latent_dim])
        discriminate = lambda images, condition: gan.discriminator([images, condition], training=True)  # noqa: E731
        replicas = self.strategy.num_replicas_in_sync  # replicas' gradients are summed: each gives its share
        with tf.GradientTape() as g_tape:
            fake = step.mirror_generated(gan.generator([z, y_g], training=True), y_real, c, mirror_draws, flip)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                d_total, (d_real, d_fake, recon) = step.discriminator_loss(
                    c,
                    discriminate,
                    lambda f: gan.decoder_whole(f, training=True),
                    lambda f: gan.decoder_part(f, training=True),
                    real,
                    tf.stop_gradient(fake),
                    y_d,
                    d_draws,
                )
                scaled = gan.d_optimizer.scale_loss(d_total / replicas)
            gan.d_optimizer.apply(d_tape.gradient(scaled, gan.d_variables), gan.d_variables)
            g_loss = step.generator_loss(c, discriminate, fake, y_d, g_draws, real)
            scaled = gan.g_optimizer.scale_loss(g_loss / replicas)
        variables = gan.generator.trainable_variables
        gan.g_optimizer.apply(g_tape.gradient(scaled, variables), variables)
        decay = step.ema_decay(c, gan.step.value)
        for average, value in zip(gan.ema, variables):
            average.assign(decay * average + (1.0 - decay) * value)
        return tf.stack([d_real, d_fake, recon, g_loss])

    def _replicated_step(self, seed):
        """One step on every replica of the strategy, losses averaged (gradients are summed by the optimizer)."""
        per_replica = self.strategy.run(self.train_step, args=(seed,))
        return self.strategy.reduce("MEAN", per_replica, axis=None)

    def _compile(self):
        if self.config.distribute:
            one = self._replicated_step
        elif self.mode == "xla":
            one = tf.function(self.train_step, jit_compile=True)
        else:
            one = self.train_step
        counter, seed = self.gan.step, tf.cast(self.config.seed, tf.int64)

        def steps(count):
            total = tf.zeros([len(LOSS_NAMES)])
            for _ in tf.range(count):
                total += tf.cast(one(tf.stack([seed, tf.cast(counter.value, tf.int64)])), tf.float32)
                counter.assign_add(1)
            return total / tf.cast(count, tf.float32)

        return steps if self.mode == "eager" else tf.function(steps, reduce_retracing=True)

    def __call__(self, count: int) -> np.ndarray:
        return np.asarray(self._steps(tf.constant(count, tf.int32)))

    def flops_per_image(self) -> float | None:
        """FLOPs of one training step per image, from TensorFlow's graph profiler (``None`` where it fails)."""
        from tensorflow.python.profiler import model_analyzer, option_builder

        try:
            graph = tf.function(self.train_step).get_concrete_function(tf.constant([0, 0], tf.int64)).graph
            options = option_builder.ProfileOptionBuilder.float_operation()
            options["output"] = "none"
            return model_analyzer.profile(graph, options=options).total_float_ops / self.config.batch_size
        except Exception:  # noqa: BLE001 (the profiler is private API; the figure is optional)
            return None
