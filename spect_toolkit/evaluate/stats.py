"""The paper's statistics: one-way ANOVA of the real group and the synthetic groups per defect pattern, followed
by Dunnett's many-to-one comparisons of each synthetic group against real (the post-hoc test GraphPad Prism
offers for "compare every group with a control"), giving one P value per (group, pattern) as in Figure 5."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import dunnett, f_oneway

from ..vocabulary import PATTERNS

REAL = "real"


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
