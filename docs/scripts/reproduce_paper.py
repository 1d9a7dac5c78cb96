"""The paper's data set A versus B experiment on a phantom cohort, with the paper's Table 1 mix.

    python docs/scripts/reproduce_paper.py --out repro --patients 90 --minutes-a 76 --minutes-b 38

1. A phantom cohort (paper mix), ingested; 938 slices drawn from it with Table 1's totals: 551 normal,
   291 unilateral, 96 bilateral, spread evenly over CER, BG and COR, no bilateral cerebellum.
2. Data set A (CER, BG, COR) and B (COR) trained with the paper preset on the training split (80 % of patients;
   the rest is kept for the memorisation audit and the utility test), each within its time budget. The paper's
   full schedule is ``--epochs 1000`` with no time budget.
3. The epoch of each run chosen by ``select_epoch`` (the paper's physician chose by eye), then as many slices
   per pattern as the real training set has (B: all at COR, as in the paper).
4. ``evaluate`` against the real training slices (the paper compared with its training images), and the MC and
   LR P values printed next to the paper's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from spect_toolkit.evaluate import evaluate  # noqa: E402
from spect_toolkit.evaluate.selection import select_epoch  # noqa: E402
from spect_toolkit.gan import generate, make_config, train  # noqa: E402
from spect_toolkit.manifest import load_manifest, select_split  # noqa: E402
from spect_toolkit.manifest.ingest import ingest  # noqa: E402
from spect_toolkit.phantom import make_cohort  # noqa: E402

TABLE_1 = {"normal": 551, "unilateral": 291, "bilateral": 96}
PAPER_P = {
    ("mc", "normal"): {"A": "0.8", "B": "< 0.0001"},
    ("mc", "unilateral"): {"A": "0.99", "B": "0.77"},
    ("mc", "bilateral"): {"A": "0.68", "B": "< 0.0001"},
    ("lr", "unilateral"): {"A": "0.03", "B": "sig."},
    ("lr", "normal"): {"A": ">= 0.08", "B": "sig."},
    ("lr", "bilateral"): {"A": ">= 0.08", "B": "sig."},
}


def format_p(p: float) -> str:
    """Dunnett's P as the table shows it; the test returns 0 below its numerical precision."""
    return "< 1e-15" if p < 1e-15 else f"{p:.2g}"


def table_1_subset(manifest: pd.DataFrame, seed: int) -> pd.DataFrame:
    """938 rows with Table 1's pattern totals, levels as even as the pattern allows (no bilateral CER)."""
    rng = np.random.default_rng(seed)
    picked = []
    for pattern, total in TABLE_1.items():
        levels = ["BG", "COR"] if pattern == "bilateral" else ["CER", "BG", "COR"]
        share, extra = divmod(total, len(levels))
        for i, level in enumerate(levels):
            rows = manifest.index[(manifest.level == level) & (manifest.pattern == pattern)]
            want = share + (i < extra)
            if len(rows) < want:
                raise SystemExit(
                    f"the cohort has {len(rows)} {level} {pattern} slices, Table 1 needs {want}: use more --patients"
                )
            picked.extend(rng.choice(rows, want, replace=False))
    subset = manifest.loc[sorted(picked)]
    subset.attrs.update(manifest.attrs)
    return subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="repro")
    parser.add_argument("--patients", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--minutes-a", type=float, default=76.0, help="training budget of data set A (0: none)")
    parser.add_argument("--minutes-b", type=float, default=38.0, help="training budget of data set B (0: none)")
    args = parser.parse_args()
    out = Path(args.out)
    times = {}

    start = time.perf_counter()
    cohort = make_cohort(out / "cohort", args.patients, args.seed, jobs=2, show_progress=True)
    result = ingest(cohort.dicom, cohort.labels, out / "ingest", jobs=2, show_progress=True)
    subset = table_1_subset(load_manifest(result.manifest), args.seed)
    subset_path = out / "ingest" / "manifest_table1.parquet"
    subset.to_parquet(subset_path)
    times["cohort and ingest"] = time.perf_counter() - start
    print("Table 1 subset:\n", subset.groupby(["level", "pattern"]).size().unstack(fill_value=0))

    manifest = load_manifest(subset_path)
    real_train = select_split(manifest, "train")
    samples, runs = {}, {}
    for name, levels, minutes in (("A", ("CER", "BG", "COR"), args.minutes_a), ("B", ("COR",), args.minutes_b)):
        start = time.perf_counter()
        config = make_config(
            "paper", levels=levels, split="train", epochs=args.epochs, seed=args.seed, checkpoint_every=10
        )
        run = train(subset_path, out / f"run_{name}", config, time_budget_minutes=minutes or None, show_progress=True)
        times[f"train {name}"] = time.perf_counter() - start
        start = time.perf_counter()
        chosen = select_epoch(run.run_dir, manifest, seed=args.seed, show_progress=True)
        times[f"select epoch {name}"] = time.perf_counter() - start
        runs[name] = {
            "epochs_done": run.epochs_done,
            "steps": run.steps,
            "minutes": round(run.seconds / 60, 1),
            "selected_epoch": chosen.epoch,
            "config_hash": run.config.hash,
        }
        path = out / f"samples_{name}.npz"
        generate(run.run_dir, like=real_train, seed=args.seed, epoch="best").save(path)
        samples[name] = path

    start = time.perf_counter()
    evaluation = evaluate(manifest, samples, out / "report", split="train", seed=args.seed, show_progress=True)
    times["evaluate"] = time.perf_counter() - start

    paper = pd.DataFrame(evaluation.metrics["paper"])
    print("\n| measure | pattern | group | n real | n group | mean real | mean group | Dunnett P | paper P |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in paper[paper.measure.isin(["mc", "lr"])].itertuples():
        reference = PAPER_P.get((r.measure, r.pattern), {}).get(r.group, "")
        print(
            f"| {r.measure.upper()} | {r.pattern} | {r.group} | {r.n_real} | {r.n_group} | {r.mean_real:.3f} | "
            f"{r.mean_group:.3f} | {format_p(r.dunnett_p)} | {reference} |"
        )
    summary = {
        "runs": runs,
        "stage_seconds": {k: round(v, 1) for k, v in times.items()},
        "groups": evaluation.metrics["groups"],
        "report": str(evaluation.report),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(json.dumps({k: summary[k] for k in ("runs", "stage_seconds")}, indent=2))


if __name__ == "__main__":
    main()
