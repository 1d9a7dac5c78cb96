"""Where a real slice's reoriented volume reached: its field of view, read from the slice and its two neighbours.

Reorientation onto the AC-PC grid fills what lies outside the scanner's volume with zero (straight-edged bands and
corners); the clipped reconstruction noise leaves zeros too, scattered over the background. Noise zeros fall
independently on neighbouring slices (each is reconstructed on its own), so a pixel zero on all three, in a zero
region that reaches the slice's border, lies outside the volume. :class:`~.networks.ReconstructionNoise` draws
these masks, level by level, for the generator's slices, and can read from each where the scanner's own grid lay
(:func:`acquisition_offsets`).
"""

from __future__ import annotations

import numpy as np
from keras import ops
from scipy import ndimage

from ..errors import ArgumentError

MASKS_PER_LEVEL = 64  # drawn from the training slices of each level, kept with the generator's weights


def field_of_view_masks(slices: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """``True`` inside the reoriented volume, ``(n, H, W)`` bool, for slices with the neighbours they were cut
    beside (same shapes; zero counts exactly 0)."""
    slices, below, above = (np.asarray(a) for a in (slices, below, above))
    if not slices.shape == below.shape == above.shape or slices.ndim != 3:
        raise ArgumentError(
            f"slices and neighbours must be (n, H, W) alike, got {slices.shape}, {below.shape}, {above.shape}"
        )
    zero_on_three = (slices <= 0) & (below <= 0) & (above <= 0)
    inside = np.ones(slices.shape, bool)
    for i, zero in enumerate(zero_on_three):
        regions, _ = ndimage.label(zero)  # 4-connected: a diagonal chain of noise zeros is not a band
        at_border = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
        inside[i] = ~np.isin(regions, at_border[at_border > 0])
    return inside


def mask_bank(inside: np.ndarray, level_index: np.ndarray, levels: int, seed: int) -> np.ndarray:
    """``(levels, MASKS_PER_LEVEL, H, W)`` float32: masks drawn (without replacement where there are enough) from
    each level's slices. A level without slices keeps the whole slice as its field of view."""
    rng = np.random.default_rng(seed)
    bank = np.ones((levels, MASKS_PER_LEVEL, *inside.shape[1:]), np.float32)
    for level in range(levels):
        own = np.flatnonzero(np.asarray(level_index) == level)
        if own.size:
            picked = rng.choice(own, MASKS_PER_LEVEL, replace=own.size < MASKS_PER_LEVEL)
            bank[level] = inside[picked]
    return bank


def acquisition_offsets(inside):
    """``(n, 2)`` int32: how many rows (then columns) the scanner's reconstruction grid starts below the slice's
    first, read from field-of-view masks ``(n, H, W)``: rows wholly outside at the top less those at the bottom.

    The AC-PC window has the scanner's matrix and spacing but sits a few pixels off its grid (the head is not
    centred on the camera's axis): where it reaches past the grid on one side, a band of whole rows is outside
    there, and the grid's own edge rows lie that far inside on the other side. Rotation and the volume's top and
    bottom make bands too; their rows are outside all the same, so a grid placed by them puts its edge only where
    the slice is zero anyway. Keras operations, so that the generator can place its grid per slice."""
    inside = ops.cast(inside, "float32")

    def bands(outside):  # whole rows outside at the start and at the end of the axis
        start = ops.sum(ops.cumprod(outside, axis=1), axis=1)
        end = ops.sum(ops.cumprod(ops.flip(outside, axis=1), axis=1), axis=1)
        return start - end

    rows = bands(ops.cast(ops.max(inside, axis=2) == 0, "float32"))
    columns = bands(ops.cast(ops.max(inside, axis=1) == 0, "float32"))
    return ops.cast(ops.stack([rows, columns], axis=1), "int32")
