"""The conditional FastGAN and its training step: the slice store lives on the device as tensors, and each
compiled call draws its batches, augments them and runs several alternating D/G steps."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..errors import ArgumentError
from ..vocabulary import SLICE_SHAPE
from . import augment, losses
from .conditions import ConditionSpace
from .config import GanConfig
from .fused import FusedAdam
from .networks import build_networks

LOSS_NAMES = ("d_real", "d_fake", "recon", "g_loss")
_FEATURE_CROP = 8  # half of B1's 16x16; the image crop is 4 times larger


@dataclass(frozen=True)
class TrainingSet:
    """Max-normalised slices in [0, 1] with their neighbours, conditional vectors and flip permission."""

    slices: np.ndarray
    below: np.ndarray
    above: np.ndarray
    condition: np.ndarray
    flip_allowed: np.ndarray

    @classmethod
    def from_arrays(cls, slices, below, above, levels, patterns, space: ConditionSpace) -> TrainingSet:
        def by_max(images):
            images = np.asarray(images, np.float32)
            peak = images.reshape(len(images), -1).max(axis=1)
            return images / np.where(peak > 0, peak, 1.0)[:, None, None]

        patterns = np.asarray(patterns).astype(str)
        return cls(
            by_max(slices), by_max(below), by_max(above), space.vectors(levels, patterns), patterns != "unilateral"
        )

    def __len__(self) -> int:
        return len(self.slices)


def _crop(images, corner, size: int):
    """A ``size`` x ``size`` window at ``corner`` (row, column), by gathers: the gradient of a slice at a
    drawn offset is a pad by that offset, which XLA would compile anew for every offset."""
    rows = ops.take(images, corner[0] + ops.arange(size, dtype="int32"), axis=1)
    return ops.take(rows, corner[1] + ops.arange(size, dtype="int32"), axis=2)


def balanced_logits(pattern_index: np.ndarray) -> np.ndarray:
    """Log-probabilities that draw every pattern present equally often: 1 / (patterns x slices of its pattern)."""
    counts = np.bincount(pattern_index, minlength=3).astype(np.float64)
    weight = 1.0 / (np.count_nonzero(counts) * counts[pattern_index])
    return np.log(weight).astype(np.float32)


def default_step_mode() -> str:
    """XLA where a GPU is visible; a plain graph on the CPU, where XLA's step measured slower (0.92x at batch 4,
    0.63x at batch 32 on 2 cores: benchmarks/bench_gan.py)."""
    return "xla" if tf.config.list_physical_devices("GPU") else "function"


class FastGAN:
    """Networks, optimizers and the compiled training step of one run."""

    def __init__(self, config: GanConfig, space: ConditionSpace, data: TrainingSet | None = None, mode: str = "auto"):
        self.config, self.space = config, space
        self.strategy = tf.distribute.MirroredStrategy() if config.distribute else tf.distribute.get_strategy()
        keras.utils.set_random_seed(config.seed)  # same seed, same initial weights, same first losses
        policy = keras.mixed_precision.global_policy()
        if config.precision != "float32":
            keras.mixed_precision.set_global_policy(f"mixed_{config.precision}")
        try:
            with self.strategy.scope():
                nets = build_networks(config, space.size)
                self.generator, self.discriminator = nets["generator"], nets["discriminator"]
                self.decoder_whole, self.decoder_part = nets["decoder_whole"], nets["decoder_part"]
                self.g_optimizer, self.d_optimizer = self._optimizer(), self._optimizer()
                self.d_variables = [
                    v
                    for m in (self.discriminator, self.decoder_whole, self.decoder_part)
                    for v in m.trainable_variables
                ]
                self.g_optimizer.build(self.generator.trainable_variables)
                self.d_optimizer.build(self.d_variables)
                self.ema = (
                    [tf.Variable(v, trainable=False) for v in self.generator.trainable_variables]
                    if config.ema_decay
                    else []
                )
                self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        finally:
            keras.mixed_precision.set_global_policy(policy)
        self.data = None
        if data is not None:
            keys = ("slices", "below", "above", "condition", "flip_allowed")
            self.data = {k: tf.constant(getattr(data, k)) for k in keys}
            if config.balanced_patterns:
                self.data["draw_logits"] = tf.constant(balanced_logits(data.condition[:, -3:].argmax(axis=1)))
        self.train_steps = self._compile(mode)

    def _optimizer(self):
        c = self.config
        optimizer = FusedAdam(c.learning_rate, beta_1=c.beta_1, beta_2=c.beta_2)
        # float16 needs its loss scaled against underflow; bfloat16 has float32's range
        return keras.optimizers.LossScaleOptimizer(optimizer) if c.precision == "float16" else optimizer

    # ---- one step ------------------------------------------------------------------------------------------
    def _draw_real(self, seed):
        """A batch of augmented real slices in [-1, 1] with their conditions, drawn from ``seed``."""
        d, n = self.data, self.config.batch_size
        s = tf.random.experimental.stateless_split(seed, 5)
        if self.config.balanced_patterns:  # each pattern equally likely, each slice equally likely within it
            index = tf.cast(tf.random.stateless_categorical(d["draw_logits"][None], n, s[0])[0], tf.int32)
        else:
            index = tf.random.stateless_uniform([n], s[0], 0, tf.shape(d["slices"])[0], dtype=tf.int32)
        pick = lambda key: tf.gather(d[key], index)  # noqa: E731
        real = augment.augment_real(
            pick("slices"),
            pick("below"),
            pick("above"),
            pick("flip_allowed"),
            weight=tf.random.stateless_uniform([n], s[1]),
            use_above=tf.random.stateless_uniform([n], s[2]) < 0.5,
            shift=tf.random.stateless_uniform([n], s[3], -augment.MAX_SHIFT, augment.MAX_SHIFT + 1, tf.int32),
            flip=tf.random.stateless_uniform([n], s[4]) < 0.5,
        )
        return real[..., None] * 2.0 - 1.0, pick("condition")

    def _diff_augment(self, images, seed):
        if not self.config.diff_augment:
            return images
        n, s = tf.shape(images)[0], tf.random.experimental.stateless_split(seed, 4)
        shift = lambda k: tf.random.stateless_uniform([n], s[k], -8, 9, tf.int32)  # noqa: E731 (1/8 image)
        return augment.diff_augment(
            images[..., 0],
            tf.random.stateless_uniform([n], s[0], -0.5, 0.5),
            tf.random.stateless_uniform([n], s[1], 0.5, 1.5),
            shift(2),
            shift(3),
        )[..., None]

    def _margin(self, seed):
        return (
            tf.random.stateless_uniform([self.config.batch_size, 1], seed, 0.8, 1.0)
            if self.config.random_margin
            else 1.0
        )

    def train_step(self, seed):
        """One discriminator update, then one generator update against the updated discriminator."""
        s = tf.random.experimental.stateless_split(seed, 8)
        real, y = self._draw_real(s[0])
        z = tf.random.stateless_normal([self.config.batch_size, self.config.latent_dim], s[1])
        crop = tf.random.stateless_uniform([2], s[2], 0, 16 - _FEATURE_CROP + 1, tf.int32)
        with tf.GradientTape() as g_tape:
            fake = self.generator([z, y], training=True)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                logits_real, b1, b2 = self.discriminator([self._diff_augment(real, s[3]), y], training=True)
                logits_fake, _, _ = self.discriminator(
                    [self._diff_augment(tf.stop_gradient(fake), s[4]), y], training=True
                )
                part = _crop(b1, crop, _FEATURE_CROP)
                real_part = _crop(real, 4 * crop, 4 * _FEATURE_CROP)
                d_real = losses.hinge_real(logits_real, self._margin(s[5]))
                d_fake = losses.hinge_fake(logits_fake, self._margin(s[6]))
                recon = losses.reconstruction(
                    self.decoder_part(part, training=True), real_part, self.decoder_whole(b2, training=True), real
                )
                d_total = d_real + d_fake + self.config.recon_weight * recon
                # Replicas' gradients are summed, so each replica contributes its share of the global mean.
                scaled = self.d_optimizer.scale_loss(d_total / self.strategy.num_replicas_in_sync)
            self.d_optimizer.apply(d_tape.gradient(scaled, self.d_variables), self.d_variables)
            logits, _, _ = self.discriminator([self._diff_augment(fake, s[7]), y], training=True)
            g_loss = losses.generator_loss(logits)
            scaled = self.g_optimizer.scale_loss(g_loss / self.strategy.num_replicas_in_sync)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(scaled, variables), variables)
        for average, value in zip(self.ema, variables):
            average.assign(self.config.ema_decay * average + (1.0 - self.config.ema_decay) * value)
        return tf.stack([d_real, d_fake, recon, g_loss])

    # ---- several steps per call ----------------------------------------------------------------------------
    def _replicated_step(self, seed):
        """One step on every replica of the strategy, losses averaged (gradients are summed by the optimizer)."""
        per_replica = self.strategy.run(self.train_step, args=(seed,))
        return self.strategy.reduce("MEAN", per_replica, axis=None)

    def _compile(self, mode: str):
        """``auto``: :func:`default_step_mode`; ``xla``: each step compiled whole by XLA, looped ``count`` times in
        one graph call; ``function``: the same loop as a plain graph; ``eager``: Python. Step ``k`` draws everything
        from the seed (config.seed, k), so a resumed run repeats exactly the draws of one that ran straight through.

        The loop stays outside XLA: on a 2-core CPU, XLA ran a while-loop of this step compiled whole at about
        2.4 s per step against 0.09 s for the step compiled alone, so only the step is handed to XLA."""
        if mode == "auto":
            mode = default_step_mode()
        if mode not in ("xla", "function", "eager"):
            raise ArgumentError(f"unknown step mode {mode!r}: auto, xla, function or eager")
        if self.config.distribute:
            step = self._replicated_step
        elif mode == "xla":
            step = tf.function(self.train_step, jit_compile=True)
        else:
            step = self.train_step

        def steps(count):
            total = tf.zeros([len(LOSS_NAMES)])
            for _ in tf.range(count):
                total += tf.cast(step(tf.stack([tf.cast(self.config.seed, tf.int64), self.step])), tf.float32)
                self.step.assign_add(1)
            return total / tf.cast(count, tf.float32)

        if mode != "eager":
            steps = tf.function(steps, reduce_retracing=True)
        return lambda count: steps(tf.constant(count, tf.int32))

    # ---- state ---------------------------------------------------------------------------------------------
    def state(self) -> dict[str, list]:
        """Every variable a resumed run needs, by group, in a fixed order."""
        return {
            "generator": self.generator.weights,
            "discriminator": self.discriminator.weights,
            "decoder_whole": self.decoder_whole.weights,
            "decoder_part": self.decoder_part.weights,
            "g_optimizer": self.g_optimizer.variables,
            "d_optimizer": self.d_optimizer.variables,
            "ema": self.ema,
            "step": [self.step],
        }

    def generator_state(self) -> dict[str, list]:
        """What sampling needs: the generator's weights and their running averages (empty without EMA)."""
        return {"generator": self.generator.weights, "ema": self.ema}

    def generate(self, z: np.ndarray, condition: np.ndarray, batch: int = 256) -> np.ndarray:
        """Images in [0, 1], (n, 64, 64), from the generator in inference mode."""
        out = [
            self.generator([z[i : i + batch], condition[i : i + batch]], training=False)
            for i in range(0, len(z), batch)
        ]
        images = np.concatenate([np.asarray(o, np.float32) for o in out]) if out else np.zeros((0, *SLICE_SHAPE, 1))
        return np.clip((images[..., 0] + 1.0) / 2.0, 0.0, 1.0)
