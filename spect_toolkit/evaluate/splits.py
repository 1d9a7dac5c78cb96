"""A held-out set the paper's comparisons cannot tell from the training patients: rerandomisation of the
stratified patient split.

The six MC and LR comparisons against held-out patients test the generator only where the held-out patients do
not differ from the training ones by themselves. A stratified split of 90 phantom patients holds out 18; over
random draws, an exact generator of the training slices passes all six by the paper's test in about one draw of
eight (docs/reproduction.md, the real-split null), because a patient's slices move together. In the others the
comparison charges the split's own difference to the generator.

:func:`representative_split` re-draws the stratified split until a generator that drew the training slices
exactly would pass every comparison against the held-out patients, by the paper's test and by the one that
counts patients: rerandomisation (Morgan and Rubin, Annals of Statistics 2012), balance judged by the measures
the evaluation compares. It uses the real slices alone, no generator, and the rule is fixed before any
training on the split. The held-out patients are then as close to the training ones as the comparisons can
see, so the comparisons test how close the generator is to what it learnt, not which patients were held out;
the two-sample classifier still scores the generator against patients it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..manifest import HOLDOUT_FRACTION, stratified_split
from ..vocabulary import PATTERNS
from .stats import COMPARISON_TESTS, PATIENT, compare_sets

BALANCE_MEASURES = ("mc", "lr")


@dataclass(frozen=True)
class RepresentativeSplit:
    split: pd.Series  # train or holdout per manifest row
    draw: int  # the accepted draw, counted from 0
    p_values: pd.DataFrame  # the accepted draw's comparisons: test, measure, pattern, p


def exact_generator_comparisons(measures: pd.DataFrame, held_out: np.ndarray) -> pd.DataFrame:
    """The MC and LR comparisons of a generator that drew the training slices exactly, against the held-out
    patients, by both tests: one row per (test, measure, pattern) with its P in ``p``.

    ``measures`` has one row per slice (``pattern``, ``mc``, ``lr`` and the slice's ``patient``); ``held_out``
    marks the held-out rows. The training slices are counted one by one, as a generator's slices are.
    """
    held_out = np.asarray(held_out, bool)
    real, drawn = measures[held_out], measures[~held_out].drop(columns=PATIENT)
    rows = [
        compare_sets(real, drawn, test, BALANCE_MEASURES, name="training as drawn").assign(test=test)
        for test in COMPARISON_TESTS
    ]
    return pd.concat(rows, ignore_index=True)[["test", "measure", "pattern", "p"]]


def representative_split(
    manifest: pd.DataFrame,
    measures: pd.DataFrame,
    seed: int = 0,
    draws: int = 1000,
    alpha: float = 0.05,
    holdout_fraction: float = HOLDOUT_FRACTION,
) -> RepresentativeSplit:
    """The first of ``draws`` seeded stratified splits (:func:`spect_toolkit.manifest.stratified_split`) in which
    an exact generator of the training slices passes every MC and LR comparison against the held-out patients at
    ``alpha``, by both tests (:func:`exact_generator_comparisons`). ``measures`` holds the manifest's slices in its
    row order (:func:`spect_toolkit.evaluate.slice_measures` with a ``pattern`` and a ``patient`` column)."""
    if len(measures) != len(manifest):
        raise ArgumentError(f"{len(measures)} rows of slice measures for a manifest of {len(manifest)} slices")
    missing = {"pattern", PATIENT, *BALANCE_MEASURES} - set(measures.columns)
    if missing:
        raise ArgumentError(f"slice measures without column(s) {', '.join(sorted(missing))}")
    if draws < 1:
        raise ArgumentError(f"draws must be at least 1, not {draws}")
    measures = measures.reset_index(drop=True)
    expected = len(COMPARISON_TESTS) * len(BALANCE_MEASURES) * len(PATTERNS)
    for draw in range(draws):
        split = stratified_split(manifest, holdout_fraction, seed=(seed, draw))
        comparisons = exact_generator_comparisons(measures, split.to_numpy() == "holdout")
        if len(comparisons) == expected and (comparisons["p"] >= alpha).all():
            return RepresentativeSplit(split, draw, comparisons)
    raise ArgumentError(
        f"none of {draws} stratified splits (seed {seed}) lets an exact generator of the training slices pass all "
        f"{expected} comparisons at P >= {alpha}; draw more, or lower alpha"
    )
