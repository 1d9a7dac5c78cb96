"""Evaluation against known answers: real against itself, against a clearly wrong set, against copies of the
training slices, and the left/right ratio of known left defects; the report, the CLI and epoch selection."""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter, shift
from scipy.stats import ttest_ind
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.errors import ArgumentError
from spect_toolkit.evaluate import evaluate, left_lower_share, slice_measures
from spect_toolkit.evaluate.distances import (
    C2ST_MIN_BATCHES,
    memorisation_audit,
    memorisation_null,
    two_sample_auc,
    two_sample_label,
)
from spect_toolkit.evaluate.features import BATCH_SIZE
from spect_toolkit.evaluate.figures import examples
from spect_toolkit.evaluate.stats import compare_by_patient, compare_sets, compare_with_real, paper_comparisons
from spect_toolkit.manifest import load_manifest, load_slices, patient_split, select_split
from spect_toolkit.samples import Samples


@pytest.fixture(scope="module")
def real(ingested):
    _, work, _ = ingested
    manifest = load_manifest(work / "manifest.parquet")
    return manifest, load_slices(manifest).slices


def _table(real_set, other_set):
    parts = []
    for group, (images, levels, patterns) in (("real", real_set), ("S", other_set)):
        parts.append(pd.DataFrame({"group": group, "pattern": patterns}).join(slice_measures(images, levels)))
    return pd.concat(parts, ignore_index=True)


