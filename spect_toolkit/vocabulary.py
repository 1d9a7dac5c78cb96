"""The toolkit's shared words, written once: anatomical levels, defect patterns, conditions, sides, the slice
shape and the CBF unit. Every stage that names one of these imports it from here."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ArgumentError

LEVELS = ("CER", "BG", "COR")
"""Anatomical levels in craniocaudal order: cerebellum, basal ganglia (with thalamus), supraventricular cortex."""

PATTERNS = ("normal", "unilateral", "bilateral")
"""Defect patterns, in the order of the paper's Table 2 condition vector."""

CONDITIONS = ("rest", "stress")
"""Rest and acetazolamide stress."""

SIDES = ("L", "R", "none")
"""Affected (or worse) hemisphere, patient's left or right; ``none`` for normal scans."""

SPLIT_NAMES = ("train", "holdout")
"""The two sides of the patient split: every slice of a patient on one."""

SLICE_SHAPE = (64, 64)
"""Rows x columns of every slice: the QSPECT reconstruction matrix."""

CBF_UNIT = "mL/100 g/min"
"""Cerebral blood flow, the physical unit of a quantitative QSPECT/DTARG volume."""


def parse_levels(levels: str | Iterable[str]) -> tuple[str, ...]:
    """``"CER,BG,COR"`` (or a sequence of names, any case) to a tuple in craniocaudal order.

    Unknown or no names raise :class:`~spect_toolkit.errors.ArgumentError` listing the known ones.
    """
    names = [n.strip().upper() for n in (levels.split(",") if isinstance(levels, str) else levels) if n.strip()]
    unknown = [n for n in names if n not in LEVELS]
    if unknown or not names:
        raise ArgumentError(f"unknown level(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(LEVELS)}")
    return tuple(level for level in LEVELS if level in names)


def check_pattern(pattern: str) -> str:
    """``pattern`` itself if it is one of :data:`PATTERNS`, else an :class:`ArgumentError` listing them."""
    if pattern not in PATTERNS:
        raise ArgumentError(f"unknown pattern {pattern!r}; allowed: {', '.join(PATTERNS)}")
    return pattern
