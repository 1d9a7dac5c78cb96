"""The paper preset against variants on the same data and the same budget, over several seeds.

    python docs/scripts/compare_variants.py repro/ingest/manifest_table1.parquet --out variants --epochs 25

Each variant trains data set A (CER, BG, COR) on the training split for the same number of epochs (the same
slices seen; ``--minutes`` gives a wall-clock budget instead, which a shared machine's load makes unequal), one
seed after another. The last checkpoint of every run is compared with the held-out real slices: no epoch is
selected on those slices first, so none of the variants is scored on data it was chosen by. One ``evaluate`` per
seed puts that seed's variants in one feature space; the Frechet distance and two-sample AUC are also averaged
over the last ``--last-checkpoints`` checkpoints (``measures_over_epochs``), since one checkpoint's value swings
with the checkpoint; ``--c2st-repeats`` makes the last checkpoint's AUC the mean of several classifiers, whose
AUCs on the same slices differ by their seed; ``--average-from E`` scores each run's generator averaged over its
checkpoints from epoch E to the last instead (entries ``VARIANT averaged from E``, reports in
``seedN/report_averaged_from_E``); ``--mixture-from E`` scores each slice drawn from one of those checkpoints
picked at random, its weights as saved (entries ``VARIANT mixture from E``): what the checkpoints draw, without the
average of their weights; with ``--ensemble`` as well, one mixture of every seed's checkpoints is scored once (entry
``VARIANT ensemble of seeds S1-S2-... mixture from E``, report in ``ensembleS1-S2-.../``): an ensemble of the seeds'
generators, which trains nothing; ``--centred`` scores the slices each rolled sideways onto the grid's midline by
whole pixels (entries ``... centred``, ``head_position.py``). Prints a line per run and writes ``variants.json``; a
second call trains and scores only what is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REMEDIES = dict(minibatch_std=True, balanced_patterns=True, mirror_generated=True)
SCANNER = {**REMEDIES, "generator_padding": "reflect", "reconstruction_counts": 15.0}
RESAMPLED = {**SCANNER, "reconstruction_resampled": True}
FIELD_OF_VIEW = {**RESAMPLED, "reconstruction_field_of_view": True}
ACTIVITY = {**FIELD_OF_VIEW, "reconstruction_of_activity": True}
GRID = {**ACTIVITY, "reconstruction_acquisition_grid": True}
UNSHIFTED = {**GRID, "ap_shift": 0}
DECAYED = {**UNSHIFTED, "learning_rate_decay_from": 0.5}
# the variant the later ones build on (the docs' $V)
V = "improved+remedies+reflect+scanner+resampled+fov+activity+grid+unshifted"
# the real slices not flipped and the generated ones not mirrored, so that the set keeps the training slices' lean,
# held there by a loss on the left/right ratios' mean and root mean square per pattern
LEANED = {
    **{name: value for name, value in DECAYED.items() if name != "mirror_generated"},
    "flip_real_slices": False,
    "lean_weight": 100.0,
}
VARIANTS = {
    "paper": ("paper", {}),
    "paper+remedies": ("paper", REMEDIES),
    "improved+remedies": ("improved", REMEDIES),
    "improved+remedies+floor": ("improved", {**REMEDIES, "floored_output": True}),
    "improved+remedies+clipped": ("improved", {**REMEDIES, "clipped_tanh_output": True}),
    "improved+remedies+spectrum": ("improved", {**REMEDIES, "spectrum_weight": 1.0}),
    "improved+remedies+floor+spectrum": ("improved", {**REMEDIES, "floored_output": True, "spectrum_weight": 1.0}),
    "improved+remedies+unshifted": ("improved", {**REMEDIES, "ap_shift": 0}),
    "improved+remedies+fine": ("improved", {**REMEDIES, "full_resolution_convs": 2}),
    "improved+remedies+reflect": ("improved", {**REMEDIES, "generator_padding": "reflect"}),
    # the reconstruction layer's options, each added to the one before
    "improved+remedies+reflect+scanner": ("improved", SCANNER),
    "improved+remedies+reflect+scanner+resampled": ("improved", RESAMPLED),
    "improved+remedies+reflect+scanner+resampled+fov": ("improved", FIELD_OF_VIEW),
    "improved+remedies+reflect+scanner+resampled+fov+activity": ("improved", ACTIVITY),
    "improved+remedies+reflect+scanner+resampled+fov+activity+grid": ("improved", GRID),
    # the augmentation's own cue (docs/gan.md, --ap-shift): the paper's shift of 2 pixels, halved or none
    "improved+remedies+reflect+scanner+resampled+fov+activity+grid+shift1": ("improved", {**GRID, "ap_shift": 1}),
    "improved+remedies+reflect+scanner+resampled+fov+activity+grid+unshifted": ("improved", UNSHIFTED),
    "improved+remedies+reflect+scanner+resampled+fov+activity+grid+unshifted+cutout": (
        "improved",
        {**UNSHIFTED, "diff_augment_cutout": True},
    ),
    # both learning rates falling linearly over the second half of the run
    f"{V}+decay": (
        "improved",
        DECAYED,
    ),
    # and the defect's side in the condition: every real slice mirrored with its side, defects on both sides
    f"{V}+decay+sides": (
        "improved",
        {**DECAYED, "side_condition": True},
    ),
    # and a projection discriminator: the condition also projected onto D's last features. Generated defect slices
    # of the side variant are brighter than the training ones at every level (unilateral MC 0.686 against 0.672
    # over six seeds), as if drawn part-way to a normal slice
    f"{V}+decay+sides+projection": (
        "improved",
        {**DECAYED, "side_condition": True, "projection_discriminator": True},
    ),
    # and the flip told to the discriminator, the generated slices mirrored with the real ones: the generator
    # draws slices as they lie, where --mirror-generated makes a symmetric set that fails the held-out patients'
    # normal LR as the training slices beside their mirrors do
    f"{V}+decay+sides+flag": (
        "improved",
        {**DECAYED, "side_condition": True, "mirror_generated": False, "flip_flag": True},
    ),
    # and the grid's coordinates shown to the discriminator, moved with the slice by DiffAugment's translation: the
    # translation hides where a head lies, and generated normal slices sit off the midline (their per-slice lean)
    f"{V}+decay+sides+coords": (
        "improved",
        {**DECAYED, "side_condition": True, "discriminator_coordinates": True},
    ),
    # and the scanner's grid offset by the resampling's sub-pixel shift: resampled alone, each drawn head moves by a
    # random shift of up to a pixel (SD 0.29), and generated heads scatter about the midline as real ones do not
    f"{V}+decay+sides+offset": (
        "improved",
        {**DECAYED, "side_condition": True, "reconstruction_offset_grid": True},
    ),
    # and DiffAugment's translation alone, without its brightness and contrast
    f"{V}+decay+uncoloured": (
        "improved",
        {**DECAYED, "diff_augment_colour": False},
    ),
    # and SAGAN's two time-scales: the generator at 1e-4, the discriminator at 4e-4
    f"{V}+decay+ttur": (
        "improved",
        {**DECAYED, "learning_rate": 1e-4, "discriminator_learning_rate": 4e-4},
    ),
    # and the scanner's grid posed by the field of view (turned, sub-pixel offsets), not placed by whole rows
    f"{V}+decay+pose": (
        "improved",
        {**DECAYED, "reconstruction_grid_pose": True},
    ),
    # and the discriminator shown each slice's difference from its left-right mirror
    f"{V}+decay+mirror": (
        "improved",
        {**DECAYED, "discriminator_mirror_channel": True},
    ),
    # and that difference averaged over 7 x 7 pixels: the lean without the noise's texture
    f"{V}+decay+mirror7": (
        "improved",
        {**DECAYED, "discriminator_mirror_channel": True, "discriminator_mirror_smoothing": 7},
    ),
    # and a learned gain on the outermost four rings of pixels, fitted to the real batch's mean counts there
    f"{V}+decay+edge": (
        "improved",
        {**DECAYED, "edge_profile_weight": 1.0},
    ),
    # the same at a tenth of the weight: Adam moves the gains as fast, the generator feels a tenth of the loss
    f"{V}+decay+edge0.1": (
        "improved",
        {**DECAYED, "edge_profile_weight": 0.1},
    ),
    f"{V}+decay+lean": ("improved", LEANED),
    # the same at ten times the weight: at 100 the generated moments stayed far from the real ones
    f"{V}+decay+lean1000": (
        "improved",
        {**LEANED, "lean_weight": 1000.0},
    ),
    # and at three times it: between the weight whose moments stayed far and the one the discriminator beat
    f"{V}+decay+lean300": (
        "improved",
        {**LEANED, "lean_weight": 300.0},
    ),
    # the flip and the mirror kept, with the lean loss: its mean part is then near zero on both sides, and its
    # root mean square holds the depth of the asymmetry (normal slices lean too far, unilateral defects too shallow)
    f"{V}+decay+depth": (
        "improved",
        {**DECAYED, "lean_weight": 100.0},
    ),
    # the flip left out as in +lean, without the loss: which of the two moved the lean
    f"{V}+decay+unflipped": (
        "improved",
        {**LEANED, "lean_weight": 0.0},
    ),
    # and DiffAugment without its translation: the discriminator then sees the slice's border as it is (the
    # outermost ring and the exact zeros of the volume's edge, the cues it missed), never zero counts moved in
    f"{V}+decay+untranslated": (
        "improved",
        {**DECAYED, "diff_augment_translation": 0},
    ),
    # and the other way: a translation of up to 12 pixels, a discriminator that sees less (every option that let it
    # see more, the mirror channel, two time-scales, no translation, raised the two-sample AUC)
    f"{V}+decay+translate12": (
        "improved",
        {**DECAYED, "diff_augment_translation": 12},
    ),
    # between the two: half the slices translated, half shown with their border (ADA's augmentation probability,
    # fixed), so the discriminator sees the border without the whole of its signal coming from it
    f"{V}+decay+halftranslated": (
        "improved",
        {**DECAYED, "diff_augment_translation_probability": 0.5},
    ),
    # every slice translated, the border filled with the slice's own mirrored border instead of zero counts
    # (ADA's padding): the discriminator keeps the translation's regularisation and sees the border (the outermost
    # ring, the exact zeros) that a zero fill hides, which neither no translation nor half did without winning.
    # Measured worse: AUC 0.99-1.00 in three seeds, the generated background the cue (docs/reproduction.md)
    f"{V}+decay+reflected": (
        "improved",
        {**DECAYED, "diff_augment_translation_fill": "reflect"},
    ),
}


def checkpoint_mixture(run_dirs, first: int, like, seed: int):
    """Slices like ``like``, each drawn by one of the checkpoints from epoch ``first`` to the last, picked at
    random: the generators that ``--average-from`` averages the weights of, each sampled as it was saved. Several
    run folders (one variant trained with several seeds) make one mixture of all their checkpoints, an ensemble."""
    import numpy as np

    from spect_toolkit.errors import ArgumentError
    from spect_toolkit.gan.generate import load_generator, sample
    from spect_toolkit.gan.run_folder import RunFolder

    run_dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
    drawn = []
    for index, run_dir in enumerate(run_dirs):
        epochs = [e for e in RunFolder(run_dir).saved_epochs() if e >= first]
        if first not in epochs:
            raise ArgumentError(f"{run_dir}: no checkpoint for epoch {first} to draw a mixture from")
        # each run's own noise: two seeds' generators fed the same latent vectors would draw related slices
        drawn += [
            sample(load_generator(run_dir, e)[0], e, like=like, seed=seed * 1000 + e + 100_000 * index) for e in epochs
        ]
    pick = np.random.default_rng([seed, 7]).integers(0, len(drawn), len(drawn[0].images))
    images = np.stack([d.images for d in drawn])[pick, np.arange(len(pick))]
    # recorded as the last epoch's slices, since samples.npz has no field for a mixture; the seed is the mixture's
    return dataclasses.replace(drawn[-1], images=images, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--out", default="variants")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=25, help="training budget of every run, in epochs")
    budget.add_argument("--minutes", type=float, help="training budget of every run, in minutes (instead)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--last-checkpoints", type=int, default=3, help="also scored: the mean over the last N")
    parser.add_argument(
        "--c2st-repeats", type=int, default=1, help="the last checkpoint's two-sample AUC as the mean of N classifiers"
    )
    checkpoints = parser.add_mutually_exclusive_group()
    checkpoints.add_argument(
        "--average-from",
        type=int,
        help="score the generators averaged over the checkpoints from this epoch to the last (spect generate "
        "--average-from), as 'VARIANT averaged from E', with a report folder of their own",
    )
    checkpoints.add_argument(
        "--mixture-from",
        type=int,
        help="score each slice drawn by one of the checkpoints from this epoch to the last, picked at random, as "
        "'VARIANT mixture from E'",
    )
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="with --mixture-from: one mixture of every seed's checkpoints (an ensemble of the seeds' generators), "
        "scored once as 'VARIANT ensemble of seeds S1-S2-... mixture from E' in ensembleS1-S2-.../; trains nothing",
    )
    parser.add_argument(
        "--centred",
        action="store_true",
        help="score the generated slices each rolled sideways by whole pixels so that its head lies on the grid's "
        "midline (head_position.py), as 'VARIANT ... centred', with a report folder of its own",
    )
    args = parser.parse_args()
    if args.ensemble and args.mixture_from is None:
        parser.error("--ensemble mixes checkpoints: give --mixture-from too")
    # Here, not at the top: reproduce_paper.py imports VARIANTS before it chooses the Keras backend.
    from spect_toolkit.evaluate import evaluate
    from spect_toolkit.evaluate.distances import two_sample_label
    from spect_toolkit.gan import generate, make_config, train
    from spect_toolkit.manifest import load_manifest, select_split

    out = Path(args.out)
    manifest = load_manifest(args.manifest)
    real_train, held_out = select_split(manifest, "train"), select_split(manifest, "holdout")
    results = json.loads((out / "variants.json").read_text()) if (out / "variants.json").exists() else {}
    # which generator each entry scores: the last checkpoint (no suffix), an average or a mixture of several
    source = f" averaged from {args.average_from}" if args.average_from is not None else ""
    source = f" mixture from {args.mixture_from}" if args.mixture_from is not None else source
    source += " centred" if args.centred else ""

    if args.ensemble:
        score_ensemble(args, manifest, real_train, results, source)
        return

    for seed in args.seeds:
        for name in args.variants:
            preset, options = VARIANTS[name]
            run_dir = out / f"seed{seed}" / name
            if not (run_dir / "checkpoints" / "last.npz").exists():
                config = make_config(
                    preset,
                    **options,
                    split="train",
                    seed=seed,
                    epochs=100_000 if args.minutes else args.epochs,
                    checkpoint_every=args.checkpoint_every,
                    precision=args.precision,
                )
                start = time.perf_counter()
                run = train(args.manifest, run_dir, config, time_budget_minutes=args.minutes)
                print(
                    f"seed {seed} {name}: {run.epochs_done} epochs, {run.steps} steps, "
                    f"{time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        scored = {}  # entries of another two-sample test are scored again: their AUCs do not compare
        for name in args.variants:
            entry = results.setdefault(name + source, {}).get(str(seed))
            scored[name] = (
                entry if entry and entry.get("two_sample_test") == two_sample_label(repeats=args.c2st_repeats) else None
            )
        if not all(scored.values()):  # one evaluate for the seed: its variants in one feature space
            samples = {
                name: checkpoint_mixture(out / f"seed{seed}" / name, args.mixture_from, real_train, seed)
                if args.mixture_from is not None
                else generate(out / f"seed{seed}" / name, like=real_train, seed=seed, average_from=args.average_from)
                for name in args.variants
            }
            samples = centred_samples(samples) if args.centred else samples
            report = out / f"seed{seed}" / ("report" + source.replace(" ", "_"))
            evaluation = evaluate(manifest, samples, report, split="holdout", seed=seed, c2st_repeats=args.c2st_repeats)
            for name, group in evaluation.metrics["groups"].items():
                scored[name] = results[name + source][str(seed)] = scores(group)
        for name, entry in scored.items():
            if args.last_checkpoints and not source and "last_checkpoints" not in entry:
                entry["last_checkpoints"] = last_checkpoints(
                    out / f"seed{seed}" / name, held_out, manifest, seed, args.last_checkpoints
                )
            last = entry.get("last_checkpoints", {})
            print(
                f"seed {seed} {name}{source}: "
                + summary(entry)
                + (
                    f"; mean of epochs {last['epochs']}: Frechet {last['frechet_distance']:.2f}, "
                    f"AUC {last['two_sample_auc']:.3f}"
                    if last
                    else ""
                ),
                flush=True,
            )
            (out / "variants.json").write_text(json.dumps(results, indent=2, default=float) + "\n")


def score_ensemble(args, manifest, real_train, results: dict, source: str) -> None:
    """``--ensemble``: every variant's checkpoints of all ``args.seeds`` as one mixture, scored once, the first
    seed seeding the mixture and the evaluation; ``source`` (main's) names the entries and the report folder."""
    from spect_toolkit.evaluate import evaluate

    out, seeds, first = Path(args.out), "-".join(map(str, args.seeds)), args.seeds[0]
    runs = {name: [out / f"seed{s}" / name for s in args.seeds] for name in args.variants}
    samples = {name: checkpoint_mixture(dirs, args.mixture_from, real_train, first) for name, dirs in runs.items()}
    samples = centred_samples(samples) if args.centred else samples
    report = out / f"ensemble{seeds}" / ("report" + source.replace(" ", "_"))
    evaluation = evaluate(manifest, samples, report, split="holdout", seed=first, c2st_repeats=args.c2st_repeats)
    for name, group in evaluation.metrics["groups"].items():
        entry = results.setdefault(f"{name} ensemble of seeds {seeds}{source}", {})[seeds] = scores(group)
        print(f"seeds {seeds} {name}{source}: " + summary(entry), flush=True)
    (out / "variants.json").write_text(json.dumps(results, indent=2, default=float) + "\n")


def centred_samples(samples: dict) -> dict:
    """Each variant's samples with every slice's head rolled onto the grid's midline (``head_position.centred``)."""
    from head_position import centred  # beside this script

    return {name: dataclasses.replace(drawn, images=centred(drawn.images)) for name, drawn in samples.items()}


def scores(group: dict) -> dict:
    """What variants.json keeps of one generated set's evaluation."""
    two = group["two_sample"]
    return {
        "epoch": group["epoch"],
        "frechet_distance": group["frechet_distance"],
        "two_sample_auc": two["auc"],
        "auc_ci": [two["auc_low"], two["auc_high"]],
        "auc_repeats": two["auc_repeats"],
        "two_sample_test": two["test"],
        "memorised": group["memorisation"]["share_below"],
        "conditional_accuracy": group["conditional_accuracy"],
    }


def summary(entry: dict) -> str:
    return (
        f"epoch {entry['epoch']} Frechet {entry['frechet_distance']:.2f} "
        f"AUC {entry['two_sample_auc']:.3f} [{entry['auc_ci'][0]:.3f}, {entry['auc_ci'][1]:.3f}]"
        + _repeats(entry.get("auc_repeats", []))
    )


def _repeats(values: list[float]) -> str:
    return f" (mean of {len(values)}: {min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""


def last_checkpoints(run_dir: Path, held_out, manifest, seed: int, count: int) -> dict:
    """Frechet distance and two-sample AUC averaged over the run's last ``count`` checkpoints, each scored on
    slices like the held-out patients': one checkpoint's value swings with the checkpoint as much as with the
    variant."""
    from spect_toolkit.evaluate.trajectory import measures_over_epochs
    from spect_toolkit.gan import RunFolder, generate
    from spect_toolkit.vocabulary import PATTERNS

    epochs = RunFolder(run_dir).saved_epochs()[-count:]
    samples = {epoch: generate(run_dir, like=held_out, seed=seed, epoch=epoch) for epoch in epochs}
    table = measures_over_epochs(manifest, samples, seed=seed)
    return {
        "epochs": epochs,
        "frechet_distance": float(table.frechet_distance.mean()),
        "two_sample_auc": float(table.two_sample_auc.mean()),
        **{f"lr_median_{p}": float(table[f"lr_median_{p}"].mean()) for p in PATTERNS},
    }


if __name__ == "__main__":
    main()
