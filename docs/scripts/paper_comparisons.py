"""The paper's MC and LR comparisons of evaluated runs, against two real references, beside the same test between
the two real samples themselves.

    python docs/scripts/paper_comparisons.py repro/ingest/manifest_table1.parquet shift150/seed1/report

Each ``REPORT`` is a folder that ``evaluate(..., split="holdout")`` wrote (``compare_variants.py`` writes one per
seed): its ``slices.csv`` holds the held-out patients' slices (group ``real``) and each synthetic set's, with the
paper's per-slice measures. For every synthetic set, alone against each reference (so that its P values do not
depend on the other sets evaluated with it), one-way ANOVA and Dunnett's P per pattern:

- against the held-out patients, as ``compare_variants.py`` scores the variants;
- against the training slices, as the paper compared its generated slices with the real ones it trained on;
- and the held-out patients themselves against the training slices: two real samples. Where this null comparison
  is significant, the held-out reference differs from the training data the generator learnt, and a generator
  that learnt them well must differ from the held-out patients too.

LR is a signed measure: a unilateral defect on the patient's left lowers it, one on the right raises it, so its
mean follows the sides of the few defect patients in a sample (the manifest's ``side`` column, counted here).
``asymmetry`` (|log LR|: how far from symmetric, whichever side) is compared as well, the side left out, and the
last table gives each set's share of unilateral slices lower on the left (LR < 1): how its defects divide between
the sides, which a two-sample classifier scoring one slice at a time does not weigh.
A last table gives each set's mean MC and SD by pattern and level: where a set's defect slices differ from the
training slices' (brighter, less contrast), and whether at every level or one.

The MC and LR comparisons are given twice: with the paper's test, over slices, and with one that counts
patients (Welch's t-test on means, a real sample's standard error from its patients' means; generated slices are
independent draws and counted one by one), since a patient's slices move together and the slice-level test reads
the differences between patients as a difference between the samples.

``--real-splits N`` measures what the six MC and LR comparisons ask of two real samples: N random patient
splits of the manifest, as many held out as its own split, drawn by patient key (``patient_split``) and
stratified by pattern and side (``stratified_split``), each held-out sample tested against its training slices.
A generator that matched the training slices perfectly would pass against the held-out patients about as often
as these real samples do.

``--ideal-generators`` scores two such generators against the held-out patients, with no training involved: the
training slices as drawn (one that learnt them exactly), and the training slices beside their left-right mirrors
for the normal and bilateral patterns (one that learnt exactly the set the paper's flip augmentation makes, whose
normal and bilateral slices lean to neither side). Their slices are counted one by one, as generated ones are.
With ``--real-splits N`` too, the first of them is scored over the N random splits as well: how often a generator
that drew its training patients' slices exactly would pass the six comparisons against the held-out patients.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from spect_toolkit.vocabulary import LEVELS, PATTERNS

MEASURES = ("mc", "lr", "asymmetry")


def with_asymmetry(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(asymmetry=np.abs(np.log(table["lr"])))


def against(reference: pd.DataFrame, group: pd.DataFrame, name: str, measures=MEASURES) -> pd.DataFrame:
    """``group`` alone against ``reference`` (both tables of per-slice measures) by the paper's test, over slices:
    one row per (measure, pattern), its P in column ``p``."""
    from spect_toolkit.evaluate.stats import compare_sets

    return compare_sets(reference, group, "paper", measures, name)


def against_patients(reference: pd.DataFrame, group: pd.DataFrame, name: str, measures=("mc", "lr")) -> pd.DataFrame:
    """The same by Welch's t-test on means whose errors count patients wherever a table has a ``patient`` column
    (:func:`spect_toolkit.evaluate.stats.compare_by_patient`); same columns as :func:`against`."""
    from spect_toolkit.evaluate.stats import compare_sets

    return compare_sets(reference, group, "patients", measures, name)


def real_split_null(
    manifest: pd.DataFrame, table: pd.DataFrame, draws: int, seed: int = 0, test=against, ideal: bool = False
) -> pd.DataFrame:
    """One row per draw, way of drawing and MC or LR comparison: whether a random held-out sample of real
    patients passes it (P >= 0.05 by ``test``: :func:`against` or :func:`against_patients`) against the rest;
    none for a pattern the draw holds out no patient of. ``table`` holds the manifest's slices. With ``ideal``, the
    rest's slices are scored against the held-out patients as an exact generator of them would draw them (counted
    one by one: :func:`as_drawn`)."""
    from spect_toolkit.manifest import patient_split, stratified_split

    rng = np.random.default_rng(seed)
    keys = manifest["patient_key"].unique()
    unsplit = manifest.drop(columns="split", errors="ignore")
    rows = []
    for draw in range(draws):
        # renaming the patients at random turns the key-ordered splits into random draws
        names = dict(zip(keys, (f"{i:06d}" for i in rng.permutation(len(keys)))))
        relabelled = unsplit.assign(patient_key=unsplit["patient_key"].map(names))
        for way, split_by in (("patient key", patient_split), ("stratified", stratified_split)):
            held = split_by(relabelled).to_numpy() == "holdout"
            if ideal:
                result = test(table[held], as_drawn(table[~held]), "training as drawn", measures=("mc", "lr"))
            else:
                result = test(table[~held], table[held], "held out", measures=("mc", "lr"))
            rows += [
                {"draw": draw, "split": way, "comparison": f"{r.measure} {r.pattern}", "passed": r.p >= 0.05}
                for r in result.itertuples()
            ]
    return pd.DataFrame(rows)


def with_mirrors(table: pd.DataFrame) -> pd.DataFrame:
    """A table of per-slice measures beside the same slices mirrored left-right where the paper's augmentation
    flips them (normal and bilateral): a mirror keeps a slice's MC and asymmetry and inverts its LR."""
    flipped = table[table["pattern"] != "unilateral"]
    return pd.concat([table, flipped.assign(lr=1.0 / flipped["lr"])], ignore_index=True)


