"""Patient splits drawn from a seed, and the representative split: a held-out set that the paper's comparisons
cannot tell from the training patients, checked with scipy's tests directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_ind

from spect_toolkit.errors import ArgumentError
from spect_toolkit.evaluate.splits import exact_generator_comparisons, representative_split
from spect_toolkit.manifest import patient_strata, stratified_split

STRATA = {"normal/none": 40, "unilateral/L": 10, "unilateral/R": 10, "bilateral/L": 5, "bilateral/R": 5}
SLICES = 6
OUTLIER = "normal-0003"  # a normal patient whose MC lies far above the others'


def _cohort(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A manifest of SLICES slices per patient and its slice measures: each patient's MC and LR drawn about
    its pattern's, its slices about the patient's, as real slices move together."""
    rng = np.random.default_rng(seed)
    rows = []
    for stratum, count in STRATA.items():
        pattern, side = stratum.split("/")
        lr = {"none": 1.0, "L": 0.9, "R": 1.1}[side]
        for i in range(count):
            key = f"{pattern}-{i:04d}" if pattern == "normal" else f"{stratum}-{i:04d}"
            mc = 50 + rng.normal(0, 1) + (12 if key == OUTLIER else 0)
            patient_lr = lr + rng.normal(0, 0.01)
            for _ in range(SLICES):
                rows.append(
                    {
                        "patient_key": key,
                        "pattern": pattern,
                        "side": side,
                        "mc": mc + rng.normal(0, 1),
                        "lr": patient_lr + rng.normal(0, 0.01),
                    }
                )
    table = pd.DataFrame(rows)
    manifest = table[["patient_key", "pattern", "side"]]
    measures = table[["pattern", "mc", "lr"]].assign(patient=table["patient_key"])
    return manifest, measures


def test_a_seeded_stratified_split_is_a_stratified_draw_repeatable_from_its_seed():
    manifest, _ = _cohort()
    by_key = stratified_split(manifest)
    draws = [stratified_split(manifest, seed=(0, d)) for d in range(4)]
    assert draws[0].equals(stratified_split(manifest, seed=(0, 0)))
    assert len({tuple(d) for d in draws}) == 4 and not any(d.equals(by_key) for d in draws)
    for split in draws:
        assert (split == "holdout").sum() == (by_key == "holdout").sum()
        assert (manifest.assign(split=split).groupby("patient_key")["split"].nunique() == 1).all()
        held = patient_strata(manifest[split == "holdout"])
        for stratum, total in STRATA.items():
            assert abs((held == stratum).sum() - 0.2 * total) <= 1, stratum


def test_the_representative_split_passes_every_comparison_and_keeps_the_outlier_in_training():
    manifest, measures = _cohort()
    chosen = representative_split(manifest, measures, seed=3)
    assert chosen.split.equals(stratified_split(manifest, seed=(3, chosen.draw)))
    held = chosen.split.to_numpy() == "holdout"
    assert OUTLIER in set(manifest.loc[~held, "patient_key"])
    for pattern in ("normal", "unilateral", "bilateral"):
        for measure in ("mc", "lr"):
            is_pattern = (measures["pattern"] == pattern).to_numpy()
            training = measures.loc[~held & is_pattern, measure]
            held_out = measures[held & is_pattern]
            # slice by slice (Dunnett's test of one group is Student's t), and over the held-out patients' means
            assert ttest_ind(training, held_out[measure]).pvalue >= 0.05, (pattern, measure)
            patients = held_out.groupby("patient")[measure].mean()
            assert ttest_ind(training, patients, equal_var=False).pvalue >= 0.05, (pattern, measure)
    # every draw that holds the outlier out fails a comparison: the rule, not luck, keeps it in training
    draws = [stratified_split(manifest, seed=(3, d)).to_numpy() == "holdout" for d in range(40)]
    with_outlier = [h for h in draws if OUTLIER in set(manifest.loc[h, "patient_key"])]
    assert len(with_outlier) >= 4
    for h in with_outlier:
        comparisons = exact_generator_comparisons(measures, h)
        assert len(comparisons) == 12 and (comparisons["p"] < 0.05).any()


def test_a_representative_split_refuses_measures_that_do_not_fit_its_manifest():
    manifest, measures = _cohort()
    with pytest.raises(ArgumentError, match="419 rows of slice measures for a manifest of 420 slices"):
        representative_split(manifest, measures.iloc[1:])
    with pytest.raises(ArgumentError, match="without column.* patient"):
        representative_split(manifest, measures.drop(columns="patient"))
    with pytest.raises(ArgumentError, match="none of 3 stratified splits"):
        representative_split(manifest, measures, draws=3, alpha=1.0)
