"""The paper's data set A versus B experiment on a phantom cohort, with the paper's Table 1 mix.

    python docs/scripts/reproduce_paper.py --out repro --patients 90 --minutes-a 76 --minutes-b 38

1. ``prepare`` (CPU): a phantom cohort (paper mix), ingested; 938 slices drawn from it with Table 1's totals:
   551 normal, 291 unilateral, 96 bilateral, spread evenly over CER, BG and COR, no bilateral cerebellum.
   The held-out patients are the lowest patient keys; with ``--stratified-split`` drawn in proportion from every
   pattern and side, with ``--representative-split`` a stratified draw that the paper's comparisons cannot tell
   from the training patients (``spect_toolkit.evaluate.splits``), written into the manifest's ``split`` column.
2. ``train`` (a GPU with ``--backend jax``, or the CPU): data set A (CER, BG, COR) and B (COR) for each
   ``--variants`` entry, on the training split (80 % of patients; the rest is kept for epoch selection, the
   memorisation audit and the utility test), within the time budgets or for ``--epochs`` (budgets 0), checkpoints
   every ``--checkpoint-every`` epochs; a run folder that already holds a run is continued (``--resume``).
3. ``samples`` (where the runs are): each run's epoch chosen by ``select_epoch`` (the paper's physician chose by
   eye), and from it as many slices per pattern as the real training set has (B: all at COR, as in the paper),
   ``samples_<run>.npz``; slices from the checkpoints at multiples of ``--samples-every`` epochs, as many per
   condition as the held-out patients have, ``samples/<run>/``. ``train`` and ``samples`` need the GAN and the
   manifest only (no TensorFlow, SimpleITK or pydicom): ``prepare`` writes the subset with a slice store of its own,
   ``table1/`` (46 MB), for such a machine (``--manifest OUT/table1/manifest.parquet``).
4. ``evaluate`` (CPU; needs ``samples/``, ``samples_<run>.npz`` and ``summary.json``, not the checkpoints):
   ``evaluate`` against the real training slices (the paper compared with its training images), the MC and LR P
   values printed next to the paper's; and every checkpoint's slices against the held-out patients
   (``measures_over_epochs``): a table per run and one figure, ``over_epochs.png``.

The paper's full schedule on a GPU, then the evaluation on the CPU::

    python docs/scripts/reproduce_paper.py --out repro_full --stage prepare                          # CPU
    # copy repro_full/table1/ to the GPU machine
    python docs/scripts/reproduce_paper.py --out repro_full --stage train samples --backend jax \\
        --manifest repro_full/table1/manifest.parquet --minutes-a 0 --minutes-b 0 \\
        --variants paper paper+remedies                                                               # GPU
    # copy samples/, samples_*.npz and summary.json back
    python docs/scripts/reproduce_paper.py --out repro_full --stage evaluate \\
        --variants paper paper+remedies                                                                # CPU
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from compare_variants import VARIANTS  # noqa: E402  (this folder's script)

from spect_toolkit.backend import BACKENDS, use_backend  # noqa: E402

# Each stage imports what it needs, so that the training stage runs where SimpleITK and pydicom are absent, and
# the backend is chosen before Keras is imported.
DATA_SETS = {"A": ("CER", "BG", "COR"), "B": ("COR",)}
STAGES = ("prepare", "train", "samples", "evaluate")

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


def run_names(variants: list[str], data_sets: list[str]) -> dict[str, tuple[str, str]]:
    """Run folder name -> (data set, variant); the paper preset's runs keep the names ``A`` and ``B``."""
    return {
        (data_set if variant == "paper" else f"{data_set}_{variant}"): (data_set, variant)
        for variant in variants
        for data_set in data_sets
    }


def cohort_key(out: Path, seed: int) -> Path:
    """A pseudonym key derived from the cohort's seed, beside the export (never inside it).

    The phantom's patients are made up, so their pseudonyms need no secret; a key fixed by the seed makes the
    patient split (the lowest keyed hashes are held out) the same on every machine and in every later run, so
    that runs prepared apart compare on the same held-out patients.
    """
    path = out / "pseudonym.key"
    digest = hashlib.sha256(f"spect-toolkit phantom cohort, seed {seed}".encode()).hexdigest()
    path.write_text(digest + "\n")
    return path


def prepare(out: Path, patients: int, seed: int, split: str = "key") -> Path:
    from spect_toolkit.manifest import load_manifest, patient_strata, stratified_split, write_subset
    from spect_toolkit.manifest.ingest import ingest
    from spect_toolkit.phantom import make_cohort

    cohort = make_cohort(out / "cohort", patients, seed, jobs=2, show_progress=True)
    key = cohort_key(out, seed)
    result = ingest(cohort.dicom, cohort.labels, out / "ingest", key=key, jobs=2, show_progress=True)
    subset = table_1_subset(load_manifest(result.manifest), seed)
    if split == "stratified":  # held-out patients in proportion from every pattern and side, into the manifest
        subset = subset.assign(split=stratified_split(subset))
    elif split == "representative":  # ... re-drawn until the comparisons cannot tell them from the training
        subset = subset.assign(split=representative(subset))
    if split != "key":
        held = subset.drop_duplicates("patient_key").set_index("patient_key")["split"]
        print("patients by stratum:\n", pd.crosstab(patient_strata(subset), held))
    subset_path = out / "ingest" / "manifest_table1.parquet"
    subset.to_parquet(subset_path)
    portable = write_subset(subset, out / "table1")  # what a GPU machine needs: 46 MB, not the whole store
    print("Table 1 subset:\n", subset.groupby(["level", "pattern"]).size().unstack(fill_value=0))
    print(f"the subset with its own slice store, for a machine that trains only: {portable.parent}")
    return subset_path


