"""The training step on JAX: the same step as :mod:`.tensorflow_step` (the arithmetic is :mod:`.step`'s), written
as a pure function of the run's state and compiled by XLA.

The state (every variable's value) lives on the device between calls; the Keras variables are written back
after each call, so checkpoints, sampling and the step counter read them as on TensorFlow. The slice store goes
to the device once. Modes: ``xla`` compiles one step and loops in Python (on the CPU, XLA runs a loop of steps
compiled whole many times slower than the steps one by one); ``xla-loop`` compiles ``count`` steps into one call
(a ``fori_loop``), which spares a GPU a launch per step. ``auto`` takes ``xla-loop`` on a GPU, ``xla`` otherwise.
Losses are summed on the device and fetched once per call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from ..errors import ArgumentError
from . import step
from .step import LOSS_NAMES

MODES = ("auto", "xla", "xla-loop")


class JaxDraws:
    """:class:`~.step.Draws` from a JAX key."""

    def __init__(self, key):
        self.key = key

    def split(self, count):
        return [JaxDraws(k) for k in jax.random.split(self.key, count)]

    def uniform(self, shape, low=0.0, high=1.0):
        return jax.random.uniform(self.key, tuple(shape), minval=low, maxval=high)

    def integers(self, shape, low, high):
        return jax.random.randint(self.key, tuple(shape), low, high, dtype=jnp.int32)

    def normal(self, shape):
        return jax.random.normal(self.key, tuple(shape))

    def categorical(self, logits, count):
        return jax.random.categorical(self.key, logits, shape=(count,)).astype(jnp.int32)


def on_gpu() -> bool:
    return jax.default_backend() in ("gpu", "cuda", "rocm")


def default_mode() -> str:
    return "xla-loop" if on_gpu() else "xla"


def strategy(config):
    """JAX runs on one device here; ``tf.distribute`` is TensorFlow's."""
    if config.distribute:
        raise ArgumentError("--distribute (several GPUs) needs the TensorFlow backend")
    return None


def _is_variable(node) -> bool:
    return isinstance(node, keras.Variable)


