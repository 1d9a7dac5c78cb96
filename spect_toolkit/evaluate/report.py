"""``report.html``: one self-contained file (figures embedded as PNG) that says what each number means."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from .. import __version__
from .stats import REAL

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .4em;text-align:right}
th{background:#f2f2f2}.note{color:#555;font-size:.92em}
td:first-child,th:first-child{text-align:left;min-width:9em;max-width:18em;overflow-wrap:anywhere}
.sig{color:#b00020;font-weight:600}img{max-width:100%;border:1px solid #eee}
.warn{background:#fff5e0;padding:.6em;border-left:4px solid #e0a000}
"""


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _p(value: float) -> str:
    if pd.isna(value):
        return "-"
    text = "< 0.0001" if value < 1e-4 else f"{value:.4f}" if value < 0.01 else f"{value:.3f}"
    return f'<span class="sig">{text}</span>' if value < 0.05 else text


def _paper_table(paper: pd.DataFrame, measure: str) -> str:
    rows = paper[paper.measure == measure]
    if rows.empty:
        return "<p class='note'>Too few slices per pattern for the test.</p>"
    by_patient = "patients_p" in rows
    body = "".join(
        f"<tr><td>{html.escape(r.group)}</td><td>{r.pattern}</td><td>{r.n_real}</td><td>{r.n_group}</td>"
        f"<td>{r.mean_real:.3f}</td><td>{r.mean_group:.3f}</td><td>{_p(r.anova_p)}</td><td>{_p(r.dunnett_p)}</td>"
        + (f"<td>{_count(r.n_real_patients)}</td><td>{_p(r.patients_p)}</td>" if by_patient else "")
        + "</tr>"
        for r in rows.itertuples()
    )
    patients = "<th>real patients</th><th>Welch P, counting patients</th>" if by_patient else ""
    return (
        "<table><tr><th>group</th><th>pattern</th><th>n real</th><th>n group</th><th>mean real</th>"
        f"<th>mean group</th><th>ANOVA P</th><th>Dunnett P vs real</th>{patients}</tr>{body}</table>"
    )


def _count(value: float) -> str:
    return "-" if pd.isna(value) else str(int(value))