def representative(subset: pd.DataFrame) -> pd.Series:
    from spect_toolkit.evaluate.evaluation import RealSlices, slice_table
    from spect_toolkit.evaluate.splits import representative_split

    chosen = representative_split(subset, slice_table(RealSlices.from_manifest(subset), {}))
    print(f"representative split: stratified draw {chosen.draw} (seed 0); an exact generator of the training")
    table = chosen.p_values.pivot(index=["test", "measure"], columns="pattern", values="p")
    print("slices against the held-out patients, P:\n", table.round(3))
    return chosen.split


def train_runs(out: Path, subset_path: Path, args) -> dict:
    import keras

    from spect_toolkit.gan import RunFolder, make_config, train

    runs = {}
    for name, (data_set, variant) in run_names(args.variants, args.data_sets).items():
        preset, options = VARIANTS[variant]
        minutes = {"A": args.minutes_a, "B": args.minutes_b}[data_set]
        config = make_config(
            preset,
            **options,
            levels=DATA_SETS[data_set],
            split="train",
            epochs=args.epochs,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            precision=args.precision,
        )
        run_dir = out / f"run_{name}"
        saved = RunFolder(run_dir).saved_epochs() if run_dir.exists() else []
        if saved and saved[-1] >= args.epochs:
            runs[name] = {"epochs_done": saved[-1], "already_done": True}
        else:
            resume = (run_dir / "checkpoints" / "last.npz").exists()  # the stored configuration wins
            run = train(
                subset_path, run_dir, config, resume=resume, time_budget_minutes=minutes or None, show_progress=True
            )
            runs[name] = {
                "epochs_done": run.epochs_done,
                "steps": run.steps,
                "minutes": round(run.seconds / 60, 1),
                "config_hash": run.config.hash,
                "resumed": resume,
                "backend": keras.backend.backend(),
            }
    return runs


def checkpoint_samples(out: Path, subset_path: Path, args) -> dict:
    """Everything that needs the checkpoints, so that ``evaluate`` runs on another machine without them: each
    run's epoch chosen by ``select_epoch`` and, from it, as many slices per pattern as the real training set has
    (``samples_<run>.npz``); and slices from the checkpoints at multiples of ``--samples-every`` epochs, as many
    per condition as the held-out patients have (``samples/<run>/epoch_NNNN.npz``; files already there are kept)."""
    from spect_toolkit.evaluate.selection import select_epoch
    from spect_toolkit.gan import RunFolder, generate
    from spect_toolkit.manifest import load_manifest, select_split

    manifest = load_manifest(subset_path)
    held_out, real_train = select_split(manifest, "holdout"), select_split(manifest, "train")
    selected = {}
    for name in run_names(args.variants, args.data_sets):
        run_dir = out / f"run_{name}"
        selected[name] = select_epoch(run_dir, manifest, seed=args.seed, show_progress=True).epoch
        generate(run_dir, like=real_train, seed=args.seed, epoch="best").save(out / f"samples_{name}.npz")
        folder = out / "samples" / name
        folder.mkdir(parents=True, exist_ok=True)
        for epoch in [e for e in RunFolder(run_dir).saved_epochs() if e % args.samples_every == 0]:
            path = folder / f"epoch_{epoch:04d}.npz"
            if not path.exists():
                generate(run_dir, like=held_out, seed=args.seed, epoch=epoch).save(path)
    return selected


def trajectory_of(out: Path, name: str, manifest: pd.DataFrame, seed: int, space) -> pd.DataFrame | None:
    """The run's measures over the epochs in ``samples/<name>/``; epochs already in ``over_epochs_<name>.csv``
    from the same feature network and two-sample test are kept, so that a run continued later is scored for its
    new checkpoints only (other rows are scored again: their Frechet distances or AUCs do not compare)."""
    from spect_toolkit.evaluate.distances import two_sample_label
    from spect_toolkit.evaluate.trajectory import measures_over_epochs

    path = out / f"over_epochs_{name}.csv"
    done = pd.read_csv(path, dtype={"feature_space": str, "two_sample_test": str}) if path.exists() else pd.DataFrame()
    if {"feature_space", "two_sample_test"} <= set(done.columns):
        done = done[(done.feature_space == space.fingerprint) & (done.two_sample_test == two_sample_label())]
    else:  # written before tables named their network and their test
        done = pd.DataFrame()
    files = {int(f.stem.split("_")[1]): f for f in sorted((out / "samples" / name).glob("epoch_*.npz"))}
    new = {epoch: f for epoch, f in files.items() if done.empty or epoch not in set(done.epoch)}
    if new:
        scored = measures_over_epochs(manifest, new, seed=seed, show_progress=True, space=space)
        for epoch, problem in scored.attrs["skipped"].items():
            print(f"{name}: epoch {epoch} not scored: {problem}")
        done = pd.concat([done, scored], ignore_index=True).sort_values("epoch") if not done.empty else scored
        done.to_csv(path, index=False)
    return None if done.empty else done


