"""The conditional vector of the paper's Table 2, built from the levels a data set holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..vocabulary import PATTERNS, SIDES, check_pattern, parse_levels

# Every condition vector ends with the pattern one-hot; this column says "unilateral", the one pattern whose
# slices may not be mirrored without a side in the condition (a mirror moves the defect to the other side).
UNILATERAL_COLUMN = PATTERNS.index("unilateral") - len(PATTERNS)
NORMAL_COLUMN = PATTERNS.index("normal") - len(PATTERNS)
# With sides, the two columns before the pattern one-hot: the defect's (or the worse) side, left then right.
LEFT_COLUMN, RIGHT_COLUMN = -len(PATTERNS) - 2, -len(PATTERNS) - 1


def level_columns(condition_size: int, sides: bool) -> int:
    """How many level one-hot columns a condition vector of ``condition_size`` values begins with (0 with one
    level): what a network that is given only the vector's size reads of its layout."""
    return condition_size - 2 * sides - len(PATTERNS)


@dataclass(frozen=True)
class ConditionSpace:
    """Levels present in the data set (in CER, BG, COR order) and the three defect patterns, and with ``sides``
    the side of a unilateral defect (or the worse side of a bilateral one).

    With several levels the vector is the level one-hot followed by the pattern one-hot (data set A: 6 values);
    with one level the level part carries no information and is left out (data set B, COR only: 3 values). With
    ``sides``, two values (left, right) stand before the pattern one-hot, both 0 for a normal slice.

    Without a side the paper's condition leaves it to the generator, which may draw every unilateral defect on
    one side; with it, a mirrored real slice is a slice of the other side's condition, so every slice may be
    mirrored in training and a run's sides follow the counts it is asked for.
    """

    levels: tuple[str, ...]
    sides: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", parse_levels(self.levels))

    @classmethod
    def from_levels(cls, levels, sides: bool = False) -> ConditionSpace:
        return cls(tuple(dict.fromkeys(str(level) for level in levels)), sides)

    @property
    def size(self) -> int:
        return (len(self.levels) if len(self.levels) > 1 else 0) + 2 * self.sides + len(PATTERNS)

    def side_options(self, pattern: str) -> tuple[str, ...]:
        """The sides the generator can be asked for with ``pattern``: left and right for a defect where the
        space has sides, otherwise only ``none``."""
        return ("L", "R") if self.sides and pattern != "normal" else ("none",)

    def mirror_keeps_condition(self, patterns) -> np.ndarray:
        """Per slice, whether its left-right mirror is a slice of the same condition: normal and bilateral
        without sides, normal alone with them."""
        patterns = np.asarray(patterns).astype(str)
        return patterns == "normal" if self.sides else patterns != "unilateral"

    def mirror_allowed(self, patterns) -> np.ndarray:
        """Per real slice, whether training may mirror it: every slice with sides (its condition is mirrored
        with it), otherwise those whose mirror keeps the condition."""
        patterns = np.asarray(patterns).astype(str)
        return np.ones(len(patterns), bool) if self.sides else self.mirror_keeps_condition(patterns)

    @property
    def conditions(self) -> list[tuple[str, str]]:
        """Every (level, pattern) the generator can be asked for, in Table 2's row-major order."""
        return [(level, pattern) for level in self.levels for pattern in PATTERNS]

    def vector(self, level: str, pattern: str, side: str = "none") -> np.ndarray:
        if level not in self.levels:
            raise ArgumentError(f"level {level!r} is not in this model's data set ({', '.join(self.levels)})")
        check_pattern(pattern)
        if side not in SIDES:
            raise ArgumentError(f"unknown side {side!r}; allowed: {', '.join(SIDES)}")
        level_part = np.eye(len(self.levels))[self.levels.index(level)] if len(self.levels) > 1 else np.zeros(0)
        side_part = np.zeros(0)
        if self.sides:
            options = self.side_options(pattern)
            if side not in options:
                raise ArgumentError(
                    f"a {pattern} slice of a model conditioned on the side needs side {' or '.join(options)}, "
                    f"got {side!r}"
                )
            side_part = np.array([side == "L", side == "R"], float)
        pattern_part = np.eye(len(PATTERNS))[PATTERNS.index(pattern)]
        return np.concatenate([level_part, side_part, pattern_part]).astype(np.float32)

    def level_index(self, vectors: np.ndarray) -> np.ndarray:
        """Each vector's level as its index in ``levels`` (all 0 with one level, whose vectors carry none)."""
        vectors = np.asarray(vectors)
        if len(self.levels) == 1:
            return np.zeros(len(vectors), int)
        return vectors[:, : len(self.levels)].argmax(axis=1)

    def vectors(self, levels, patterns, sides=None) -> np.ndarray:
        """Stacked vectors for paired sequences of levels, patterns and (with ``sides``) sides, shape (n, size).

        Without a sequence of sides every slice's side is ``none``; a space without sides ignores them."""
        levels, patterns = list(map(str, levels)), list(map(str, patterns))
        sides = ["none"] * len(levels) if sides is None or not self.sides else list(map(str, sides))
        if not len(levels) == len(patterns) == len(sides):
            raise ArgumentError(f"{len(levels)} levels, {len(patterns)} patterns and {len(sides)} sides")
        table: dict[tuple[str, str, str], np.ndarray] = {}
        for condition in zip(levels, patterns, sides):
            if condition not in table:
                table[condition] = self.vector(*condition)
        return np.stack([table[c] for c in zip(levels, patterns, sides)]).reshape(-1, self.size)