class Steps:
    """``steps(count)``: ``count`` alternating D/G steps, their mean losses (4,), as on TensorFlow."""

    def __init__(self, gan, data, mode: str = "auto"):
        if mode not in MODES:
            raise ArgumentError(f"unknown step mode {mode!r} for JAX: {', '.join(MODES)}")
        if gan.config.precision == "float16":
            raise ArgumentError("float16 (loss-scaled) needs the TensorFlow backend; on JAX use bfloat16")
        self.gan, self.config = gan, gan.config
        self.mode = default_mode() if mode == "auto" else mode
        self.data = {k: jnp.asarray(v) for k, v in data.items()}
        self.d_models = (gan.discriminator, gan.decoder_whole, gan.decoder_part)
        one = jax.jit(self._step)
        self._run = jax.jit(self._loop, static_argnums=2) if self.mode == "xla-loop" else self._python_loop(one)

    # ---- the state, as a tree of arrays ----------------------------------------------------------------------
    def _variables(self) -> dict:
        """The run's Keras variables in the tree the step takes: generator, each discriminator model, optimizers."""
        gan = self.gan
        return {
            "g": gan.generator.trainable_variables,
            "g_fixed": gan.generator.non_trainable_variables,
            "d": [m.trainable_variables for m in self.d_models],
            "d_fixed": [m.non_trainable_variables for m in self.d_models],
            "g_opt": gan.g_optimizer.variables,
            "d_opt": gan.d_optimizer.variables,
            "ema": gan.ema,
            "step": gan.step,
        }

    def _state(self) -> dict:
        return jax.tree_util.tree_map(lambda v: v.value, self._variables(), is_leaf=_is_variable)

    def _write(self, state: dict) -> None:
        variables = jax.tree_util.tree_leaves(self._variables(), is_leaf=_is_variable)
        for variable, value in zip(variables, jax.tree_util.tree_leaves(state)):
            variable.assign(value)

    # ---- one step --------------------------------------------------------------------------------------------
    def _step(self, state: dict, data: dict) -> tuple[dict, jax.Array]:
        """One discriminator update, then one generator update against the updated discriminator."""
        gan, c = self.gan, self.config
        key = jax.random.fold_in(jax.random.PRNGKey(c.seed), state["step"])
        real_draws, z_draws, mirror_draws, d_draws, g_draws = step.step_draws(JaxDraws(key))
        real, y_real, flip = step.real_batch(data, c, real_draws)
        y_g, y_d = step.flagged_conditions(y_real, flip, c)  # the generator's and the discriminator's
        z = z_draws.normal([c.batch_size, c.latent_dim])

        def generate(g):
            images, fixed = gan.generator.stateless_call(g, state["g_fixed"], [z, y_g], training=True)
            return step.mirror_generated(images, y_real, c, mirror_draws, flip), fixed

        fake, pull_back, g_fixed = jax.vjp(generate, state["g"], has_aux=True)

        def d_objective(d, d_fixed):
            fixed = list(d_fixed)

            def call(i, inputs):
                out, fixed[i] = self.d_models[i].stateless_call(d[i], fixed[i], inputs, training=True)
                return out

            total, parts = step.discriminator_loss(
                c,
                lambda images, condition: call(0, [images, condition]),
                lambda f: call(1, f),
                lambda f: call(2, f),
                real,
                jax.lax.stop_gradient(fake),
                y_d,
                d_draws,
            )
            return total, (parts, fixed)

        d_grads, (parts, d_fixed) = jax.grad(d_objective, has_aux=True)(state["d"], state["d_fixed"])
        d_flat, d_opt = gan.d_optimizer.stateless_apply(state["d_opt"], _flat(d_grads), _flat(state["d"]))
        d = _unflat(d_flat, state["d"])

        def g_objective(images, fixed):
            def discriminate(x, condition):
                nonlocal fixed
                out, fixed = gan.discriminator.stateless_call(d[0], fixed, [x, condition], training=True)
                return out

            return step.generator_loss(c, discriminate, images, y_d, g_draws, real), fixed

        (g_loss, d0_fixed), image_grads = jax.value_and_grad(g_objective, has_aux=True)(fake, d_fixed[0])
        (g_grads,) = pull_back(image_grads)
        g, g_opt = gan.g_optimizer.stateless_apply(state["g_opt"], g_grads, state["g"])
        decay = step.ema_decay(c, state["step"])
        ema = [decay * a + (1.0 - decay) * v for a, v in zip(state["ema"], g)]
        new = dict(
            g=g,
            g_fixed=g_fixed,
            d=d,
            d_fixed=[d0_fixed, *d_fixed[1:]],
            g_opt=g_opt,
            d_opt=d_opt,
            ema=ema,
            step=state["step"] + 1,
        )
        return new, jnp.stack([*parts, g_loss]).astype(jnp.float32)

    # ---- several steps per call ----------------------------------------------------------------------------
    def _loop(self, state, data, count: int):
        def body(_, carry):
            state, total = carry
            state, values = self._step(state, data)
            return state, total + values

        return jax.lax.fori_loop(0, count, body, (state, jnp.zeros(len(LOSS_NAMES), jnp.float32)))

    @staticmethod
    def _python_loop(one):
        def run(state, data, count):
            total = jnp.zeros(len(LOSS_NAMES), jnp.float32)
            for _ in range(count):
                state, values = one(state, data)
                total = total + values  # stays on the device: no wait for each step
            return state, total

        return run

    def __call__(self, count: int) -> np.ndarray:
        state, total = self._run(self._state(), self.data, count)
        self._write(state)
        return np.asarray(total) / count


def _flat(groups: list[list]) -> list:
    return [v for group in groups for v in group]


def _unflat(flat: list, like: list[list]) -> list[list]:
    out, start = [], 0
    for group in like:
        out.append(list(flat[start : start + len(group)]))
        start += len(group)
    return out