def evaluate_runs(out: Path, subset_path: Path, args) -> dict:
    from spect_toolkit.evaluate import evaluate
    from spect_toolkit.evaluate.evaluation import RealSlices
    from spect_toolkit.evaluate.features import FeatureSpace
    from spect_toolkit.evaluate.figures import over_epochs
    from spect_toolkit.manifest import load_manifest, select_split

    manifest = load_manifest(subset_path)
    real_train = select_split(manifest, "train")
    space = FeatureSpace.of(RealSlices.from_manifest(real_train), seed=args.seed)
    samples, trajectories = {}, {}
    for name in run_names(args.variants, args.data_sets):
        samples[name] = out / f"samples_{name}.npz"
        if not samples[name].exists():
            raise SystemExit(f"{samples[name]}: missing; run the samples stage where run_{name}/ is")
        trajectory = trajectory_of(out, name, manifest, args.seed, space)  # every run in one feature space
        if trajectory is not None:
            trajectories[name] = trajectory
    if trajectories:
        (out / "over_epochs.png").write_bytes(over_epochs(trajectories))
    evaluation = evaluate(manifest, samples, out / "report", split="train", seed=args.seed, show_progress=True)

    paper = pd.DataFrame(evaluation.metrics["paper"])
    data_set_of = {name: data_set for name, (data_set, _) in run_names(args.variants, args.data_sets).items()}
    print("\n| measure | pattern | group | n real | n group | mean real | mean group | Dunnett P | paper P |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in paper[paper.measure.isin(["mc", "lr"])].itertuples():
        reference = PAPER_P.get((r.measure, r.pattern), {}).get(data_set_of[r.group], "")
        print(
            f"| {r.measure.upper()} | {r.pattern} | {r.group} | {r.n_real} | {r.n_group} | {r.mean_real:.3f} | "
            f"{r.mean_group:.3f} | {format_p(r.dunnett_p)} | {reference} |"
        )
    return {"groups": evaluation.metrics["groups"], "report": str(evaluation.report)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="repro")
    parser.add_argument("--stage", nargs="+", choices=STAGES, default=list(STAGES), help="one or more, in order")
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend of the train stage (default tensorflow)")
    parser.add_argument("--variants", nargs="+", default=["paper"], choices=list(VARIANTS))
    parser.add_argument("--data-sets", nargs="+", default=list(DATA_SETS), choices=list(DATA_SETS))
    parser.add_argument(
        "--manifest",
        type=Path,
        help="the Table 1 subset (default OUT/ingest/manifest_table1.parquet; on a machine that only trains, the "
        "portable OUT/table1/manifest.parquet that prepare writes)",
    )
    parser.add_argument("--patients", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    splits = parser.add_mutually_exclusive_group()
    splits.add_argument(
        "--stratified-split",
        action="store_const",
        const="stratified",
        dest="split",
        help="prepare: hold out patients in proportion from every pattern and defect side (a 'split' column in "
        "the manifest) instead of the lowest patient keys",
    )
    splits.add_argument(
        "--representative-split",
        action="store_const",
        const="representative",
        dest="split",
        help="prepare: a stratified split re-drawn until an exact generator of the training slices passes the six "
        "MC and LR comparisons against the held-out patients (spect_toolkit.evaluate.splits)",
    )
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--samples-every", type=int, default=10, help="slices from the checkpoints of every Nth epoch")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--minutes-a", type=float, default=76.0, help="training budget of data set A (0: none)")
    parser.add_argument("--minutes-b", type=float, default=38.0, help="training budget of data set B (0: none)")
    args = parser.parse_args()
    use_backend(args.backend)
    out = Path(args.out)
    subset_path = args.manifest or out / "ingest" / "manifest_table1.parquet"
    stages = [stage for stage in STAGES if stage in args.stage]
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    times = summary.setdefault("stage_seconds", {})
    for stage in stages:
        start = time.perf_counter()
        if stage == "prepare":
            prepare(out, args.patients, args.seed, args.split or "key")
        elif stage == "train":
            summary["runs"] = train_runs(out, subset_path, args)
        elif stage == "samples":
            summary["selected_epoch"] = checkpoint_samples(out, subset_path, args)
        else:
            summary.update(evaluate_runs(out, subset_path, args))
        times[stage] = round(time.perf_counter() - start, 1)
        summary_path.write_text(json.dumps(summary, indent=2, default=float))
    print(json.dumps({k: summary[k] for k in ("runs", "stage_seconds", "selected_epoch") if k in summary}, indent=2))


if __name__ == "__main__":
    main()
