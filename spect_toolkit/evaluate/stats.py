"""The paper's statistics: one-way ANOVA of the real group and the synthetic groups per defect pattern, followed
by Dunnett's many-to-one comparisons of each synthetic group against real (the post-hoc test GraphPad Prism
offers for "compare every group with a control"), giving one P value per (group, pattern) as in Figure 5.

Beside it, the same comparison counting patients (:func:`compare_by_patient`): the paper's test treats every real
slice as an independent draw, but a patient's ten or so slices move together, so differences between patients
read as a difference between the samples (two random halves of the same real cohort differ at P < 0.05 far more
often than one time in twenty; docs/reproduction.md, the real-split null)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import dunnett, f_oneway, ttest_ind

from ..errors import ArgumentError
from ..vocabulary import PATTERNS

REAL = "real"
PATIENT = "patient"  # the column of a slice's keyed patient hash; empty for generated slices


def compare_with_real(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """``table`` has columns ``group`` (``real`` and synthetic names), ``pattern`` and ``measure``; one row per
    (synthetic group, pattern): n, means, the ANOVA P over all groups, and Dunnett's P against real."""
    rows = []
    groups = [g for g in dict.fromkeys(table["group"]) if g != REAL]
    for pattern in PATTERNS:
        subset = table[table["pattern"] == pattern]
        real = subset.loc[subset["group"] == REAL, measure].dropna().to_numpy()
        samples = {g: subset.loc[subset["group"] == g, measure].dropna().to_numpy() for g in groups}
        samples = {g: v for g, v in samples.items() if len(v) >= 2}
        if len(real) < 2 or not samples:
            continue
        anova = f_oneway(real, *samples.values())
        posthoc = dunnett(*samples.values(), control=real)
        for (group, values), p in zip(samples.items(), posthoc.pvalue):
            rows.append(
                {
                    "measure": measure,
                    "pattern": pattern,
                    "group": group,
                    "n_real": len(real),
                    "n_group": len(values),
                    "mean_real": float(np.mean(real)),
                    "mean_group": float(np.mean(values)),
                    "anova_p": float(anova.pvalue),
                    "dunnett_p": float(p),
                }
            )
    return pd.DataFrame(rows)


def _independent_values(sample: pd.DataFrame, measure: str) -> pd.Series:
    """The sample's independent observations: its patients' means where every slice names its patient, its slices
    where none does (generated slices are independent draws)."""
    if PATIENT in sample and len(sample) and sample[PATIENT].notna().all():
        return sample.groupby(PATIENT)[measure].mean().dropna()
    return sample[measure].dropna()


def compare_by_patient(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Each synthetic group's mean against real's per pattern by Welch's t-test, real's standard error taken from
    its patients' means (the ``patient`` column); one row per (group, pattern) with ``n_real`` counting patients
    and ``welch_p``. A pattern with fewer than two real patients (or group slices) gets no row."""
    rows = []
    groups = [g for g in dict.fromkeys(table["group"]) if g != REAL]
    for pattern in PATTERNS:
        subset = table[table["pattern"] == pattern]
        real = _independent_values(subset[subset["group"] == REAL], measure)
        for group in groups:
            values = _independent_values(subset[subset["group"] == group], measure)
            if min(len(real), len(values)) < 2 or real.var() + values.var() == 0:  # no spread to test against
                continue
            rows.append(
                {
                    "measure": measure,
                    "pattern": pattern,
                    "group": group,
                    "n_real": len(real),
                    "n_group": len(values),
                    "mean_real": float(real.mean()),
                    "mean_group": float(values.mean()),
                    "welch_p": float(ttest_ind(values, real, equal_var=False).pvalue),
                }
            )
    return pd.DataFrame(rows)


# the two ways of comparing a synthetic set with real slices: the comparison function and its P column
COMPARISON_TESTS = {"paper": (compare_with_real, "dunnett_p"), "patients": (compare_by_patient, "welch_p")}


def compare_sets(
    reference: pd.DataFrame, group: pd.DataFrame, test: str = "paper", measures=("mc", "lr"), name: str = "group"
) -> pd.DataFrame:
    """``group`` alone against ``reference`` (both tables of per-slice measures with a ``pattern`` column) by the
    paper's test (``test="paper"``: :func:`compare_with_real`) or the one counting patients (``"patients"``:
    :func:`compare_by_patient`, a set's patients' means where its slices name them): one row per (measure,
    pattern) with the test's columns, its P in column ``p``. Alone, so that its P values do not depend on which
    other sets are compared beside it."""
    if test not in COMPARISON_TESTS:
        raise ArgumentError(f"unknown test {test!r}; choose {' or '.join(COMPARISON_TESTS)}")
    compare, p_column = COMPARISON_TESTS[test]
    table = pd.concat([reference.assign(group=REAL), group.assign(group=name)], ignore_index=True)
    result = pd.concat([compare(table, measure) for measure in measures], ignore_index=True)
    if result.empty:
        return pd.DataFrame(columns=["measure", "pattern", "group", "p"])
    return result.rename(columns={p_column: "p"})


def paper_comparisons(table: pd.DataFrame, measures=("mc", "sd", "lr")) -> pd.DataFrame:
    """:func:`compare_with_real` for each measure, with the patient-counting test beside it where the real slices
    name their patients: ``patients_p`` and ``n_real_patients``."""
    paper = pd.concat([compare_with_real(table, m) for m in measures], ignore_index=True)
    if paper.empty or PATIENT not in table:
        return paper
    by_patient = pd.concat([compare_by_patient(table, m) for m in measures], ignore_index=True)
    if by_patient.empty:
        return paper.assign(n_real_patients=np.nan, patients_p=np.nan)
    by_patient = by_patient[["measure", "pattern", "group", "n_real", "welch_p"]].rename(
        columns={"n_real": "n_real_patients", "welch_p": "patients_p"}
    )
    return paper.merge(by_patient, on=["measure", "pattern", "group"], how="left")
