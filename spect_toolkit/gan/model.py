"""The conditional FastGAN of one run: networks, optimizers, the generator's running average and the step
counter, on whichever Keras backend runs (TensorFlow or JAX; see :mod:`spect_toolkit.backend`). The training
step itself is :mod:`.tensorflow_step`'s or :mod:`.jax_step`'s; both compute :mod:`.step`'s arithmetic."""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from ..backend import BACKENDS
from ..errors import ArgumentError
from ..vocabulary import SLICE_SHAPE
from .conditions import ConditionSpace
from .config import GanConfig
from .field_of_view import field_of_view_masks, grid_poses, mask_bank
from .fused import FusedAdam
from .networks import build_networks
from .step import LOSS_NAMES

__all__ = ["FastGAN", "TrainingSet", "LOSS_NAMES", "balanced_logits", "engine"]


@dataclass(frozen=True)
class TrainingSet:
    """Max-normalised slices in [0, 1] with their neighbours, conditional vectors and flip permission."""

    slices: np.ndarray
    below: np.ndarray
    above: np.ndarray
    condition: np.ndarray
    flip_allowed: np.ndarray

    @classmethod
    def from_arrays(cls, slices, below, above, levels, patterns, space: ConditionSpace, sides=None) -> TrainingSet:
        """``sides``: each slice's side (the manifest's column), read where ``space`` has sides."""

        def by_max(images):
            images = np.asarray(images, np.float32)
            peak = images.reshape(len(images), -1).max(axis=1)
            return images / np.where(peak > 0, peak, 1.0)[:, None, None]

        condition = space.vectors(levels, patterns, sides)
        return cls(by_max(slices), by_max(below), by_max(above), condition, space.mirror_allowed(patterns))

    def __len__(self) -> int:
        return len(self.slices)

    def device_arrays(self, balanced_patterns: bool = False) -> dict[str, np.ndarray]:
        """What a training step reads, by name; with ``balanced_patterns`` also the draw's log-probabilities."""
        arrays = {k: getattr(self, k) for k in ("slices", "below", "above", "condition", "flip_allowed")}
        if balanced_patterns:
            arrays["draw_logits"] = balanced_logits(self.condition[:, -3:].argmax(axis=1))
        return arrays


def balanced_logits(pattern_index: np.ndarray) -> np.ndarray:
    """Log-probabilities that draw every pattern present equally often: 1 / (patterns x slices of its pattern)."""
    counts = np.bincount(pattern_index, minlength=3).astype(np.float64)
    weight = 1.0 / (np.count_nonzero(counts) * counts[pattern_index])
    return np.log(weight).astype(np.float32)


def engine():
    """The step module of the running Keras backend (:mod:`.tensorflow_step` or :mod:`.jax_step`)."""
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ArgumentError(f"the GAN runs on Keras' {' or '.join(BACKENDS)} backend, not {backend!r}")
    return importlib.import_module(f"{__package__}.{backend}_step")


class FastGAN:
    """Networks, optimizers and the compiled training step of one run."""

    def __init__(self, config: GanConfig, space: ConditionSpace, data: TrainingSet | None = None, mode: str = "auto"):
        self.config, self.space = config, space
        steps = engine()
        self.strategy = steps.strategy(config)  # TensorFlow's distribution strategy; None on JAX
        keras.utils.set_random_seed(config.seed)  # same seed, same initial weights, same first losses
        policy = keras.mixed_precision.global_policy()
        if config.precision != "float32":
            keras.mixed_precision.set_global_policy(f"mixed_{config.precision}")
        try:
            with self.strategy.scope() if self.strategy else contextlib.nullcontext():
                nets = build_networks(config, space.size)
                self.generator, self.discriminator = nets["generator"], nets["discriminator"]
                self.decoder_whole, self.decoder_part = nets["decoder_whole"], nets["decoder_part"]
                self.g_optimizer, self.d_optimizer = (self._optimizer(rate) for rate in config.learning_rates_at(1))
                self.d_variables = [
                    v
                    for m in (self.discriminator, self.decoder_whole, self.decoder_part)
                    for v in m.trainable_variables
                ]
                self.g_optimizer.build(self.generator.trainable_variables)
                self.d_optimizer.build(self.d_variables)
                # From a copy: on TensorFlow a Keras variable made from another's value shares its buffer, and
                # the average would be the weights themselves.
                self.ema = (
                    [
                        keras.Variable(ops.convert_to_numpy(v), trainable=False, name=f"ema_{i}")
                        for i, v in enumerate(self.generator.trainable_variables)
                    ]
                    if config.ema_decay
                    else []
                )
                self.step = keras.Variable(0, dtype="int32", trainable=False, name="step")
                if data is not None and config.reconstruction_field_of_view:
                    self._fill_field_of_view(data)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        self.train_steps = (
            None if data is None else steps.Steps(self, data.device_arrays(config.balanced_patterns), mode)
        )

    def _fill_field_of_view(self, data: TrainingSet) -> None:
        """The generator's field-of-view masks, drawn from the training slices level by level, and with
        ``reconstruction_grid_pose`` their grids' poses (a resumed or loaded run reads both back from its
        checkpoint)."""
        inside = field_of_view_masks(data.slices, data.below, data.above)
        bank = mask_bank(inside, self.space.level_index(data.condition), len(self.space.levels), self.config.seed)
        layer = self.generator.get_layer("output_reconstruction")
        layer.field_of_view.assign(bank)
        if layer.grid_pose:
            layer.grid_poses.assign(grid_poses(bank.reshape(-1, *bank.shape[2:]) > 0).reshape(*bank.shape[:2], -1))

    def _optimizer(self, learning_rate: float):
        c = self.config
        optimizer = FusedAdam(learning_rate, beta_1=c.beta_1, beta_2=c.beta_2)
        # float16 needs its loss scaled against underflow; bfloat16 has float32's range
        return keras.optimizers.LossScaleOptimizer(optimizer) if c.precision == "float16" else optimizer

    def set_learning_rate(self, generator: float, discriminator: float | None = None) -> None:
        """The optimizers' learning rates (the discriminator's the generator's unless given), read by the compiled
        step at its next call (a variable, not a constant, on either backend)."""
        self.g_optimizer.learning_rate.assign(generator)
        self.d_optimizer.learning_rate.assign(generator if discriminator is None else discriminator)

    @property
    def steps_done(self) -> int:
        return int(self.step.numpy())

    # ---- state ---------------------------------------------------------------------------------------------
    def state(self) -> dict[str, list]:
        """Every variable a resumed run needs, by group, in a fixed order (the same on every backend)."""
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
        images = (
            np.concatenate([ops.convert_to_numpy(o).astype(np.float32) for o in out])
            if out
            else np.zeros((0, *SLICE_SHAPE, 1))
        )
        return np.clip((images[..., 0] + 1.0) / 2.0, 0.0, 1.0)
