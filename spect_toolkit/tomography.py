"""Parallel-beam tomography on the slice grid: the projector and the filtered back-projection the phantom
reconstructs with, and the linear maps that carry count noise on the projections into an image.

Two stages use it: the phantom, to acquire and reconstruct its exports, and the GAN, whose optional
reconstruction noise (:class:`spect_toolkit.gan.networks.ReconstructionNoise`) is the phantom's own noise model.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse

PROTOCOL_VIEWS = 90  # over 360 degrees, as the paper's protocol (continuous rotation, 90 views)
HANN_CUTOFF = 1.0  # the ramp filter's Hann window cut-off, as a fraction of Nyquist


@lru_cache(maxsize=4)
def projector(matrix: int, views: int, arc: float = 2 * np.pi) -> sparse.csr_matrix:
    """Parallel-beam projector (pixel-driven, linear interpolation between bins) over ``arc`` radians as a sparse
    matrix. Maps a flattened ``[row, col]`` slice to a flattened ``[view, bin]`` sinogram."""
    centre = (matrix - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(matrix) - centre, np.arange(matrix) - centre, indexing="ij")
    x, y = cols.ravel(), rows.ravel()
    pixel = np.arange(matrix * matrix)
    r_idx, c_idx, vals = [], [], []
    for v, theta in enumerate(np.linspace(0.0, arc, views, endpoint=False)):
        s = x * np.cos(theta) + y * np.sin(theta) + centre
        lo = np.floor(s).astype(int)
        frac = s - lo
        for b, w in ((lo, 1.0 - frac), (lo + 1, frac)):
            ok = (b >= 0) & (b < matrix) & (w > 0)
            r_idx.append(v * matrix + b[ok])
            c_idx.append(pixel[ok])
            vals.append(w[ok])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
        shape=(views * matrix, matrix * matrix),
    )


@lru_cache(maxsize=4)
def ramp_hann(matrix: int, cutoff: float) -> np.ndarray:
    """The Hann-windowed ramp's frequency response for projections of ``matrix`` bins zero-padded to twice that."""
    # The ramp is built in the spatial domain (Kak & Slaney, eq. 61) and then transformed: a ramp sampled
    # directly in frequency has no DC term and biases the whole image.
    n = 2 * matrix
    offsets = np.fft.fftfreq(n, d=1.0 / n).astype(int)
    kernel = np.zeros(n)
    kernel[offsets == 0] = 0.25
    odd = offsets % 2 == 1
    kernel[odd] = -1.0 / (np.pi * offsets[odd]) ** 2
    ramp = np.real(np.fft.rfft(kernel))
    nyquist_fraction = np.fft.rfftfreq(n) / 0.5
    window = np.where(nyquist_fraction <= cutoff, 0.5 * (1 + np.cos(np.pi * nyquist_fraction / cutoff)), 0.0)
    return ramp * window


def ramp_filter(sinograms: np.ndarray, cutoff: float = HANN_CUTOFF) -> np.ndarray:
    """Each projection (the last axis) filtered with the Hann-windowed ramp."""
    bins = sinograms.shape[-1]
    spectrum = np.fft.rfft(sinograms, n=2 * bins, axis=-1) * ramp_hann(bins, cutoff)
    return np.fft.irfft(spectrum, axis=-1)[..., :bins]


def filtered_back_projection(sinograms: np.ndarray, cutoff: float = HANN_CUTOFF) -> np.ndarray:
    """Filtered back-projection of 360-degree sinograms ``(slices, views, bins)``; returns ``(slices, rows, cols)``."""
    nz, views, bins = sinograms.shape
    filtered = ramp_filter(sinograms, cutoff)
    image = (projector(bins, views).T @ filtered.reshape(nz, -1).T).T
    # 360-degree data: every line is measured twice, hence pi / views rather than pi / (views / 2)
    return (image * np.pi / views).reshape(nz, bins, bins)


@lru_cache(maxsize=2)
def noise_operators(matrix: int, views: int = PROTOCOL_VIEWS, cutoff: float = HANN_CUTOFF):
    """Dense maps ``(line_sums, reconstruct)``, both float32, for count noise through a 360-degree acquisition.

    ``image @ line_sums`` gives each line's sum over a half rotation, ``(n, matrix**2) -> (n, lines)``; with
    ``sigma = sqrt(line sum / counts per unit)`` and white ``z``, ``(sigma * z) @ reconstruct`` is the image of the
    noise that :func:`filtered_back_projection` makes of Poisson counts. A 360-degree acquisition measures every
    line twice, from opposite sides, with independent noise; the two views' filtered back-projections are mirror
    images over the same line, so one half rotation whose lines carry the pair's summed variance (twice the line's)
    makes the same noise at half the size.
    """
    if views % 2:
        raise ValueError(f"views must be even (opposite views pair up), got {views}")
    half = projector(matrix, views // 2, np.pi)
    line_sums = half.T.toarray()
    filtered = ramp_filter(np.eye(matrix), cutoff)  # row b: the filtered projection of a unit count in bin b
    per_view = sparse.kron(sparse.identity(views // 2), sparse.csr_matrix(filtered))
    reconstruct = (per_view @ half).toarray() * (np.sqrt(2.0) * np.pi / views)
    return line_sums.astype(np.float32), reconstruct.astype(np.float32)
