"""Resampling a volume onto the canonical AC-PC grid, given where the AC-PC frame sits in the scanner."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..dicom.volume import Volume
from ..template import CANONICAL_GRID, Grid


def world_to_index(volume: Volume, world: np.ndarray) -> np.ndarray:
    """Continuous ``(k, j, i)`` indices of world points ``(..., 3)`` in ``volume``, ready for map_coordinates."""
    ijk = (np.asarray(world) - np.asarray(volume.origin)) @ np.asarray(volume.direction) / np.asarray(volume.spacing)
    return np.moveaxis(ijk[..., ::-1], -1, 0)


def resample_to_canonical(
    volume: Volume, rotation: np.ndarray, translation: np.ndarray, grid: Grid = CANONICAL_GRID, order: int = 1
) -> np.ndarray:
    """Voxels of ``volume`` on ``grid`` (AC-PC space), where AC-PC point ``q`` lies at ``rotation @ q + translation``
    in the scanner. Outside the field of view is 0."""
    world = grid.world_points() @ np.asarray(rotation).T + np.asarray(translation)
    return ndimage.map_coordinates(
        volume.array, world_to_index(volume, world), order=order, mode="constant", cval=0.0
    ).astype(np.float32)