def _halves(manifest, images, seed=0):
    order = np.random.default_rng(seed).permutation(len(images))
    a, b = order[: len(order) // 2], order[len(order) // 2 :]
    levels, patterns = manifest["level"].to_numpy(), manifest["pattern"].to_numpy()
    return (images[a], levels[a], patterns[a]), (images[b], levels[b], patterns[b])


def _wrong(images):
    """Blurred, moved 6 pixels to the right and dimmed: obviously not a real slice."""
    return np.stack([0.7 * shift(gaussian_filter(im, 2.0), (0, -6), order=1) for im in images]).astype(np.float32)


def test_real_against_a_random_half_of_itself_shows_no_difference(real):
    manifest, images = real
    first, second = _halves(manifest, images)
    (ia, ib) = first[0], second[0]
    table = _table(first, second)
    for measure in ("mc", "lr"):
        assert (compare_with_real(table, measure)["dunnett_p"] > 0.01).all(), measure
    result = two_sample_auc(ia, ib, epochs=10)
    assert result["auc_low"] < 0.5 < result["auc_high"] and abs(result["auc"] - 0.5) < 0.2
    audit = memorisation_audit(ia, ib[: len(ib) // 2], ib[len(ib) // 2 :])
    assert audit["share_below"] < 0.1


def test_a_clearly_wrong_set_is_flagged(real):
    manifest, images = real
    levels, patterns = manifest["level"].to_numpy(), manifest["pattern"].to_numpy()
    table = _table((images, levels, patterns), (_wrong(images), levels, patterns))
    mc = compare_with_real(table, "mc")
    large = mc[mc["n_real"] >= 10]  # patterns with enough slices for the test to have power
    assert len(large) >= 2 and (large["dunnett_p"] < 0.001).all() and (large["anova_p"] < 0.001).all()
    assert (compare_with_real(table, "lr")["dunnett_p"] < 0.001).any()  # the shift moves counts to one side
    assert two_sample_auc(images, _wrong(images), epochs=10)["auc"] > 0.9


def _patients(rng, count, slices, patient_sd, mean=0.7, pattern="normal", prefix="P"):
    """``count`` real patients of ``slices`` slices each, each patient's MC offset by its own draw."""
    offset = np.repeat(rng.normal(0, patient_sd, count), slices)
    return pd.DataFrame(
        {
            "group": "real",
            "pattern": pattern,
            "patient": np.repeat([f"{prefix}{i}" for i in range(count)], slices),
            "mc": mean + offset + rng.normal(0, 0.01, count * slices),
        }
    )


def test_the_patient_test_holds_its_level_where_a_patients_slices_move_together():
    """Generated slices drawn from the real population (a new patient for every slice) against 12 real patients
    whose slices share an offset: the paper's slice-level test calls most such samples different, the patient
    test about one in twenty; a real shift is found by both."""
    rng = np.random.default_rng(3)
    rejected = {"dunnett_p": 0, "welch_p": 0}
    draws = 200
    for _ in range(draws):
        real = _patients(rng, 12, 10, patient_sd=0.03)
        drawn = pd.DataFrame(
            {"group": "g", "pattern": "normal", "patient": None, "mc": 0.7 + rng.normal(0, np.hypot(0.03, 0.01), 120)}
        )
        table = pd.concat([real, drawn], ignore_index=True)
        rejected["dunnett_p"] += compare_with_real(table, "mc")["dunnett_p"].iloc[0] < 0.05
        rejected["welch_p"] += compare_by_patient(table, "mc")["welch_p"].iloc[0] < 0.05
    assert rejected["dunnett_p"] / draws > 0.25 and rejected["welch_p"] / draws < 0.1, rejected
    real = _patients(rng, 12, 10, patient_sd=0.03)
    brighter = real.assign(group="g", patient=None, mc=real["mc"] + 0.06)
    shifted = compare_by_patient(pd.concat([real, brighter], ignore_index=True), "mc").iloc[0]
    assert shifted.welch_p < 0.001 and shifted.n_real == 12 and shifted.n_group == 120


def test_the_patient_test_needs_two_patients_of_a_pattern_and_sits_beside_dunnetts_p():
    rng = np.random.default_rng(4)
    real = pd.concat(
        [_patients(rng, 6, 8, 0.02), _patients(rng, 1, 8, 0.02, pattern="bilateral", prefix="B")], ignore_index=True
    )
    drawn = real.assign(group="g", patient=None, mc=real["mc"] + rng.normal(0, 0.02, len(real)))
    table = pd.concat([real, drawn], ignore_index=True).assign(sd=0.1, lr=1.0)
    assert compare_by_patient(table, "mc")["pattern"].tolist() == ["normal"]  # one bilateral patient: no spread
    paper = paper_comparisons(table, measures=("mc",)).set_index("pattern")
    assert paper.loc["normal", "n_real"] == 48 and paper.loc["normal", "n_real_patients"] == 6
    assert 0 <= paper.loc["normal", "patients_p"] <= 1 and pd.isna(paper.loc["bilateral", "patients_p"])
    assert "patients_p" not in paper_comparisons(table.drop(columns="patient"), measures=("mc",))


def test_compare_sets_is_a_pooled_t_test_over_slices_or_welchs_over_patients_means():
    """One set against a reference: Dunnett's test with one group is the pooled two-sample t-test on the slices;
    the patient test is Welch's on the reference's patients' means against the set's slices."""
    rng = np.random.default_rng(5)
    reference = _patients(rng, 8, 10, patient_sd=0.03).drop(columns="group").assign(lr=1.0 + rng.normal(0, 0.02, 80))
    group = pd.DataFrame({"pattern": "normal", "mc": 0.695 + rng.normal(0, 0.03, 60), "lr": rng.normal(1.0, 0.02, 60)})
    paper = compare_sets(reference, group, "paper").set_index("measure")
    for measure in ("mc", "lr"):
        pooled = ttest_ind(group[measure], reference[measure]).pvalue
        assert paper.loc[measure, "p"] == pytest.approx(pooled, abs=0.002), measure  # Dunnett integrates numerically
    patients = compare_sets(reference, group, "patients", measures=("mc",)).iloc[0]
    means = reference.groupby("patient")["mc"].mean()
    assert patients.p == pytest.approx(ttest_ind(group["mc"], means, equal_var=False).pvalue)
    assert patients.n_real == 8 and patients.group == "group"
    unmatched = compare_sets(reference, group.assign(pattern="bilateral"), "paper")  # no reference to compare with
    assert unmatched.empty and {"measure", "pattern", "p"} <= set(unmatched.columns)
    with pytest.raises(ArgumentError, match="unknown test 'anova'"):
        compare_sets(reference, group, "anova")


def test_two_sample_test_keeps_a_patients_slices_in_one_fold():
    """Each real "patient" carries its own fixed texture and the other sample has a new texture on every slice:
    drawn alike, so nothing but the patients themselves tells the two apart. A classifier tested on patients it
    trained on learns them and finds the real sample; with the patients as groups it cannot."""
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(12), 10)

    def textured(count):
        coarse = rng.random((count, 8, 8)).astype(np.float32)
        return np.kron(coarse, np.ones((8, 8), np.float32))  # 8x8 blocks over the 64x64 slice

    real = textured(12)[patients] + rng.normal(0, 0.05, (len(patients), 64, 64)).astype(np.float32)
    other = textured(len(patients)) + rng.normal(0, 0.05, (len(patients), 64, 64)).astype(np.float32)
    leaky = two_sample_auc(real, other, epochs=25, boot=200)
    grouped = two_sample_auc(real, other, epochs=25, boot=200, real_groups=patients)
    assert leaky["auc"] > 0.85, leaky
    assert grouped["auc"] < 0.7 and grouped["auc_low"] < 0.5, grouped
    assert grouped["auc_high"] - grouped["auc_low"] > leaky["auc_high"] - leaky["auc_low"]  # 12 patients, not 120
    with pytest.raises(ArgumentError, match="119 patient labels for 120 real slices"):
        two_sample_auc(real, other, epochs=1, real_groups=patients[:-1])

    # Two real samples, each of 12 patients: grouping one side only leaves the other side's patients to learn.
    others = textured(12)[patients] + rng.normal(0, 0.05, (len(patients), 64, 64)).astype(np.float32)
    one_side = two_sample_auc(real, others, epochs=25, boot=200, real_groups=patients)
    both = two_sample_auc(real, others, epochs=25, boot=200, real_groups=patients, synthetic_groups=patients)
    assert both["auc"] < 0.7 and both["auc_low"] < 0.5, both
    assert one_side["auc"] > max(0.8, both["auc"] + 0.2), one_side
    with pytest.raises(ArgumentError, match="119 patient labels for 120 synthetic slices"):
        two_sample_auc(real, others, epochs=1, synthetic_groups=patients[:-1])


def test_a_small_sample_trains_the_two_sample_classifier_as_many_steps_as_a_large_one():
    """40 passes over 66 slices a class are too few steps to converge (docs/evaluate.md): epochs of fewer than
    C2ST_MIN_BATCHES batches are repeated, so the steps do not fall with the sample."""
    rng = np.random.default_rng(0)

    def sample(count):
        return rng.random((count, 64, 64)).astype(np.float32)

    small = two_sample_auc(sample(20), sample(20), epochs=2, boot=10)  # 20 slices a fold: one batch a pass
    assert small["classifier_steps"] >= 2 * C2ST_MIN_BATCHES, small
    large_fold = BATCH_SIZE * (C2ST_MIN_BATCHES + 2)  # a pass of more batches than the floor: one pass an epoch
    large = two_sample_auc(sample(large_fold), sample(large_fold), epochs=1, boot=10)
    assert large["classifier_steps"] == C2ST_MIN_BATCHES + 2, large


def test_copies_of_training_slices_are_flagged_as_memorised(real):
    manifest, images = real
    (train, _, _), (rest, _, _) = _halves(manifest, images, seed=1)
    copies = train[:40] + np.random.default_rng(2).normal(0, 1e-3, train[:40].shape).astype(np.float32)
    audit = memorisation_audit(train, rest, copies)
    assert audit["share_below"] > 0.9 and audit["median_synthetic"] < audit["threshold"]


def test_memorisation_null_is_the_share_of_one_half_of_the_patients_under_the_other_halfs_threshold():
    # Four patients, two slices each, at distances 1, 2, 3 and 4 from the training set. Of the six ways to halve
    # them, the threshold (1st percentile of a half) is its closer patient's distance, and the other half's share
    # under it is: {a,b}, {a,c}, {a,d}: 0; {b,c}: 0.5 (a); {b,d}: 0.5 (a); {c,d}: 1 (a and b).
    distance = np.repeat([1.0, 2.0, 3.0, 4.0], 2)
    patients = np.repeat(["a", "b", "c", "d"], 2)
    null = memorisation_null(distance, patients, draws=3000, seed=1)
    assert abs(null["zero"] - 0.5) < 0.05 and null["high"] == 1.0
    with pytest.raises(ArgumentError, match="too few"):
        memorisation_null(distance[:6], patients[:6])
    with pytest.raises(ArgumentError, match="patient keys"):
        memorisation_null(distance, patients[:-1])


def test_left_defects_give_lr_below_one_and_right_defects_above(real):
    manifest, images = real
    unilateral = (manifest["pattern"] == "unilateral").to_numpy()
    side, levels = manifest["side"].to_numpy()[unilateral], manifest["level"].to_numpy()[unilateral]
    # the phantom's labels say which side is low; mirroring a slice swaps the sides, so every slice can be
    # made a left defect and a right defect
    as_left = np.where((side == "L")[:, None, None], images[unilateral], images[unilateral][:, :, ::-1])
    lr_left = slice_measures(as_left, levels)["lr"].to_numpy()
    lr_right = slice_measures(as_left[:, :, ::-1], levels)["lr"].to_numpy()
    assert np.median(lr_left) < 0.97 and np.median(lr_right) > 1.03
    assert np.mean(lr_left < 1) > 0.8
    normal = (manifest["pattern"] == "normal").to_numpy()
    lr_normal = slice_measures(images[normal], manifest["level"].to_numpy()[normal])["lr"]
    assert abs(np.median(lr_normal) - 1) < 0.03


def test_the_left_lower_share_reads_the_defects_side_and_counts_unilateral_slices_alone(real):
    manifest, images = real
    levels, patterns, side = (manifest[c].to_numpy() for c in ("level", "pattern", "side"))
    lr = slice_measures(images, levels)["lr"].to_numpy()
    unilateral = patterns == "unilateral"
    assert left_lower_share(lr[side == "L"], patterns[side == "L"]) > 0.8
    assert left_lower_share(lr[side == "R"], patterns[side == "R"]) < 0.2
    # a mirrored set puts every defect on the other side; the normal and bilateral slices do not count
    mirrored = slice_measures(images[:, :, ::-1], levels)["lr"].to_numpy()
    assert left_lower_share(mirrored, patterns) == pytest.approx(1 - left_lower_share(lr, patterns))
    assert left_lower_share(np.r_[lr, np.full(50, 0.5)], np.r_[patterns, ["normal"] * 50]) == left_lower_share(
        lr, patterns
    )
    assert left_lower_share([0.9, np.nan, 1.1], ["unilateral"] * 3) == 0.5
    assert left_lower_share(lr[~unilateral], patterns[~unilateral]) is None


def test_lr_medians_split_a_bimodal_unilateral_set_by_side():
    from spect_toolkit.evaluate.measures import lr_medians

    lr = [1.0, 0.99, 0.88, 0.92, 1.08, np.nan, 1.12, 1.16, 0.95]
    patterns = ["normal", "normal", *["unilateral"] * 6, "bilateral"]
    sides = ["none", "none", "L", "L", "R", "R", "R", "R", "L"]
    medians = lr_medians(lr, patterns, sides)
    assert medians["unilateral L"] == pytest.approx(0.90) and medians["unilateral R"] == pytest.approx(1.12)
    assert medians["unilateral"] == pytest.approx(1.08)  # the pooled median follows the side with more defects
    assert medians["normal"] == pytest.approx(0.995) and medians["bilateral L"] == pytest.approx(0.95)
    assert "bilateral R" not in medians and "normal none" not in medians
    assert set(lr_medians(lr, patterns)) == {"normal", "unilateral", "bilateral"}


def test_patient_split_keeps_patients_whole(real):
    manifest, _ = real
    split = patient_split(manifest)
    assert set(split) == {"train", "holdout"}
    assert (manifest.assign(split=split).groupby("patient_key")["split"].nunique() == 1).all()


def test_a_long_group_name_is_broken_at_its_plus_signs_under_its_box():
    from spect_toolkit.evaluate.figures import group_label

    name = "improved+remedies+reflect+scanner+resampled+fov+activity+grid+unshifted+decay"
    lines = group_label(name, width=16).split("\n")
    assert "".join(lines) == name and len(lines) > 3
    assert all(len(line) <= 16 or "+" not in line[1:] for line in lines)  # longer only where one part is
    assert all(line.startswith("+") for line in lines[1:])  # broken before a "+", never inside a word
    assert group_label("A") == "A" and group_label("paper+remedies", width=16) == "paper+remedies"


def test_evaluate_writes_report_metrics_and_table(real, ingested, tmp_path):
    manifest, images = real
    levels, patterns = manifest["level"].to_numpy(), manifest["pattern"].to_numpy()
    good = Samples(
        np.clip(images / images.reshape(len(images), -1).max(1)[:, None, None], 0, 1),
        levels,
        patterns,
        seed=0,
        config_hash="good",
        side=manifest["side"].to_numpy(str),
    )
    wrong = _wrong(images)
    bad = Samples(
        wrong / wrong.reshape(len(wrong), -1).max(1)[:, None, None], levels, patterns, seed=0, config_hash="bad"
    )
    result = evaluate(
        manifest, {"A": good, "W": bad}, tmp_path / "report", feature_epochs=10, c2st_epochs=8, c2st_repeats=2
    )
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "Dunnett" in html and 'src="http' not in html
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["groups"]["W"]["two_sample"]["auc"] > metrics["groups"]["A"]["two_sample"]["auc"]
    repeats = metrics["groups"]["W"]["two_sample"]["auc_repeats"]
    assert len(repeats) == 2 and f"mean of 2: {min(repeats):.2f}-{max(repeats):.2f}" in html
    assert metrics["groups"]["W"]["frechet_distance"] > metrics["groups"]["A"]["frechet_distance"]
    # the side share of each set (A: every real slice, so the share of all the real unilateral slices), and of the
    # real slices compared with (here two held-out patients, perhaps without a unilateral one: a dash)
    all_real = left_lower_share(slice_measures(images, levels)["lr"], patterns)
    assert 0 < all_real < 1 and metrics["groups"]["A"]["left_lower_share"] == pytest.approx(all_real)
    real_share = metrics["real_left_lower_share"]
    shown = "-" if real_share is None else f"{real_share:.0%}"
    assert f"lower on the left (real {shown})" in html and f"<td>{all_real:.0%}</td>" in html
    # LR medians: per defect side for A, which records its sides, per pattern alone for W, which does not
    lr = slice_measures(images, levels)["lr"].to_numpy()
    left_unilateral = (patterns == "unilateral") & (manifest["side"].to_numpy() == "L")
    medians = metrics["groups"]["A"]["lr_median"]
    assert medians["unilateral L"] == pytest.approx(np.median(lr[left_unilateral])) and medians["unilateral L"] < 1
    assert medians["normal"] == pytest.approx(np.median(lr[patterns == "normal"]))
    assert set(metrics["groups"]["W"]["lr_median"]) <= {"normal", "unilateral", "bilateral"}
    held = select_split(manifest, "holdout")  # the real slices compared with: per pattern and per defect side
    sided = {f"{p} {side}" for p, side in zip(held["pattern"], held["side"]) if p != "normal"}
    assert set(metrics["real_lr_median"]) == set(held["pattern"]) | sided
    assert f"<td>{medians['unilateral L']:.3f}</td>" in html
    # A is the real slices themselves: every training slice has a zero-distance twin in it
    assert metrics["groups"]["A"]["memorisation"]["share_below"] > 0.5
    # two held-out patients cannot be halved into a null: none is given rather than one from a single split
    assert metrics["n_holdout"] > 0 and "memorisation_null" not in metrics and "New real patients" not in html
    table = pd.read_csv(tmp_path / "report" / "slices.csv")
    assert {"group", "level", "pattern", "patient", "mc", "sd", "lr", "nearest_train_distance"} <= set(table.columns)
    real_rows = table[table.group == "real"]
    assert real_rows.patient.notna().all() and table.loc[table.group != "real", "patient"].isna().all()
    assert set(real_rows.patient) == set(select_split(manifest, "holdout")["patient_key"])
    assert "counting patients" in html and all("patients_p" in row for row in metrics["paper"])
    assert (table.group == "A").sum() == len(images) and result.report.exists()
    assert (tmp_path / "report" / "figures" / "whiskers.png").stat().st_size > 1000


def test_measures_over_epochs_track_a_run_that_goes_wrong_and_skip_a_damaged_epoch(real, tmp_path):
    from spect_toolkit.evaluate.evaluation import RealSlices
    from spect_toolkit.evaluate.features import FeatureSpace
    from spect_toolkit.evaluate.figures import over_epochs
    from spect_toolkit.evaluate.trajectory import COLUMNS, measures_over_epochs

    manifest, _ = real
    held_out = select_split(manifest, "holdout")
    images = load_slices(held_out).slices
    images = images / images.reshape(len(images), -1).max(1)[:, None, None]
    levels, patterns = held_out["level"].to_numpy(), held_out["pattern"].to_numpy()
    dim_left = images.copy()
    dim_left[:, :, 32:] *= 0.8  # the patient's left (image columns from the midline) 20 % lower
    epochs = {
        10: Samples(images.astype(np.float32), levels, patterns, seed=0, config_hash="run", epoch=10),
        20: Samples(np.clip(dim_left, 0, 1).astype(np.float32), levels, patterns, seed=0, config_hash="run", epoch=20),
        30: tmp_path / "epoch_0030.npz",
    }
    epochs[30].write_bytes(b"PK\x03\x04 cut off")
    space = FeatureSpace.of(RealSlices.from_manifest(select_split(manifest, "train")), epochs=3)
    table = measures_over_epochs(manifest, epochs, c2st_epochs=3, space=space)
    assert list(table.columns) == list(COLUMNS) and table.epoch.tolist() == [10, 20]
    assert set(table.feature_space) == {space.fingerprint}  # a stored table names the network it was scored in
    assert set(table.two_sample_test) == {two_sample_label(3)} and two_sample_label(3) != two_sample_label()
    weights = space.model.get_weights()
    space.model.set_weights([weights[0] + 1e-3, *weights[1:]])
    assert space.fingerprint != table.feature_space.iloc[0]
    assert list(table.attrs["skipped"]) == [30] and "epoch_0030.npz" in table.attrs["skipped"][30]
    faithful, lopsided = table.iloc[0], table.iloc[1]
    present = sorted(set(patterns))
    assert present, "the small cohort's held-out patients have slices"
    for pattern in present:
        assert faithful[f"lr_median_{pattern}"] == pytest.approx(table.attrs["real_lr_median"][pattern])
        assert lopsided[f"lr_median_{pattern}"] < 0.85 * table.attrs["real_lr_median"][pattern]
    assert faithful.frechet_distance < lopsided.frechet_distance
    assert all(faithful[f"lr_p_{p}"] > 0.05 > lopsided[f"lr_p_{p}"] for p in present)
    # Both "epochs" are copies of the held-out slices, which the two-sample test folds by patient while the copies
    # fall in any fold: a copy seen in training gives its original away, so the AUCs here say nothing of realism
    # (test_two_sample_test_keeps_a_patients_slices_in_one_fold checks that); only that each has its interval.
    assert ((table.auc_low <= table.two_sample_auc) & (table.two_sample_auc <= table.auc_high)).all()
    picture = over_epochs({"run": table})
    assert picture.startswith(b"\x89PNG") and len(picture) > 5000


def test_cli_evaluate_names_a_malformed_synthetic_argument(ingested, tmp_path):
    _, work, _ = ingested
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--real",
            str(work / "manifest.parquet"),
            "--synthetic",
            "samples.npz",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "NAME=samples.npz" in " ".join(result.output.split())  # a usage error


def test_select_epoch_then_generate_best(tiny_run, ingested):
    from spect_toolkit.evaluate.selection import select_epoch
    from spect_toolkit.gan import generate

    _, work, _ = ingested
    result = select_epoch(tiny_run.run_dir, work / "manifest.parquet", minimum_per_condition=4)
    assert set(result.scores) == {1, 2} and result.epoch in (1, 2)
    assert result.scores[result.epoch] == min(result.scores.values())
    samples = generate(tiny_run.run_dir, per_condition=1, epoch="best")
    assert samples.epoch == result.epoch


def test_selection_smoothing_ignores_one_lucky_checkpoint():
    from spect_toolkit.evaluate.selection import smoothed

    values = {10: 9.0, 20: 8.0, 30: 1.0, 40: 8.5, 50: 3.0, 60: 2.8, 70: 3.1}  # epoch 30 is one lucky draw
    smooth = smoothed(values)
    assert min(smooth, key=smooth.get) in (50, 60, 70)  # a stretch of good checkpoints wins
    assert smooth[30] == 8.0 and smooth[60] == 3.0


def test_a_repeated_two_sample_test_is_the_mean_of_its_classifiers_and_starts_from_the_single_test():
    """Two real samples of different patients (a null): one classifier's AUC swings with its draw of folds and its
    seed, so the repeated test averages several. Its first repeat is the single test, so that AUCs stored from the
    single test stay comparable; its label differs, so that the two are never mixed."""
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(8), 8)

    def patient_textures():
        coarse = rng.random((8, 8, 8)).astype(np.float32)
        textures = np.kron(coarse, np.ones((8, 8), np.float32))[patients]
        return textures + rng.normal(0, 0.05, textures.shape).astype(np.float32)

    real, others = patient_textures(), patient_textures()
    kwargs = dict(epochs=5, boot=200, real_groups=patients, synthetic_groups=patients)
    single = two_sample_auc(real, others, **kwargs)
    repeated = two_sample_auc(real, others, repeats=3, **kwargs)
    assert len(repeated["auc_repeats"]) == 3 and repeated["auc_repeats"][0] == single["auc"]
    assert len(set(repeated["auc_repeats"])) == 3, repeated  # each repeat its own folds and classifier
    assert repeated["auc"] == pytest.approx(np.mean(repeated["auc_repeats"]))
    assert repeated["auc_low"] <= repeated["auc"] <= repeated["auc_high"], repeated
    assert repeated["test"] != single["test"] and repeated["test"].endswith("mean of 3 repeats")
    assert repeated["test"] == two_sample_label(5, by_patient=True, repeats=3)
    with pytest.raises(ArgumentError, match="repeats must be at least 1"):
        two_sample_auc(real, others, repeats=0, **kwargs)


def test_the_examples_figure_wraps_a_long_variant_name_within_its_own_columns():
    """A variant's long name over its columns: the saved figure (cropped to what it draws) stays as wide as the
    columns it was given, where a one-line title ran past them."""
    images = np.random.default_rng(0).random((6, 64, 64)).astype("float32")
    levels, patterns = np.array(["CER", "BG", "COR"] * 2), np.array(["normal"] * 6)
    name = "improved+remedies+reflect+scanner+resampled+fov+activity+grid+unshifted+decay+sides"
    data = examples({"real": (images, levels, patterns), name: (images, levels, patterns)}, per_cell=3)
    width = struct.unpack(">I", data[16:20])[0]  # the PNG header's width, pixels
    assert width <= 1.05 * 0.95 * 3 * 2 * 110, width  # the figure's width (0.95 in per column) at the report's dpi
