"""The paper's per-slice measures, with the brain mask and the midline defined once here.

Slices are on the canonical AC-PC grid: 64 columns centred on the mid-sagittal plane, which runs between
columns 31 and 32; columns 32-63 are the patient's left (LPS +x), 0-31 the right.

- Each slice is first normalised by its maximum, as the GAN's training data are.
- Brain mask: pixels at or above ``BRAIN_THRESHOLD`` (30 %) of the slice maximum, a fixed count threshold that
  takes in grey and white matter of a perfusion slice and leaves out scatter and background.
- MC: mean normalised count in the brain mask; SD: standard deviation over the brain mask ("pixel-wise SD");
  LR: mean count of the left hemisphere's brain pixels over the right's (below 1: the left is lower).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BRAIN_THRESHOLD = 0.3
MIDLINE_COLUMN = 32  # first column of the patient's left hemisphere


def normalise(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    peak = images.reshape(len(images), -1).max(axis=1)
    return images / np.where(peak > 0, peak, 1.0)[:, None, None]


def brain_mask(images: np.ndarray, threshold: float = BRAIN_THRESHOLD) -> np.ndarray:
    return normalise(images) >= threshold


def left_mask(shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    left = np.zeros(shape, bool)
    left[:, MIDLINE_COLUMN:] = True
    return left


def slice_measures(images: np.ndarray) -> pd.DataFrame:
    """MC, SD and LR per slice, as columns ``mc``, ``sd``, ``lr`` (one row per slice, input order)."""
    images = normalise(images)
    mask = images >= BRAIN_THRESHOLD
    left = mask & left_mask(images.shape[1:])
    right = mask & ~left_mask(images.shape[1:])
    n = mask.sum(axis=(1, 2))
    mc = (images * mask).sum(axis=(1, 2)) / np.maximum(n, 1)
    sd = np.sqrt((((images - mc[:, None, None]) ** 2) * mask).sum(axis=(1, 2)) / np.maximum(n - 1, 1))
    mean_left = (images * left).sum(axis=(1, 2)) / np.maximum(left.sum(axis=(1, 2)), 1)
    mean_right = (images * right).sum(axis=(1, 2)) / np.maximum(right.sum(axis=(1, 2)), 1)
    return pd.DataFrame({"mc": mc, "sd": sd, "lr": mean_left / np.where(mean_right > 0, mean_right, np.nan)})


def asymmetry(images: np.ndarray) -> np.ndarray:
    """|log LR|: 0 for a symmetric slice, larger the more one hemisphere is lower, whichever side."""
    return np.abs(np.log(slice_measures(images)["lr"].to_numpy()))
