"""The paper's losses (Eqs. 1-5), with reconstruction as L1 (FastGAN's LPIPS weights cannot be fetched here)."""

from __future__ import annotations

from functools import cache

import numpy as np
from keras import ops


def hinge_real(logits, margin=1.0):
    """Eq. 2: ``-E[min(0, -margin + D(x))]``; FastGAN's code draws ``margin`` from U(0.8, 1)."""
    return ops.mean(ops.relu(margin - logits))


def hinge_fake(logits, margin=1.0):
    """Eq. 3: ``-E[min(0, -margin - D(G(z|y)))]``."""
    return ops.mean(ops.relu(margin + logits))


def generator_loss(fake_logits):
    """Eq. 1: ``-E[D(G(z|y))]``."""
    return -ops.mean(fake_logits)


def reconstruction(decoded_part, target_part, decoded_whole, target_whole):
    """Eq. 4 on real images only: the crop decoded from B1 against the same crop of the image, and the
    whole image decoded from B2 against the image (L1 each)."""
    return ops.mean(ops.abs(decoded_part - target_part)) + ops.mean(ops.abs(decoded_whole - target_whole))


@cache
def _ring_means(size: int) -> np.ndarray:
    """(size * size, rings): averages a flattened power spectrum over rings of whole cycles per image, 1, 2, ...
    (the constant term left out: it is the mean intensity, not a scale)."""
    frequency = np.fft.fftfreq(size) * size
    ring = np.rint(np.hypot(*np.meshgrid(frequency, frequency, indexing="ij"))).astype(int).ravel()
    means = np.zeros((size * size, ring.max()), np.float32)
    for r in range(1, ring.max() + 1):
        means[ring == r, r - 1] = 1.0 / np.count_nonzero(ring == r)
    return means


def ring_power(images):
    """The power spectrum of each (n, H, W, 1) image averaged over rings of equal frequency: (n, rings)."""
    x = ops.cast(images[..., 0], "float32")
    real, imaginary = ops.fft2((x, ops.zeros_like(x)))
    power = ops.reshape(real * real + imaginary * imaginary, (ops.shape(x)[0], -1))
    return ops.matmul(power, _ring_means(images.shape[1]))


def edge_depth(shape: tuple[int, int]) -> np.ndarray:
    """How many pixels each pixel of a ``shape`` slice lies in from its nearest edge: the square rings 0, 1, ..."""
    row, column = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.minimum(np.minimum(row, shape[0] - 1 - row), np.minimum(column, shape[1] - 1 - column))


@cache
def edge_ring_indicator(size: int, rings: int) -> np.ndarray:
    """(size * size, rings): 1 where a flattened pixel lies in square ring 0 .. rings - 1 in from the edge, else 0
    (pixels further in have a row of zeros)."""
    return (edge_depth((size, size)).reshape(-1, 1) == np.arange(rings)).astype(np.float32)


@cache
def _edge_ring_means(size: int, rings: int) -> np.ndarray:
    """(size * size, rings): averages a flattened slice over its square rings 0 .. rings - 1 in from the edge."""
    indicator = edge_ring_indicator(size, rings)
    return indicator / indicator.sum(axis=0)


def edge_profile(fake, real, rings: int):
    """Mean squared difference of the batches' log mean counts (in units of the peak) in each of the outermost
    ``rings`` rings of pixels. One generated slice's border is a hundredth of its peak and noisy; a batch's mean
    of it is steady, and scored alone told data set A's generated slices from held-out ones (AUC 0.80-0.86)."""

    def profile(images):
        counts = ops.reshape((ops.cast(images[..., 0], "float32") + 1.0) / 2.0, (ops.shape(images)[0], -1))
        return ops.log(ops.mean(ops.matmul(counts, _edge_ring_means(images.shape[1], rings)), axis=0) + 1e-6)

    return ops.mean(ops.square(profile(fake) - ops.stop_gradient(profile(real))))


def log_left_right(images):
    """Each (n, H, W, 1) slice's log ratio of the counts in the image's left half of columns to its right half,
    split at the canonical grid's midline, where the evaluation splits the hemispheres: (n,). The image's left is
    the patient's right, so this is minus the log of the evaluation's LR, without its head mask (the two correlate
    at -0.97 on data set A's training slices)."""
    counts = (ops.cast(images[..., 0], "float32") + 1.0) / 2.0
    half = images.shape[2] // 2
    left, right = (ops.sum(part, axis=(1, 2)) for part in (counts[:, :, :half], counts[:, :, half:]))
    return ops.log(left + 1e-6) - ops.log(right + 1e-6)


def lean(fake, real, patterns):
    """Mean squared difference of the batches' mean and root-mean-square log left/right ratio
    (:func:`log_left_right`) in each pattern a batch holds; ``patterns`` is the (n, 3) one-hot both batches share.

    The mean is the set's lean: a discriminator that judges one slice at a time barely feels a generator whose
    slices all lean the same way (data set A's left/right bias). The root mean square is the depth of the
    asymmetry: generated normal slices lean 1.6-2.7 times as far as real ones, and generated unilateral defects
    are shallower. On data set A neither moved toward the real ones more than without the loss at weight 100, with
    or without the paper's flip, and at 300 and above the generator fails: both batches' moments are estimates from
    about 11 slices a pattern, and two real batches already differ by 0.001 in this loss (docs/reproduction.md,
    docs/scripts/lean_floor.py)."""
    members = ops.cast(patterns, "float32")
    count = ops.sum(members, axis=0)

    def moments(images):
        ratio = log_left_right(images)[None]
        mean = ops.matmul(ratio, members)[0] / ops.maximum(count, 1.0)
        root_mean_square = ops.sqrt(ops.matmul(ops.square(ratio), members)[0] / ops.maximum(count, 1.0) + 1e-8)
        return ops.concatenate([mean, root_mean_square])

    present = ops.tile(ops.cast(count > 0, "float32"), [2])
    difference = moments(fake) - ops.stop_gradient(moments(real))
    return ops.sum(present * ops.square(difference)) / ops.maximum(ops.sum(present), 1.0)


def spectrum(fake, real):
    """Mean squared difference of the batches' log ring spectra: generators built of up-sampling and convolutions
    put too much power at the finest scales (Durall et al., CVPR 2020), which a spectrum of the batch shows and
    one slice judged at a time barely does."""
    fake_log, real_log = (ops.log(ops.mean(ring_power(x), axis=0) + 1e-8) for x in (fake, real))
    return ops.mean(ops.square(fake_log - ops.stop_gradient(real_log)))
