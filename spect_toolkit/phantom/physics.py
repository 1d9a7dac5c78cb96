"""SPECT acquisition and reconstruction physics for the phantom: blur, projection, count noise, FBP.

Noise is drawn on the projections (Poisson) and carried through a filtered back-projection, so the image gets
the streaky, spatially correlated texture of a real reconstruction instead of white noise. Attenuation and
scatter are taken as corrected (QSPECT corrects both), so they are not simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..template import fwhm_to_sigma
from ..tomography import HANN_CUTOFF, PROTOCOL_VIEWS, filtered_back_projection, projector


@dataclass(frozen=True)
class Scanner:
    matrix: int = 64
    pixel_mm: float = 4.42
    views: int = PROTOCOL_VIEWS
    # With the 4 mm anti-alias smoothing of the anatomy these give a point-source FWHM of about 12.3 mm
    # in-plane and 12.4 mm axially (tests/test_phantom.py measures it).
    psf_fwhm_mm: float = 7.0  # collimator/detector blur before projection
    hann_cutoff: float = HANN_CUTOFF  # in-plane
    axial_filter_fwhm_mm: float = 10.0  # post-filter along z, so the axial resolution matches the in-plane one


def project(volume: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Sinograms ``(slices, views, bins)`` of a volume ``(slices, rows, cols)`` in voxel units."""
    a = projector(scanner.matrix, scanner.views)
    nz = volume.shape[0]
    sino = a @ volume.reshape(nz, -1).T
    return sino.T.reshape(nz, scanner.views, scanner.matrix)


def fbp(sinograms: np.ndarray, scanner: Scanner) -> np.ndarray:
    """Filtered back-projection with a Hann-windowed ramp; returns ``(slices, rows, cols)``."""
    return filtered_back_projection(sinograms, scanner.hann_cutoff)


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
