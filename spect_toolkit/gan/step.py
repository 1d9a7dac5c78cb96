"""One training step's arithmetic, the same on every backend: what is drawn, how a real batch is made and
augmented, and how the losses are put together. Only the gradients and the updates are backend-specific
(:mod:`.tensorflow_step`, :mod:`.jax_step`); both call these functions.

Random draws come from a :class:`Draws` (stateless: every draw is a function of a seed), so step ``k`` of a run
draws the same batch whether it runs straight through or after a resume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from keras import ops

from ..vocabulary import PATTERNS, SLICE_SHAPE
from . import augment, losses
from .conditions import LEFT_COLUMN, NORMAL_COLUMN, RIGHT_COLUMN, UNILATERAL_COLUMN
from .config import EDGE_RINGS, GanConfig

LOSS_NAMES = ("d_real", "d_fake", "recon", "g_loss")
FEATURE_CROP = 8  # half of B1's 16x16; the image crop is 4 times larger
CUTOUT_SIZE = 32  # pixels, half the image (DiffAugment's cutout)


class Draws(Protocol):
    """Stateless random numbers from one seed (TensorFlow's stateless ops, or a JAX key)."""

    def split(self, count: int) -> list[Draws]: ...
    def uniform(self, shape, low: float = 0.0, high: float = 1.0): ...
    def integers(self, shape, low: int, high: int): ...  # in [low, high)
    def normal(self, shape): ...
    def categorical(self, logits, count: int): ...  # ``count`` indices drawn with probabilities softmax(logits)


def crop(images, corner, size: int):
    """A ``size`` x ``size`` window at ``corner`` (row, column), by gathers: the gradient of a slice at a
    drawn offset is a pad by that offset, which XLA would compile anew for every offset."""
    rows = ops.take(images, corner[0] + ops.arange(size, dtype="int32"), axis=1)
    return ops.take(rows, corner[1] + ops.arange(size, dtype="int32"), axis=2)


def real_batch(data: dict, config: GanConfig, draws: Draws):
    """A batch of augmented real slices in [-1, 1], (n, 64, 64, 1), with their condition vectors and which of
    them the flip mirrored, (n,) booleans.

    ``data`` holds the training set on the device: slices, below, above, condition, flip_allowed, and
    draw_logits where patterns are drawn balanced."""
    n, s = config.batch_size, draws.split(5)
    if config.balanced_patterns:  # each pattern equally likely, each slice equally likely within it
        index = s[0].categorical(data["draw_logits"], n)
    else:
        index = s[0].integers([n], 0, ops.shape(data["slices"])[0])
    pick = lambda key: ops.take(data[key], index, axis=0)  # noqa: E731
    # never where the flip is off; the stream is drawn alike, so a run's other draws stay the same
    flip = ops.logical_and(s[4].uniform([n]) < (0.5 if config.flip_real_slices else 0.0), pick("flip_allowed"))
    real = augment.augment_real(
        pick("slices"),
        pick("below"),
        pick("above"),
        pick("flip_allowed"),
        weight=s[1].uniform([n]),
        use_above=s[2].uniform([n]) < 0.5,
        shift=s[3].integers([n], -config.ap_shift, config.ap_shift + 1),
        flip=flip,
    )
    condition = pick("condition")
    if config.side_condition:
        condition = ops.where(flip[:, None], mirrored_sides(condition), condition)
    return real[..., None] * 2.0 - 1.0, condition, flip


def flagged_conditions(condition, flip, config: GanConfig):
    """The generator's and the discriminator's condition vectors for a batch whose real slices ``flip`` mirrored.

    Without ``config.flip_flag`` both are the real batch's. With it the generator is asked for each slice as it lay
    (before the flip moved its side), and the discriminator gets the real batch's condition and a last column, 1
    where the slice was mirrored: the real and generated slices are mirrored alike (:func:`mirror_generated`), so
    the flag tells the discriminator nothing about which is real, and a generator whose slices as they lie lack the
    training slices' lean can be told apart by it."""
    if not config.flip_flag:
        return condition, condition
    # swapping the sides again gives the side the slice lay on; without sides a mirror keeps the condition
    as_lain = ops.where(flip[:, None], mirrored_sides(condition), condition) if config.side_condition else condition
    return as_lain, ops.concatenate([condition, ops.cast(flip[:, None], condition.dtype)], axis=1)


def mirrored_sides(condition):
    """Condition vectors with their left and right columns swapped: the condition of a mirrored slice."""
    left, right = condition[:, LEFT_COLUMN:RIGHT_COLUMN], condition[:, RIGHT_COLUMN : RIGHT_COLUMN + 1]
    return ops.concatenate([condition[:, :LEFT_COLUMN], right, left, condition[:, RIGHT_COLUMN + 1 :]], axis=1)


def mirror_channel(images, config: GanConfig):
    """With ``config.discriminator_mirror_channel``, each slice's difference from its own left-right mirror as a
    second channel, (n, 64, 64, 1) -> (n, 64, 64, 2); otherwise the slices as they are.

    The mirror is about the canonical grid's midline (between columns 31 and 32, where the evaluation splits the
    hemispheres). A generated normal slice leans two to three times as far to one side as a real one
    (docs/reproduction.md): a left/right comparison a convolution would have to learn across the whole slice is
    here a pixel's own value. With ``config.discriminator_mirror_smoothing`` the difference is averaged over a
    k x k window, which keeps the lean and smooths the noise's texture away. Neither form is fit for use: with
    either, the discriminator wins outright on data set A (docs/reproduction.md)."""
    if not config.discriminator_mirror_channel:
        return images
    difference = images - ops.flip(images, axis=2)
    if config.discriminator_mirror_smoothing:  # a symmetric window: the mean of the difference is the difference
        k = config.discriminator_mirror_smoothing  # of the means, still antisymmetric about the midline
        difference = ops.average_pool(difference, k, strides=1, padding="same")
    return ops.concatenate([images, difference], axis=-1)


def coordinate_channels(shift_ap, shift_lr):
    """Each pixel's row and column on the canonical grid before a translation by ``shift_ap`` / ``shift_lr`` pixels,
    as two channels (n, 64, 64, 2) scaled to [-1, 1] across the slice (CoordConv's), continued past its edge where
    the translation moved the border in.

    DiffAugment's translation moves real and generated slices alike, so what the discriminator sees of a slice
    does not show where on the grid its head lay: a generated head a pixel off the midline (a left/right ratio 8 %
    off, docs/reproduction.md) looks like a real one moved. The coordinates move with the slice and show it."""
    size = SLICE_SHAPE[0]
    centre, half = (size - 1) / 2.0, size / 2.0  # the midline between columns 31 and 32
    index = ops.arange(size, dtype="float32")[None, :]
    rows = (index - ops.cast(ops.reshape(shift_ap, (-1, 1)), "float32") - centre) / half
    columns = (index - ops.cast(ops.reshape(shift_lr, (-1, 1)), "float32") - centre) / half
    shape = (ops.shape(rows)[0], size, size)
    return ops.stack([ops.broadcast_to(rows[:, :, None], shape), ops.broadcast_to(columns[:, None, :], shape)], axis=-1)


def discriminator_channels(images, config: GanConfig):
    """The channels the discriminator sees of slices (n, 64, 64, 1) that no augmentation moved: the slices, the
    mirror difference (:func:`mirror_channel`) and, with ``config.discriminator_coordinates``, the grid's
    coordinates."""
    still = ops.zeros([ops.shape(images)[0]], "int32")
    return _with_coordinates(mirror_channel(images, config), config, still, still)


def _with_coordinates(view, config: GanConfig, shift_ap, shift_lr):
    """``view`` with the grid's coordinates after a translation by ``shift_ap`` / ``shift_lr`` appended, where
    ``config.discriminator_coordinates`` asks for them."""
    if not config.discriminator_coordinates:
        return view
    return ops.concatenate([view, ops.cast(coordinate_channels(shift_ap, shift_lr), view.dtype)], axis=-1)


def discriminator_view(images, config: GanConfig, draws: Draws):
    """What the discriminator sees of a batch: DiffAugment where the configuration asks for it, and the channels of
    :func:`discriminator_channels`: the mirror channel taken after the colour and before the translation, so that it
    is the augmented slice's own difference about the midline and moves with it; the coordinates say where on the
    grid each pixel lay before the translation moved it."""
    if not config.diff_augment:
        return discriminator_channels(images, config)
    if config.diff_augment_cutout:  # a stream of its own only where asked for: a run without it draws as before
        draws, cut = draws.split(2)
    if config.diff_augment_translation_probability < 1.0:  # likewise
        draws, chance = draws.split(2)
    n, s = ops.shape(images)[0], draws.split(4)
    reach = config.diff_augment_translation  # 0 still draws (zeros), so the streams stay split alike
    shift = lambda k: s[k].integers([n], -reach, reach + 1)  # noqa: E731
    images = images[..., 0]
    if config.diff_augment_colour:  # without it the streams stay split alike: the translations are the same
        images = augment.colour(images, s[0].uniform([n], -0.5, 0.5), s[1].uniform([n], 0.5, 1.5))
    channels = mirror_channel(images[..., None], config)
    shift_ap, shift_lr = shift(2), shift(3)
    if config.diff_augment_translation_probability < 1.0:
        moved = chance.uniform([n]) < config.diff_augment_translation_probability
        shift_ap, shift_lr = (ops.where(moved, k, ops.zeros_like(k)) for k in (shift_ap, shift_lr))
    # the image's empty border and no difference there, or each channel's own border mirrored in
    backgrounds = ("reflect",) * 2 if config.diff_augment_translation_fill == "reflect" else (-1.0, 0.0)
    channels = [
        augment.translate(channels[..., k], shift_ap, shift_lr, backgrounds[k]) for k in range(channels.shape[-1])
    ]
    if config.diff_augment_cutout:  # the slice's content hidden; where each pixel lay is not content
        centre = cut.split(2)
        length = ops.shape(images)[1]
        row, column = centre[0].integers([n], 0, length), centre[1].integers([n], 0, length)
        channels = [augment.cutout(channel, row, column, CUTOUT_SIZE) for channel in channels]
    return _with_coordinates(ops.stack(channels, axis=-1), config, shift_ap, shift_lr)


def mirror_generated(images, condition, config: GanConfig, draws: Draws, flip=None):
    """With ``config.mirror_generated``, each generated slice of a normal or bilateral condition mirrored
    left-right with probability 1/2, as the paper's augmentation mirrors the real ones. With ``config.flip_flag``,
    mirrored where the real batch's ``flip`` mirrored its slices (:func:`flagged_conditions`), in training only.

    The augmented real slices of those patterns are mirror-symmetric as a set; a generator judged one slice at a
    time is free to make every slice lean the same way, and does (data set A's left/right ratio). Mirrored at
    random, the generator's slices are a mirror-symmetric set by construction. It is part of the generator:
    applied before the discriminator in training and at sampling (:func:`~.generate.generate`)."""
    if config.flip_flag:
        return augment.flip_left_right(images[..., 0], flip)[..., None]
    if not config.mirror_generated:
        return images
    # with sides only a normal slice's mirror keeps its condition (ConditionSpace.mirror_keeps_condition)
    allowed = condition[:, NORMAL_COLUMN] > 0.5 if config.side_condition else condition[:, UNILATERAL_COLUMN] < 0.5
    flip = ops.logical_and(draws.uniform([ops.shape(images)[0]]) < 0.5, allowed)
    return augment.flip_left_right(images[..., 0], flip)[..., None]


def margin(config: GanConfig, draws: Draws):
    """The hinge margin: 1, or FastGAN's U(0.8, 1) per image."""
    return draws.uniform([config.batch_size, 1], 0.8, 1.0) if config.random_margin else 1.0


def ema_decay(config: GanConfig, steps_done):
    """The generator average's decay for the update after ``steps_done`` steps: ``config.ema_decay``, capped by
    (1 + n) / (10 + n) early on (``tf.train.ExponentialMovingAverage``'s ``num_updates`` rule).

    Uncapped, 0.999 still holds 37 % of the untrained weights after 1000 steps, and a run of a few thousand steps
    at batch 32 samples a blur of its own start; capped, the average follows the weights until the cap passes
    0.999 (step 8991) and is FastGAN's plain average after."""
    n = ops.cast(steps_done, "float32")
    return ops.minimum(config.ema_decay, (1.0 + n) / (10.0 + n))


Discriminate = Callable  # (images, condition) -> (logits, B1, B2)
Decode = Callable  # features -> image


def discriminator_loss(
    config: GanConfig,
    discriminate: Discriminate,
    decode_whole: Decode,
    decode_part: Decode,
    real,
    fake,
    condition,
    draws: Draws,
):
    """The discriminator's objective (Eqs. 2-4) and its parts ``(d_real, d_fake, recon)``; ``fake`` must
    carry no gradient to the generator (the caller stops it)."""
    s = draws.split(5)
    logits_real, b1, b2 = discriminate(discriminator_view(real, config, s[0]), condition)
    logits_fake, _, _ = discriminate(discriminator_view(fake, config, s[1]), condition)
    corner = s[2].integers([2], 0, 16 - FEATURE_CROP + 1)
    recon = losses.reconstruction(
        decode_part(crop(b1, corner, FEATURE_CROP)), crop(real, 4 * corner, 4 * FEATURE_CROP), decode_whole(b2), real
    )
    d_real = losses.hinge_real(logits_real, margin(config, s[3]))
    d_fake = losses.hinge_fake(logits_fake, margin(config, s[4]))
    return d_real + d_fake + config.recon_weight * recon, (d_real, d_fake, recon)


def generator_loss(config: GanConfig, discriminate: Discriminate, fake, condition, draws: Draws, real):
    """The generator's objective (Eq. 1) against the discriminator as it is after its update; with
    ``config.spectrum_weight``, plus that times the distance of the batch's power spectrum from the real batch's;
    with ``config.edge_profile_weight``, plus that times the distance of its outermost rings' mean counts; with
    ``config.lean_weight``, plus that times the distance of its left/right ratios' moments per pattern."""
    logits, _, _ = discriminate(discriminator_view(fake, config, draws), condition)
    loss = losses.generator_loss(logits)
    if config.spectrum_weight:
        loss = loss + config.spectrum_weight * losses.spectrum(fake, real)
    if config.edge_profile_weight:
        loss = loss + config.edge_profile_weight * losses.edge_profile(fake, real, EDGE_RINGS)
    if config.lean_weight:  # the generated and real batch share their conditions, hence their patterns
        loss = loss + config.lean_weight * losses.lean(fake, real, condition[:, -len(PATTERNS) :])
    return loss


def step_draws(draws: Draws) -> tuple[Draws, Draws, Draws, Draws, Draws]:
    """The independent streams of one step: real batch, latent vectors, mirroring of the generated slices,
    discriminator, generator."""
    s = draws.split(5)
    return s[0], s[1], s[4], s[2], s[3]
