"""Synthetic 123I-IMP QSPECT/DTARG hospital exports with ground truth (no patient data ever enters the project)."""

from ..vocabulary import PATTERNS
from .build import CohortPaths, make_cohort, parse_mix
from .cohort import PAPER_MIX
from .hospital import LAYOUTS, SCALES

__all__ = ["make_cohort", "CohortPaths", "parse_mix", "PAPER_MIX", "PATTERNS", "LAYOUTS", "SCALES"]
