"""SPECT acquisition and reconstruction physics for the phantom: blur, projection, count noise, FBP.

Noise is drawn on the projections (Poisson) and carried through a filtered back-projection, so the image gets
the streaky, spatially correlated texture of a real reconstruction instead of white noise. Attenuation and
scatter are taken as corrected (QSPECT corrects both), so they are not simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage, sparse

from ..template import fwhm_to_sigma


@dataclass(frozen=True)
class Scanner:
    matrix: int = 64
    pixel_mm: float = 4.42
    views: int = 90  # over 360 degrees, as the paper's protocol (continuous rotation, 90 views)
    # With the 4 mm anti-alias smoothing of the anatomy these give a point-source FWHM of about 12.3 mm
    # in-plane and 12.4 mm axially (tests/test_phantom.py measures it).
    psf_fwhm_mm: float = 7.0  # collimator/detector blur before projection
    hann_cutoff: float = 1.0  # Hann window cut-off as a fraction of Nyquist (in-plane)
    axial_filter_fwhm_mm: float = 10.0  # post-filter along z, so the axial resolution matches the in-plane one


@lru_cache(maxsize=4)
def projector(matrix: int, views: int) -> sparse.csr_matrix:
    """Parallel-beam projector (pixel-driven, linear interpolation between bins) as a sparse matrix.

    Maps a flattened ``[row, col]`` slice to a flattened ``[view, bin]`` sinogram.
    """
    centre = (matrix - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(matrix) - centre, np.arange(matrix) - centre, indexing="ij")
    x, y = cols.ravel(), rows.ravel()
    pixel = np.arange(matrix * matrix)
    r_idx, c_idx, vals = [], [], []
    for v, theta in enumerate(np.linspace(0.0, 2 * np.pi, views, endpoint=False)):
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
def _ramp_hann(matrix: int, cutoff: float) -> np.ndarray:
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


def project(volume: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Sinograms ``(slices, views, bins)`` of a volume ``(slices, rows, cols)`` in voxel units."""
    a = projector(scanner.matrix, scanner.views)
    nz = volume.shape[0]
    sino = a @ volume.reshape(nz, -1).T
    return sino.T.reshape(nz, scanner.views, scanner.matrix)


def fbp(sinograms: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Filtered back-projection with a Hann-windowed ramp; returns ``(slices, rows, cols)``."""
    nz, views, bins = sinograms.shape
    spectrum = np.fft.rfft(sinograms, n=2 * bins, axis=-1) * _ramp_hann(bins, scanner.hann_cutoff)
    filtered = np.fft.irfft(spectrum, axis=-1)[..., :bins]
    a = projector(scanner.matrix, scanner.views)
    image = (a.T @ filtered.reshape(nz, -1).T).T
    # 360-degree data: every line is measured twice, hence pi / views rather than pi / (views / 2)
    return (image * np.pi / views).reshape(nz, scanner.matrix, scanner.matrix)


def acquire_and_reconstruct(
    activity: np.ndarray, scanner: Scanner, total_counts: float, rng: np.random.Generator | None
) -> np.ndarray:
    """Blur, project, draw Poisson counts (``rng=None``: noiseless), reconstruct; returns the activity's units."""
    blurred = ndimage.gaussian_filter(activity, fwhm_to_sigma(scanner.psf_fwhm_mm) / scanner.pixel_mm)
    sino = project(blurred, scanner)
    expected_total = float(sino.sum())
    if expected_total <= 0:
        return np.zeros_like(activity)
    counts_per_unit = total_counts / expected_total
    if rng is not None:
        sino = rng.poisson(sino * counts_per_unit) / counts_per_unit
    recon = fbp(sino, scanner)
    recon = ndimage.gaussian_filter1d(recon, fwhm_to_sigma(scanner.axial_filter_fwhm_mm) / scanner.pixel_mm, axis=0)
    return np.clip(recon, 0.0, None).astype(np.float32)
