"""The linear noise model the GAN's reconstruction noise uses makes the noise the phantom's acquisition makes."""

from __future__ import annotations

import numpy as np
import pytest

from spect_toolkit.tomography import filtered_back_projection, noise_operators, projector

MATRIX = 64


def _head() -> np.ndarray:
    rows, cols = np.mgrid[:MATRIX, :MATRIX]
    skull = ((rows - 34) / 20) ** 2 + ((cols - 30) / 16) ** 2 < 1
    hot = (rows - 28) ** 2 + (cols - 36) ** 2 < 25  # off centre, so a wrong orientation would show
    return skull * 1.0 + hot * 2.0


def _neighbour_correlation(noise: np.ndarray, rows: int, cols: int) -> float:
    a = noise[:, 10:54, 10:54]
    b = noise[:, 10 + rows : 54 + rows, 10 + cols : 54 + cols]
    return float((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean()))


def test_the_noise_operators_make_the_noise_of_poisson_counts_through_the_reconstruction():
    """Poisson counts on 90 views over 360 degrees, reconstructed, less the noiseless reconstruction, against
    Gaussian noise of the counts' variance on a half rotation carried by ``noise_operators``: the same variance
    in every pixel, inside the head and outside it (where only the lines through the head bring noise), and the
    same correlation between neighbours."""
    head, counts_per_unit, draws = _head(), 50.0, 300
    rng = np.random.default_rng(0)
    sinogram = (projector(MATRIX, 90) @ head.ravel()).reshape(1, 90, MATRIX)
    clean = filtered_back_projection(sinogram)[0]
    poisson = np.stack(
        [
            filtered_back_projection(rng.poisson(sinogram * counts_per_unit) / counts_per_unit)[0] - clean
            for _ in range(draws)
        ]
    )
    line_sums, reconstruct = noise_operators(MATRIX)
    sigma = np.sqrt(head.ravel()[None].astype(np.float32) @ line_sums / counts_per_unit)
    modelled = ((sigma * rng.normal(size=(draws, line_sums.shape[1]))).astype(np.float32) @ reconstruct).reshape(
        draws, MATRIX, MATRIX
    )
    outside = head == 0
    for region in (outside, ~outside):
        ratio = modelled.var(0)[region].mean() / poisson.var(0)[region].mean()
        assert ratio == pytest.approx(1.0, abs=0.05)
    assert np.corrcoef(poisson.var(0).ravel(), modelled.var(0).ravel())[0, 1] > 0.9
    for rows, cols in ((0, 1), (1, 0), (1, 1), (0, 2)):
        assert _neighbour_correlation(modelled, rows, cols) == pytest.approx(
            _neighbour_correlation(poisson, rows, cols), abs=0.03
        )
    # outside the head the noise lies in streaks along the lines through it: correlated with the pixel two
    # further out along the radius, anti-correlated with the pixel two beside it
    for noise in (poisson, modelled):
        for pixel, outward, beside in (((34, 54), (34, 56), (36, 54)), ((6, 30), (4, 30), (6, 32))):
            assert _pixel_correlation(noise, pixel, outward) > 0.4
            assert _pixel_correlation(noise, pixel, beside) < -0.2


def _pixel_correlation(noise: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    return float(np.corrcoef(noise[:, a[0], a[1]], noise[:, b[0], b[1]])[0, 1])


def test_the_noise_operators_need_opposite_views_to_pair_up():
    with pytest.raises(ValueError, match="views must be even"):
        noise_operators(8, views=9)
