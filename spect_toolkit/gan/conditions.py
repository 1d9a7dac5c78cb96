"""The conditional vector of the paper's Table 2, built from the levels a data set holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..vocabulary import PATTERNS, check_pattern, parse_levels

# Every condition vector ends with the pattern one-hot; this column says "unilateral", the one pattern whose
# slices may not be mirrored (a mirror moves the defect to the other side).
UNILATERAL_COLUMN = PATTERNS.index("unilateral") - len(PATTERNS)


@dataclass(frozen=True)
class ConditionSpace:
    """Levels present in the data set (in CER, BG, COR order) and the three defect patterns.

    With several levels the vector is the level one-hot followed by the pattern one-hot (data set A: 6 values);
    with one level the level part carries no information and is left out (data set B, COR only: 3 values).
    """

    levels: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", parse_levels(self.levels))

    @classmethod
    def from_levels(cls, levels) -> ConditionSpace:
        return cls(tuple(dict.fromkeys(str(level) for level in levels)))

    @property
    def size(self) -> int:
        return (len(self.levels) if len(self.levels) > 1 else 0) + len(PATTERNS)

    @property
    def conditions(self) -> list[tuple[str, str]]:
        """Every (level, pattern) the generator can be asked for, in Table 2's row-major order."""
        return [(level, pattern) for level in self.levels for pattern in PATTERNS]

    def vector(self, level: str, pattern: str) -> np.ndarray:
        if level not in self.levels:
            raise ArgumentError(f"level {level!r} is not in this model's data set ({', '.join(self.levels)})")
        check_pattern(pattern)
        level_part = np.eye(len(self.levels))[self.levels.index(level)] if len(self.levels) > 1 else np.zeros(0)
        return np.concatenate([level_part, np.eye(len(PATTERNS))[PATTERNS.index(pattern)]]).astype(np.float32)

    def level_index(self, vectors: np.ndarray) -> np.ndarray:
        """Each vector's level as its index in ``levels`` (all 0 with one level, whose vectors carry none)."""
        vectors = np.asarray(vectors)
        if len(self.levels) == 1:
            return np.zeros(len(vectors), int)
        return vectors[:, : len(self.levels)].argmax(axis=1)

    def vectors(self, levels, patterns) -> np.ndarray:
        """Stacked vectors for paired sequences of levels and patterns, shape (n, size)."""
        table = {condition: self.vector(*condition) for condition in self.conditions}
        return np.stack([table[(str(lv), str(pt))] for lv, pt in zip(levels, patterns)]).reshape(-1, self.size)
