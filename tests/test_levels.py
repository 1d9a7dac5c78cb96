"""Level selection and the levels check on their own."""

from __future__ import annotations

import numpy as np
import pytest

from spect_toolkit.errors import ArgumentError
from spect_toolkit.levels import level_slices, parse_levels
from spect_toolkit.template import CANONICAL_GRID, LEVEL_CENTRES_MM, LEVEL_HALF_WIDTH_MM
from spect_toolkit.vocabulary import LEVELS


def test_each_level_holds_the_slices_within_its_range_with_both_neighbours():
    z = CANONICAL_GRID.axis("z")
    slices = level_slices()
    assert {s.level for s in slices} == set(LEVELS)
    for s in slices:
        assert abs(s.z_mm - LEVEL_CENTRES_MM[s.level]) <= LEVEL_HALF_WIDTH_MM
        assert s.z_mm == pytest.approx(z[s.z_index])
        assert (s.below, s.above) == (s.z_index - 1, s.z_index + 1)
    for level in LEVELS:  # every slice of the grid inside the range is taken
        inside = np.flatnonzero(np.abs(z - LEVEL_CENTRES_MM[level]) <= LEVEL_HALF_WIDTH_MM)
        assert sorted(s.z_index for s in slices if s.level == level) == list(inside)


def test_levels_run_craniocaudal_and_do_not_overlap():
    by_level = {level: [s.z_mm for s in level_slices((level,))] for level in LEVELS}
    assert max(by_level["CER"]) < min(by_level["BG"]) and max(by_level["BG"]) < min(by_level["COR"])


def test_parse_levels_orders_and_refuses():
    assert parse_levels("cor, CER") == ("CER", "COR")
    assert parse_levels(["BG"]) == ("BG",)
    with pytest.raises(ArgumentError, match="unknown level.*PONS.*known: CER, BG, COR"):
        parse_levels("CER,PONS")
    with pytest.raises(ArgumentError, match="none given"):
        parse_levels(" , ")
