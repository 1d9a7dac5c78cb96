"""Evaluation of synthetic slices against real ones: the paper's measures and more."""

from .evaluation import Evaluation, evaluate
from .measures import BRAIN_THRESHOLD, MIDLINE_COLUMN, asymmetry, brain_mask, normalise, slice_measures

__all__ = ["evaluate", "Evaluation", "BRAIN_THRESHOLD", "MIDLINE_COLUMN", "asymmetry", "brain_mask", "normalise", "slice_measures"]