def as_drawn(table: pd.DataFrame) -> pd.DataFrame:
    """Real slices as a generator's: without their patients, so that a test counts them one by one."""
    return table.drop(columns="patient", errors="ignore")


def ideal_generators(training: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The sets a generator that learnt its training slices exactly would draw, without the patient column (a
    generator's slices are independent draws): as the slices are, and as the paper's flip makes them."""
    drawn = as_drawn(training)
    return {"ideal: training slices as drawn": drawn, "ideal: training slices and their mirrors": with_mirrors(drawn)}


def sides(manifest: pd.DataFrame) -> str:
    defects = manifest[manifest["pattern"] != "normal"].drop_duplicates("patient_key")
    counts = defects.groupby(["pattern", "side"]).size()
    return ", ".join(f"{pattern} {side} {n}" for (pattern, side), n in counts.items())


def left_lower(table: pd.DataFrame) -> tuple[float | None, int, dict[str, float]]:
    """The set's share of unilateral slices lower on the left (LR < 1), how many unilateral slices it has, and
    its LR medians per defect side where its slices name their sides (real slices, a side-conditioned set)."""
    from spect_toolkit.evaluate import left_lower_share, lr_medians

    sides = table["side"] if "side" in table and table["side"].notna().all() else None
    medians = lr_medians(table["lr"], table["pattern"], sides) if sides is not None else {}
    share = left_lower_share(table["lr"], table["pattern"])
    return share, int((table["pattern"] == "unilateral").sum()), medians


def print_by_level(tables: dict[str, pd.DataFrame]) -> None:
    """Each set's mean MC and SD per pattern and level, one row per set and measure."""
    cells = [
        (p, lv)
        for p in PATTERNS
        for lv in LEVELS
        if any(((t.pattern == p) & (t.level == lv)).any() for t in tables.values())
    ]
    print("| group | measure | " + " | ".join(f"{p} {lv}" for p, lv in cells) + " |\n|---|---|" + "---|" * len(cells))
    for label, table in tables.items():
        means = table.groupby(["pattern", "level"])[["mc", "sd"]].mean()
        for measure in ("mc", "sd"):
            values = [f"{means.loc[c, measure]:.3f}" if c in means.index else "-" for c in cells]
            print(f"| {label} | {measure} | " + " | ".join(values) + " |")


def print_table(result: pd.DataFrame) -> None:
    print("| group | reference | measure | normal: mean (ref.) P | unilateral | bilateral | not significant |")
    print("|---|---|---|---|---|---|---|")
    for (group, reference, measure), part in result.groupby(["group", "reference", "measure"], sort=False):
        cells = [f"{r.mean_group:.3f} ({r.mean_real:.3f}) {r.p:.2g}" for r in part.itertuples()]
        kept = int((part["p"] >= 0.05).sum())
        print(f"| {group} | {reference} | {measure} | " + " | ".join(cells) + f" | {kept} of {len(part)} |")


def print_null(null: pd.DataFrame, draws: int) -> None:
    comparisons = [f"{m} {p}" for m in ("mc", "lr") for p in PATTERNS if f"{m} {p}" in set(null["comparison"])]
    print("| split drawn by | 6 of 6 | 5 | 4 or fewer | a pattern untested | " + " | ".join(comparisons) + " |")
    print("|---" * (5 + len(comparisons)) + "|")
    for way, part in null.groupby("split", sort=False):
        # a pattern the draw holds out no patient of (the patients test: fewer than two) is untested: five at most
        passed = part.groupby("draw")["passed"].sum().reindex(range(draws), fill_value=0)
        tested = part.groupby("draw").size().reindex(range(draws), fill_value=0)
        shares = [np.mean(passed == 6), np.mean(passed == 5), np.mean(passed <= 4), np.mean(tested < 6)]
        shares += [part.loc[part["comparison"] == c, "passed"].mean() for c in comparisons]
        print(f"| {way} | " + " | ".join(f"{share:.0%}" for share in shares) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("reports", nargs="*", type=Path, help="folders written by evaluate(..., split='holdout')")
    parser.add_argument("--real-splits", type=int, default=0, help="random patient splits to test real against real")
    parser.add_argument(
        "--ideal-generators",
        action="store_true",
        help="also score the training slices, as drawn and with their mirrors, as if a generator had drawn them",
    )
    args = parser.parse_args()
    from spect_toolkit.evaluate.evaluation import RealSlices, slice_table
    from spect_toolkit.manifest import load_manifest, select_split

    def real_slices(rows: pd.DataFrame) -> pd.DataFrame:  # with each slice's patient (``patient``)
        return with_asymmetry(slice_table(RealSlices.from_manifest(rows), {}))

    manifest = load_manifest(args.manifest)
    train_rows, held_out_rows = select_split(manifest, "train"), select_split(manifest, "holdout")
    training, held_out = real_slices(train_rows), real_slices(held_out_rows)
    print(f"defect patients by side: training {sides(train_rows)}; held out {sides(held_out_rows)}\n")
    tests = {"paper": against, "patients": against_patients}
    tables = {"training slices": training, "held-out patients": held_out}  # the sets the last two tables describe
    rows = {
        name: [test(training, held_out, "held-out patients").assign(reference="training slices")]
        for name, test in tests.items()
    }
    if args.ideal_generators:
        for label, group in ideal_generators(training).items():
            for test_name, test in tests.items():
                rows[test_name].append(test(held_out, group, label).assign(reference="held-out patients"))
    for report in args.reports:
        table = with_asymmetry(pd.read_csv(report / "slices.csv"))
        real = table[table["group"] == "real"]
        if len(real) != len(held_out) or not np.allclose(real["mc"], held_out["mc"]):
            raise SystemExit(f"{report}: its real slices are not this manifest's held-out patients")
        for name in dict.fromkeys(table.loc[table["group"] != "real", "group"]):
            group = table[table["group"] == name]  # no patient: generated slices are counted one by one
            label = f"{report.parent.name}/{name.rsplit('+', 1)[-1]}"
            if report.name != "report":  # compare_variants' report_averaged_from_E, report_mixture_from_E
                label += f" ({report.name.removeprefix('report_').replace('_', ' ')})"
            for test_name, test in tests.items():
                rows[test_name].append(test(held_out, group, label).assign(reference="held-out patients"))
                rows[test_name].append(test(training, group, label).assign(reference="training slices"))
            tables[label] = group
    print("The paper's test: one-way ANOVA and Dunnett's test over slices.")
    print_table(pd.concat(rows["paper"], ignore_index=True))
    print("\nBy patients: Welch's t-test, a real sample's error from its patients' means, generated slices as drawn.")
    print_table(pd.concat(rows["patients"], ignore_index=True))
    print("\nUnilateral slices with the left hemisphere lower (LR < 1): the side their defects lie on; LR medians per")
    print("defect side where a set names its slices' sides.")
    sided = [f"{p} {side}" for p in PATTERNS[1:] for side in "LR"]
    print("| group | share | unilateral slices | " + " | ".join(sided) + " |\n|---|---|---|" + "---|" * len(sided))
    for label, table in tables.items():
        share, count, medians = left_lower(table)
        cells = " | ".join(f"{medians[k]:.3f}" if k in medians else "-" for k in sided)
        print(f"| {label} | {'-' if share is None else f'{share:.2f}'} | {count} | {cells} |")
    print("\nMean MC and SD by pattern and level.")
    print_by_level(tables)
    if args.real_splits:
        everyone = real_slices(manifest)
        for test_name, test in tests.items():
            null = real_split_null(manifest, everyone, args.real_splits, test=test)
            print(f"\n{test_name} test, real held-out patients against the rest, {args.real_splits} random splits:")
            print_null(null, args.real_splits)
            if args.ideal_generators:
                null = real_split_null(manifest, everyone, args.real_splits, test=test, ideal=True)
                print(f"\n{test_name} test, the rest as an exact generator of them draws them, against the held-out")
                print(f"patients, {args.real_splits} random splits:")
                print_null(null, args.real_splits)


if __name__ == "__main__":
    main()
