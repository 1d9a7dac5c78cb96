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


def spectrum(fake, real):
    """Mean squared difference of the batches' log ring spectra: generators built of up-sampling and convolutions
    put too much power at the finest scales (Durall et al., CVPR 2020), which a spectrum of the batch shows and
    one slice judged at a time barely does."""
    fake_log, real_log = (ops.log(ops.mean(ring_power(x), axis=0) + 1e-8) for x in (fake, real))
    return ops.mean(ops.square(fake_log - ops.stop_gradient(real_log)))
