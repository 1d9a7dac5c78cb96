"""Evaluation of synthetic slices against real ones: the paper's measures and more."""

from .evaluation import Evaluation, evaluate
from .measures import (
    MIDLINE_COLUMN,
    asymmetry,
    brain_mask,
    left_lower_share,
    lr_medians,
    normalise,
    slice_measures,
)

__all__ = [
    "evaluate",
    "Evaluation",
    "MIDLINE_COLUMN",
    "asymmetry",
    "brain_mask",
    "left_lower_share",
    "lr_medians",
    "normalise",
    "slice_measures",
]
