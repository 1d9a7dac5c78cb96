"""CER / BG / COR slice selection on the canonical AC-PC grid, each slice with its craniocaudal neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..template import CANONICAL_GRID, LEVEL_CENTRES_MM, LEVEL_HALF_WIDTH_MM, Grid
from ..vocabulary import LEVELS, parse_levels


@dataclass(frozen=True)
class LevelSlice:
    level: str
    z_index: int  # slice index on the canonical grid
    z_mm: float  # distance from the AC-PC plane, + superior
    below: int  # inferior neighbour's index (the paper's Eq. 6 mixes with one of the two)
    above: int  # superior neighbour's index


def level_slices(levels: tuple[str, ...] = LEVELS, grid: Grid = CANONICAL_GRID) -> list[LevelSlice]:
    """The slices of ``grid`` whose centre lies within each level's z-range (template space, AC-PC aligned)."""
    z = grid.axis("z")
    out = []
    for level in parse_levels(levels):
        inside = np.flatnonzero(np.abs(z - LEVEL_CENTRES_MM[level]) <= LEVEL_HALF_WIDTH_MM)
        for k in inside:
            if k == 0 or k == len(z) - 1:
                continue  # a slice needs both neighbours
            out.append(LevelSlice(level, int(k), float(z[k]), int(k - 1), int(k + 1)))
    return out
