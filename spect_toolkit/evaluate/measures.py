"""The paper's per-slice measures, with the brain mask and the midline defined once here.

Slices are on the canonical AC-PC grid: 64 columns centred on the mid-sagittal plane, which runs between
columns 31 and 32; columns 32-63 are the patient's left (LPS +x), 0-31 the right.

- Each slice is first normalised by its maximum, as the GAN's training data are.
- Brain mask: one fixed mask per level, from the AC-PC anatomy (grey plus white matter probability above 0.5 on
  the canonical grid, any slice within the level's z-range). Being the same for every slice, it lets blur, shifts
  and misplaced counts change the measures; a mask that followed each slice's own counts would hide them.
- MC: mean normalised count in the brain mask; SD: standard deviation over the brain mask ("pixel-wise SD");
  LR: mean count of the left hemisphere's brain pixels over the right's (below 1: the left is lower).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from ..template import AC_SLICE, CANONICAL_SPACING_MM, LEVEL_CENTRES_MM, LEVEL_HALF_WIDTH_MM, brain_mask_canonical
from ..vocabulary import PATTERNS, SIDES, SLICE_SHAPE

MIDLINE_COLUMN = 32  # first column of the patient's left hemisphere


def normalise(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    peak = images.reshape(len(images), -1).max(axis=1)
    return images / np.where(peak > 0, peak, 1.0)[:, None, None]


@cache
def brain_mask(level: str) -> np.ndarray:
    """The level's fixed 64x64 brain mask (see the module notes)."""
    centre = AC_SLICE + LEVEL_CENTRES_MM[level] / CANONICAL_SPACING_MM
    half = LEVEL_HALF_WIDTH_MM / CANONICAL_SPACING_MM
    z = np.arange(int(np.ceil(centre - half)), int(np.floor(centre + half)) + 1)
    return brain_mask_canonical()[z].any(axis=0)


def left_mask(shape: tuple[int, int] = SLICE_SHAPE) -> np.ndarray:
    left = np.zeros(shape, bool)
    left[:, MIDLINE_COLUMN:] = True
    return left


def slice_measures(images: np.ndarray, levels) -> pd.DataFrame:
    """MC, SD and LR per slice, as columns ``mc``, ``sd``, ``lr`` (one row per slice, input order)."""
    images = normalise(images)
    mask = np.stack([brain_mask(str(level)) for level in levels]) if len(images) else np.zeros(images.shape, bool)
    left = mask & left_mask(images.shape[1:])
    right = mask & ~left_mask(images.shape[1:])
    n = mask.sum(axis=(1, 2))
    mc = (images * mask).sum(axis=(1, 2)) / np.maximum(n, 1)
    sd = np.sqrt((((images - mc[:, None, None]) ** 2) * mask).sum(axis=(1, 2)) / np.maximum(n - 1, 1))
    mean_left = (images * left).sum(axis=(1, 2)) / np.maximum(left.sum(axis=(1, 2)), 1)
    mean_right = (images * right).sum(axis=(1, 2)) / np.maximum(right.sum(axis=(1, 2)), 1)
    return pd.DataFrame({"mc": mc, "sd": sd, "lr": mean_left / np.where(mean_right > 0, mean_right, np.nan)})


def left_lower_share(lr, patterns) -> float | None:
    """The share of the unilateral slices whose left hemisphere is the lower (LR < 1), ``None`` without one.

    A unilateral slice is lower on its defect's side, so the share says how a set's defects divide between the
    sides: the condition names the pattern and not the side, and a generator that draws its defects on one side
    can still pass a two-sample test that scores one slice at a time."""
    lr, patterns = np.asarray(lr, dtype=float), np.asarray(patterns)
    unilateral = (patterns == "unilateral") & np.isfinite(lr)
    return float(np.mean(lr[unilateral] < 1)) if unilateral.any() else None


def lr_medians(lr, patterns, sides=None) -> dict[str, float]:
    """The median LR of each pattern a set has and, given the slices' ``sides``, of each defect pattern on each
    side (keys such as ``unilateral L``).

    A set's unilateral LR has two modes once its defects are as deep as real ones, one below 1 for the left
    defects and one above for the right, so its pooled median moves with the share on each side; the per-side
    medians say how deep the defects are."""
    lr, patterns = np.asarray(lr, dtype=float), np.asarray(patterns)
    measured = np.isfinite(lr)
    groups = {pattern: measured & (patterns == pattern) for pattern in PATTERNS}
    if sides is not None:
        sides = np.asarray(sides)
        defects, defect_sides = [p for p in PATTERNS if p != "normal"], [s for s in SIDES if s != "none"]
        groups |= {f"{p} {side}": groups[p] & (sides == side) for p in defects for side in defect_sides}
    return {name: float(np.median(lr[rows])) for name, rows in groups.items() if rows.any()}


def asymmetry(images: np.ndarray, levels) -> np.ndarray:
    """|log LR|: 0 for a symmetric slice, larger the more one hemisphere is lower, whichever side."""
    return np.abs(np.log(slice_measures(images, levels)["lr"].to_numpy()))