def _group_table(metrics: dict) -> str:
    head = (
        "<tr><th>group</th><th>n</th><th>levels</th><th>Frechet distance</th><th>kernel distance (KID)</th>"
        "<th>precision</th><th>recall</th><th>coverage</th><th>conditional accuracy (level / pattern / both)</th>"
        "<th>two-sample AUC [95 % CI]</th><th>memorised share</th>"
        "<th>utility: synthetic-trained / real-trained</th>"
        f"<th>unilateral lower on the left (real {_share(metrics['real_left_lower_share'])})</th></tr>"
    )
    rows = []
    for name, g in metrics["groups"].items():
        c, t, m, u = g["conditional_accuracy"], g["two_sample"], g["memorisation"], g["utility"]
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{g['n']}</td><td>{', '.join(g['levels'])}</td>"
            f"<td>{g['frechet_distance']:.2f}</td><td>{g['kernel_distance']:.3f}</td><td>{g['precision']:.2f}</td>"
            f"<td>{g['recall']:.2f}</td><td>{g['coverage']:.2f}</td>"
            f"<td>{c['level']:.2f} / {c['pattern']:.2f} / {c['both']:.2f}</td>"
            f"<td>{t['auc']:.2f} [{t['auc_low']:.2f}, {t['auc_high']:.2f}]{_repeats(t)}</td>"
            f"<td>{m['share_below']:.3f}</td>"
            f"<td>{u['trained_on_synthetic']:.2f} / {u['trained_on_real']:.2f}</td>"
            f"<td>{_share(g['left_lower_share'])}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _lr_median_table(metrics: dict) -> str:
    """Median LR per pattern, and per defect side where a set records it, real slices first."""
    sets = {REAL: metrics["real_lr_median"], **{n: g["lr_median"] for n, g in metrics["groups"].items()}}
    keys = list(dict.fromkeys(k for medians in sets.values() for k in medians))
    head = "<tr><th>group</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>"
    rows = [
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{medians[k]:.3f}</td>" if k in medians else "<td>-</td>" for k in keys)
        + "</tr>"
        for name, medians in sets.items()
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _share(value: float | None) -> str:
    """A share as a percentage; a dash where a set has none of the slices it is a share of."""
    return "-" if value is None else f"{value:.0%}"


def _repeats(test: dict) -> str:
    """Where the AUC is a mean of several classifiers, their range: one classifier's AUC swings with its seed."""
    values = test.get("auc_repeats", [])
    if len(values) < 2:
        return ""
    return f"<br>mean of {len(values)}: {min(values):.2f}-{max(values):.2f}"


def _memorisation_null(metrics: dict) -> str:
    null = metrics.get("memorisation_null")
    if null is None:
        return ""
    return (
        f" New real patients score so too: half of the held-out patients against a threshold from the other half, "
        f"median {null['median']:.3f}, 95 % of {null['draws']} random halves up to {null['high']:.3f} "
        f"(none under it in {null['zero']:.0%} of them)."
    )


SMALL_HOLDOUT = 100  # slices: below this the held-out measures are rough; below 20, mostly noise


def _small_split_warning(metrics: dict) -> str:
    """Which numbers a small held-out split cannot support, said once at the top."""
    n = metrics["n_holdout"]
    if n >= SMALL_HOLDOUT:
        return ""
    return (
        f'<p class="warn">The held-out split has only {n} slices: the two-sample AUC, precision, recall, coverage, '
        "conditional accuracy, utility and the memorisation threshold rest on it (or on as few synthetic slices), so "
        "values of exactly 0 or 1 and differences between sets of a few hundredths are within chance here. Read them "
        f"as a smoke test; use a cohort with at least {SMALL_HOLDOUT} held-out slices for numbers to report.</p>"
    )


def write_report(path: Path, metrics: dict, paper: pd.DataFrame, figs: dict[str, bytes]) -> Path:
    judge = metrics["feature_network_holdout_accuracy"]
    groups = ", ".join(html.escape(g) for g in metrics["groups"])
    memorisation = "".join(
        f"<h3>{html.escape(n)}</h3>{_img(figs['memorisation_' + n], 'memorisation ' + n)}" for n in metrics["groups"]
    )
    small = min([g["n"] for g in metrics["groups"].values()] + [metrics["n_real"]])
    text = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>spect-toolkit evaluation: {groups}</title><style>{STYLE}</style></head><body>
<h1>Synthetic against real brain perfusion SPECT slices</h1>
<p>Real slices: the <b>{metrics["split"]}</b> split, {metrics["n_real"]} slices (training split {metrics["n_train"]},
holdout {metrics["n_holdout"]}, split by patient). Synthetic sets: {groups}. spect-toolkit {__version__}.</p>
<p class="warn">Research use only: these numbers describe how close generated slices are to this real set; they say
nothing about diagnostic use. With {small} slices in the smallest group and many tests, a few P values under 0.05 are
expected by chance alone, and a large P value is not proof of equality.</p>
{_small_split_warning(metrics)}

<h2>Overview of the measures beyond the paper</h2>
{_group_table(metrics)}
<ul class="note">
<li><b>Frechet and kernel distance</b>: how far apart real and synthetic slices lie in the 64-value feature space of a
small network trained on real training slices to tell level and pattern apart (0: same distribution). Synthetic sets
are compared with real slices at their own levels. The feature network is small and data-specific, so the values
compare sets evaluated here; they are not comparable with published FID values. The kernel distance (KID) is the
unbiased squared maximum mean discrepancy with a cubic polynomial kernel on those 64 features: like the Frechet
distance it is 0 for the same distribution, but it is unbiased in the number of slices (it can come out slightly
below 0 for equal sets) and its scale follows the features' size, so only its ratio between sets means
something.</li>
<li><b>Precision</b>: share of synthetic slices that fall within the real slices' manifold (realism); <b>recall</b>:
share of real slices within the synthetic manifold (variety); <b>coverage</b>: share of real slices with a synthetic
neighbour close by (k = 5 neighbours).</li>
<li><b>Conditional accuracy</b>: share of synthetic slices that the real-trained classifier assigns to the level and
pattern asked for. The same classifier scores {judge["level"]:.2f} (level) / {judge["pattern"]:.2f} (pattern) /
{judge["both"]:.2f} (both) on held-out real slices: that is the ceiling.</li>
<li><b>Two-sample AUC</b>: a network trained to tell real from synthetic, scored on slices it did not see. 0.5 means it
cannot tell them apart; 1 means it always can. The interval is a 95 % bootstrap interval.</li>
<li><b>Memorised share</b>: share of synthetic slices closer to a training slice than 99 % of held-out real slices are.
Near 0.01 or below is what a generator that does not copy gives; much more points at memorisation.
{_memorisation_null(metrics)}</li>
<li><b>Utility</b>: balanced accuracy on held-out real slices of a pattern classifier trained on synthetic slices
only, next to the same classifier trained on real training slices.</li>
<li><b>Unilateral slices lower on the left</b>: share of a set's unilateral slices whose left hemisphere has the
lower mean (LR &lt; 1), which for a real slice is the side of its defect. The paper's condition names the pattern,
not the side, so this is how a set's defects divide between the sides, next to the real slices' share: a set that puts
them all on one side can still score a low two-sample AUC, which judges one slice at a time.</li>
</ul>

<h2>The paper's measures (its Figure 5)</h2>
<p class="note">Per slice, normalised by its maximum: MC is the mean count in the brain mask (one fixed mask per
level, from the AC-PC anatomy template), SD the standard deviation over the mask, LR the mean of the left
hemisphere over the right (midline between columns 31 and 32 of the AC-PC grid). One-way ANOVA across real and
all synthetic groups per pattern, then Dunnett's test of each synthetic group against real (P per group and
pattern). As in the paper, each synthetic group is compared with all real slices of that pattern, whatever its
levels. P &lt; 0.05 in red.</p>
<p class="note">The paper's test counts every real slice as an independent observation, but one patient's slices
move together, so the differences between patients read as a difference between the samples: two samples of real
patients from one cohort differ at P &lt; 0.05 far more often than one time in twenty. The last column tests the
same means counting patients (Welch's t-test, the real mean's standard error from its patients' means, generated
slices counted one by one as the independent draws they are); it needs two real patients of a pattern (- where
there are fewer).</p>
{_img(figs["whiskers"], "whisker plots")}
<h3>MC</h3>{_paper_table(paper, "mc")}
<h3>LR</h3>{_paper_table(paper, "lr")}
<p class="note">Median LR per pattern and, where a set records the side each slice was asked for (a generator
trained with the side in its condition), per defect side (the side of a unilateral defect, the worse side of a
bilateral one). Deep unilateral defects give the pooled unilateral LR two modes, one each side of 1, so its
median moves with the share of defects on each side; the per-side medians say how deep they are.</p>
{_lr_median_table(metrics)}
<h3>SD</h3>{_paper_table(paper, "sd")}

<h2>Pixel-wise mean and SD maps (the paper's Figure 6)</h2>
{_img(figs["maps"], "mean and SD maps")}

<h2>Examples per level and pattern (the paper's Figure 4)</h2>
<p class="note">Random slices, each normalised to its maximum; patient's left on the image's right.</p>
{_img(figs["examples"], "examples")}

<h2>Memorisation audit</h2>
<p class="note">Distance (max-normalised pixels) from each slice to its nearest training slice. Left: held-out real
slices against synthetic slices. Right: the synthetic slices closest to a training slice, above the training slice
they are closest to.</p>
{memorisation}
</body></html>
"""
    path.write_text(text)
    return path
