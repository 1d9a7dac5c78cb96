"""The scripts that docs/ tells a reader to run: they start, and what they print still matches the docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "docs" / "scripts"


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "script",
    [
        "background_sheet.py",
        "compare_variants.py",
        "count_level.py",
        "discriminator_gap.py",
        "head_position.py",
        "lean_floor.py",
        "paper_comparisons.py",
        "phantom_realism.py",
        "reconstruction_background.py",
        "reconstruction_edge.py",
        "reproduce_paper.py",
        "two_sample_checks.py",
    ],
)
def test_a_documented_script_imports_and_reads_its_options(script):
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:") and "--" in done.stdout


def test_the_parameter_table_in_the_gan_docs_is_what_the_networks_have():
    done = _run("gan_parameters.py")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| paper") or line.startswith("| improved")]
    assert len(rows) == 4
    docs = (ROOT / "docs" / "gan.md").read_text()
    assert all(row in docs for row in rows), "docs/gan.md has other parameter counts than the networks:\n" + "\n".join(
        rows
    )


def _script(name: str):
    """A docs script as a module, for its functions."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _two_sample_checks():
    return _script("two_sample_checks")


def test_the_control_sample_has_the_held_out_slices_levels_and_patterns():
    checks = _two_sample_checks()
    pool = pd.DataFrame(
        {"level": ["CER"] * 30 + ["COR"] * 40, "pattern": (["normal", "unilateral"] * 15) + ["bilateral"] * 40}
    )
    like = pd.DataFrame(
        {"level": ["CER", "CER", "CER", "COR"], "pattern": ["unilateral", "unilateral", "normal", "bilateral"]}
    )
    drawn = checks.same_conditions(pool, like, np.random.default_rng(0))
    assert len(set(drawn)) == len(drawn) == len(like)
    count = pool.iloc[drawn].groupby(["level", "pattern"]).size().to_dict()
    assert count == like.groupby(["level", "pattern"]).size().to_dict()


def test_the_slice_statistics_tell_exact_zeros_and_fine_noise_apart():
    from scipy.ndimage import gaussian_filter

    checks = _two_sample_checks()
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((40, 64, 64)), (0, 3, 3))
    smooth[:, :8] = 0.0  # eight rows of zero counts, as outside the head
    noisy = smooth + rng.normal(0.0, 0.05, smooth.shape)
    brain = np.zeros(smooth.shape, bool)
    brain[:, 20:44, 20:44] = True
    levels, patterns = ["COR"] * 40, ["normal"] * 30 + ["unilateral"] * 10
    plain, with_noise = (checks.slice_statistics(images, brain, levels, patterns) for images in (smooth, noisy))
    np.testing.assert_allclose(plain["exactly zero"], 8 / 64)
    assert not with_noise["exactly zero"].any()
    assert checks.separation(with_noise["log power, finest quarter"], plain["log power, finest quarter"]) == 1.0
    assert checks.separation(plain["brain 50th percentile"], with_noise["brain 50th percentile"]) == pytest.approx(
        0.5, abs=0.15
    )  # zero-mean noise barely moves the median


def test_the_slice_statistics_measure_how_far_a_slice_leans_whichever_side():
    from spect_toolkit.evaluate.measures import left_mask

    checks = _two_sample_checks()
    rng = np.random.default_rng(1)
    half = rng.uniform(0.2, 1.0, (6, 64, 32))
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)  # mirror-symmetric about the grid's midline
    leaning = np.where(left_mask(), 1.1, 1.0) * symmetric
    leaning[3:] = leaning[3:, :, ::-1]  # the same lean, to the other side
    images = np.concatenate([symmetric, leaning])
    patterns = ["normal"] * 3 + ["unilateral"] * 3 + ["normal"] * 6
    statistics = checks.slice_statistics(images, np.ones(images.shape, bool), ["COR"] * 12, patterns)
    lean = statistics["asymmetry |log LR|"]
    np.testing.assert_allclose(lean[:6], 0.0, atol=1e-6)
    np.testing.assert_allclose(lean[6:], np.log(1.1), rtol=1e-5)
    np.testing.assert_allclose(statistics["asymmetry |log LR|, normal"], lean[[0, 1, 2, 6, 7, 8, 9, 10, 11]])


def test_the_head_position_finds_a_head_moved_off_the_midline_and_moving_it_back_undoes_its_lean():
    from spect_toolkit.evaluate.measures import slice_measures

    position = _script("head_position")
    rows, columns = np.indices((64, 64))
    # a mirror-symmetric head about the grid's midline (31.5), brighter toward its centre
    head = np.clip(1.2 - np.hypot((rows - 30) / 24, (columns - 31.5) / 20), 0, None)
    moves = np.array([0, 1, -2, 3])
    images = np.stack([np.roll(head, move, axis=1) for move in moves])
    np.testing.assert_allclose(position.midline_offset(images), moves, atol=1e-9)
    lr = slice_measures(images, ["BG"] * 4)["lr"].to_numpy()
    assert lr[0] == pytest.approx(1.0, abs=1e-6) and lr[1] > 1.02 and lr[2] < 0.96 and lr[3] > lr[1]
    back = position.recentred(images, position.midline_offset(images))
    np.testing.assert_allclose(slice_measures(back, ["BG"] * 4)["lr"], 1.0, atol=1e-6)
    assert np.isnan(position.midline_offset(np.zeros((1, 64, 64))))[0]  # no head: no offset, and no error
    # by whole pixels, every value kept: a head 0.4 of a pixel off stays, 2.6 off moves 3 columns
    leaning = np.stack(
        [head * 0.6 + np.roll(head, 1, axis=1) * 0.4, np.roll(head, -3, axis=1) * 0.6 + np.roll(head, -2, axis=1) * 0.4]
    )
    offsets = position.midline_offset(leaning)
    assert 0.1 < offsets[0] < 0.5 and -2.9 < offsets[1] < -2.3
    rolled = position.centred(leaning)
    assert np.array_equal(rolled[0], leaning[0]) and np.array_equal(rolled[1], np.roll(leaning[1], 3, axis=1))


def test_the_augmented_control_moves_the_head_only_where_the_shift_is_on():
    from spect_toolkit.gan import ConditionSpace, TrainingSet

    checks = _two_sample_checks()
    slices = np.zeros((30, 64, 64), np.float32)
    slices[:, 30, 20] = 1.0  # one bright pixel: where the head is
    data = TrainingSet.from_arrays(slices, slices, slices, ["COR"] * 30, ["unilateral"] * 30, ConditionSpace(("COR",)))
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(checks.augmented(data, rng, ap_shift=0), slices)  # own neighbours, no flip allowed
    rows = {int(np.argwhere(image == 1.0)[0][0]) for image in checks.augmented(data, rng, mix=False, ap_shift=2)}
    assert rows == {28, 29, 30, 31, 32}


def test_the_volume_support_is_the_resampled_volume_not_the_zeros_inside_it():
    """A volume tilted by 12 degrees: zero outside it, and zero streaks inside it as the reconstruction's clipped
    noise leaves; the support is the tilted square, streaks included."""
    checks = _two_sample_checks()
    rows, columns = np.meshgrid(np.arange(64) - 31.5, np.arange(64) - 31.5, indexing="ij")
    angle = np.deg2rad(12.0)
    u, v = rows * np.cos(angle) - columns * np.sin(angle), rows * np.sin(angle) + columns * np.cos(angle)
    inside = (np.abs(u) < 28) & (np.abs(v) < 28)
    image = np.where(inside, 0.2, 0.0)
    image[20:44, 10] = 0.0  # a streak of zeros inside the volume, reaching its edge region
    image[12, 25:40] = 0.0
    support = checks.volume_support(image)
    assert support[20:44, 10].all() and support[12, 25:40].all()
    disagree = support != inside  # only along the tilted edge, where a pixel is half in
    assert disagree.sum() < 0.05 * inside.sum() and not support[0, 0] and support[32, 32]
    assert np.abs(support.sum() - inside.sum()) < 0.03 * inside.sum()


def test_the_enclosed_zero_share_tells_thin_streaks_from_blobs():
    checks = _two_sample_checks()
    streaks, blob = np.ones((1, 64, 64)), np.ones((1, 64, 64))
    streaks[0, 10:50:4, 5:60] = 0.0  # ten one-pixel lines: no zero has zeros on all four sides
    blob[0, 20:40, 20:40] = 0.0  # a 20 x 20 square: all but its rim enclosed
    everywhere = np.ones((64, 64), bool)
    assert checks.enclosed_zero_share(streaks, everywhere) == 0.0
    assert checks.enclosed_zero_share(blob, everywhere) == pytest.approx(18 * 18 / 400)
    left = np.zeros((64, 64), bool)
    left[:, :30] = True  # the region counts only its own zeros
    assert checks.enclosed_zero_share(blob, left) == pytest.approx(18 * 9 / (20 * 10))  # column 20 is rim


def test_the_edge_rings_find_a_frame_two_pixels_in():
    checks = _two_sample_checks()
    plain = np.full((2, 64, 64), 0.1)
    framed = plain.copy()
    framed[:, 1, 1:-1] = framed[:, -2, 1:-1] = framed[:, 1:-1, 1] = framed[:, 1:-1, -2] = 0.0  # ring 1 dark
    np.testing.assert_allclose(checks.edge_rings(plain), 0.1)
    rings = checks.edge_rings(framed)
    np.testing.assert_allclose(rings[:, [0, 2]], 0.1)
    np.testing.assert_allclose(rings[:, 1], 0.0, atol=1e-12)
    brain = np.zeros((2, 64, 64), bool)
    brain[:, 30:34, 30:34] = True
    dip = checks.slice_statistics(framed, brain, ["COR"] * 2, ["normal"] * 2)["second ring less its neighbours"]
    np.testing.assert_allclose(dip, -0.1)


def test_the_count_level_is_recovered_from_noise_made_at_a_known_level():
    """Noise drawn at count level 20 by the GAN layer's own model, on a head-shaped slice: the script's estimate
    from the noisy and noiseless slices comes back at 20."""
    from spect_toolkit.tomography import noise_operators

    script = _script("count_level")
    rows, cols = np.mgrid[:64, :64]
    head = (((rows - 34) / 20) ** 2 + ((cols - 30) / 16) ** 2 < 1) * 0.6 + ((rows - 28) ** 2 + (cols - 36) ** 2 < 25)
    head = head / head.max()  # the level is in units of the slice's peak
    clean = np.repeat(head[None] * 5.0, 40, axis=0)  # the estimate divides by the peak: any scale
    line_sums, reconstruct = noise_operators(64)
    sigma = np.sqrt(head.ravel()[None] @ line_sums / 20.0)
    noise = (sigma * np.random.default_rng(0).normal(size=(40, line_sums.shape[1]))) @ reconstruct
    levels = script.count_levels(clean, clean + 5.0 * noise.reshape(40, 64, 64))
    assert np.median(levels) == pytest.approx(20.0, rel=0.1)


def test_the_reproduction_cohorts_key_is_fixed_by_its_seed(tmp_path, monkeypatch):
    """Two machines that prepare the cohort with one seed get one key, so the same pseudonyms and the same held-out
    patients; another seed gets another key."""
    from spect_toolkit.pseudonym import load_or_create_key

    monkeypatch.syspath_prepend(str(SCRIPTS))  # the script imports compare_variants from its folder
    script = _script("reproduce_paper")
    keys = {}
    for name, seed in [("here", 7), ("there", 7), ("other", 8)]:
        (tmp_path / name).mkdir()
        keys[name] = load_or_create_key(script.cohort_key(tmp_path / name, seed))
    assert keys["here"] == keys["there"] != keys["other"]
    assert len(keys["here"]) >= 16


def test_the_paper_comparison_tells_a_shifted_mean_and_leaves_the_side_out_of_asymmetry():
    """Left and right defects of one depth: LR tells the samples apart, asymmetry does not; a sample like the
    reference passes both; a brighter one fails MC."""
    script = _script("paper_comparisons")
    rng = np.random.default_rng(0)

    def sample(n, mc, log_lr):
        return script.with_asymmetry(
            pd.DataFrame(
                {"pattern": "unilateral", "mc": rng.normal(mc, 0.02, n), "lr": np.exp(rng.normal(log_lr, 0.01, n))}
            )
        )

    left = sample(200, 0.70, -0.1)
    p = lambda group: script.against(left, group, "g").set_index("measure")["p"]  # noqa: E731
    alike, right, brighter = p(sample(200, 0.70, -0.1)), p(sample(200, 0.70, 0.1)), p(sample(200, 0.72, -0.1))
    assert (alike > 0.01).all()
    assert right["lr"] < 1e-6 and right["asymmetry"] > 0.01 and right["mc"] > 0.01
    assert brighter["mc"] < 1e-6 and brighter["lr"] > 0.01


def test_the_side_table_gives_lr_medians_per_side_only_where_every_slice_names_its_side():
    script = _script("paper_comparisons")
    table = pd.DataFrame(
        {
            "pattern": ["unilateral"] * 4 + ["normal"],
            "side": ["L", "L", "R", "R", "none"],
            "lr": [0.90, 0.92, 1.10, 1.14, 1.0],
        }
    )
    share, count, medians = script.left_lower(table)
    assert share == 0.5 and count == 4
    assert medians["unilateral L"] == pytest.approx(0.91) and medians["unilateral R"] == pytest.approx(1.12)
    assert script.left_lower(table.assign(side=None))[2] == {}  # a set generated without sides
    assert script.left_lower(table.drop(columns="side"))[2] == {}  # a report written before slices had a side


def test_the_level_table_gives_each_sets_means_per_pattern_and_level_and_a_dash_where_a_set_has_none(capsys):
    script = _script("paper_comparisons")
    real = pd.DataFrame(
        {
            "pattern": ["normal", "normal", "unilateral", "bilateral"],
            "level": ["CER", "CER", "CER", "BG"],
            "mc": [0.60, 0.70, 0.62, 0.71],
            "sd": [0.20, 0.22, 0.18, 0.14],
        }
    )
    script.print_by_level({"real": real, "generated": real[real["pattern"] != "bilateral"]})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| group | measure | normal CER | unilateral CER | bilateral BG |"  # no empty column
    assert lines[2] == "| real | mc | 0.650 | 0.620 | 0.710 |"
    assert lines[3] == "| real | sd | 0.210 | 0.180 | 0.140 |"
    assert lines[4] == "| generated | mc | 0.650 | 0.620 | - |"


def test_the_ideal_generators_are_the_training_slices_and_those_slices_mirrored_where_the_flip_would():
    script = _script("paper_comparisons")
    training = script.with_asymmetry(
        pd.DataFrame(
            {
                "pattern": ["normal", "normal", "unilateral", "bilateral"],
                "patient": ["P1", "P1", "P2", "P3"],
                "mc": [0.70, 0.72, 0.60, 0.65],
                "lr": [0.98, 0.99, 0.90, 1.05],
            }
        )
    )
    drawn, mirrored = script.ideal_generators(training).values()
    assert "patient" not in drawn and len(drawn) == 4
    assert len(mirrored) == 7  # the unilateral slice is not mirrored: its defect would change sides
    for pattern, lrs in (("normal", [0.98, 0.99, 1 / 0.98, 1 / 0.99]), ("bilateral", [1.05, 1 / 1.05])):
        part = mirrored[mirrored["pattern"] == pattern]
        np.testing.assert_allclose(sorted(part["lr"]), sorted(lrs))
        assert np.log(part["lr"]).mean() == pytest.approx(0.0, abs=1e-12)  # the set leans to neither side
        np.testing.assert_allclose(sorted(part["asymmetry"]), sorted(np.abs(np.log(lrs))))
        assert sorted(part["mc"]) == sorted(training.loc[training["pattern"] == pattern, "mc"].tolist() * 2)
    assert mirrored.loc[mirrored["pattern"] == "unilateral", "lr"].tolist() == [0.90]


def test_the_real_split_null_fails_where_a_patients_slices_move_together_unless_the_test_counts_patients():
    """Twelve slices per patient: with each patient's own offset, the slice-level test finds held-out patients
    different from the rest far more often than one draw in twenty, the patient-level test about as often as its
    level says; with slices independent of the patient, both do."""
    script = _script("paper_comparisons")
    rng = np.random.default_rng(1)
    patterns = ["normal"] * 30 + ["unilateral"] * 15 + ["bilateral"] * 15
    manifest = pd.DataFrame(
        [
            {"patient_key": f"P{i:02d}", "pattern": pattern, "side": "none" if pattern == "normal" else "L"}
            for i, pattern in enumerate(patterns)
            for _ in range(12)
        ]
    )

    def passed(patient_sd, test, ideal=False):
        offset = manifest["patient_key"].map(dict(zip(manifest["patient_key"].unique(), rng.normal(0, 1, 60))))
        noise = rng.normal(0, 1, (2, len(manifest)))
        table = manifest.assign(patient=manifest["patient_key"], mc=0.7 + 0.01 * (patient_sd * offset + noise[0]))
        table = table.assign(lr=np.exp(0.01 * (patient_sd * offset + noise[1])))
        null = script.real_split_null(manifest, table, draws=40, test=test, ideal=ideal)
        assert null.groupby(["draw", "split"]).size().max() == 6 and set(null["split"]) == {"patient key", "stratified"}
        return null["passed"].mean()

    assert passed(0.0, script.against) > 0.85 and passed(2.0, script.against) < 0.6
    assert passed(0.0, script.against_patients) > 0.85 and passed(2.0, script.against_patients) > 0.85
    # the training patients' slices scored as an exact generator's: as real samples where slices are independent,
    # and by the slice-level test failing as often where a patient's slices move together
    assert passed(0.0, script.against, ideal=True) > 0.85 and passed(2.0, script.against, ideal=True) < 0.6


def test_the_lean_floors_paired_batches_share_level_and_pattern_slice_by_slice_and_balance_the_patterns():
    floor = _script("lean_floor")
    patterns = np.array(["normal"] * 60 + ["unilateral"] * 25 + ["bilateral"] * 5)
    levels = np.array(["CER", "BG", "COR"] * 30)
    first, second = floor.paired_batches(patterns, levels, 3000, np.random.default_rng(0))
    assert (patterns[first] == patterns[second]).all() and (levels[first] == levels[second]).all()
    assert (first != second).any()  # a second draw, not the same slices
    shares = np.array([(patterns[first] == p).mean() for p in floor.PATTERNS])
    assert np.abs(shares - 1 / 3).max() < 0.04, shares  # drawn as the data are (2/3 normal), this fails


def test_the_discriminator_gap_scores_a_runs_last_checkpoint_or_a_kept_copy(tiny_run, ingested):
    from spect_toolkit.manifest import load_manifest

    script = _script("discriminator_gap")
    _, work, _ = ingested
    manifest = load_manifest(work / "manifest.parquet")
    result = script.gap(tiny_run.run_dir, manifest)
    assert result["epoch"] == 2
    assert all(0.0 <= result[k] <= 1.0 for k in ("train_vs_holdout_auc", "holdout_vs_generated_auc"))
    assert -1.0 <= result["ada_rt"] <= 1.0
    assert script.auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert script.auc(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.5
    # the previous last.npz: epoch 1's state, the discriminator and generator as they were then
    earlier = script.gap(tiny_run.run_dir, manifest, state=tiny_run.run_dir / "checkpoints" / "last.previous.npz")
    assert earlier["epoch"] == 1 and earlier["mean_logit_train"] != result["mean_logit_train"]


def test_the_checkpoint_mixture_draws_each_slice_as_one_saved_checkpoint_draws_it(tiny_run, ingested):
    from spect_toolkit.errors import ArgumentError
    from spect_toolkit.gan.generate import load_generator, sample
    from spect_toolkit.manifest import load_manifest

    script = _script("compare_variants")
    _, work, _ = ingested
    like = load_manifest(work / "manifest.parquet")
    mixed = script.checkpoint_mixture(tiny_run.run_dir, 1, like, seed=3)
    alone = {e: sample(load_generator(tiny_run.run_dir, e)[0], e, like=like, seed=3000 + e) for e in (1, 2)}
    assert len(mixed.images) == len(like)
    assert (mixed.level == alone[2].level).all() and (mixed.pattern == alone[2].pattern).all()
    from_first = (mixed.images == alone[1].images).all(axis=(1, 2))
    from_second = (mixed.images == alone[2].images).all(axis=(1, 2))
    assert (from_first | from_second).all()  # every slice as one checkpoint drew it, none blended
    assert from_first.any() and from_second.any() and not (from_first & from_second).all()
    with pytest.raises(ArgumentError, match="no checkpoint for epoch 3"):
        script.checkpoint_mixture(tiny_run.run_dir, 3, like, seed=3)


def test_an_ensemble_mixes_every_runs_checkpoints_each_run_with_its_own_noise(tiny_run, ingested):
    from spect_toolkit.errors import ArgumentError
    from spect_toolkit.gan.generate import load_generator, sample
    from spect_toolkit.manifest import load_manifest

    script = _script("compare_variants")
    _, work, _ = ingested
    like = load_manifest(work / "manifest.parquet")
    # the same run twice stands for two seeds' runs: only the noise tells their draws apart
    mixed = script.checkpoint_mixture([tiny_run.run_dir, tiny_run.run_dir], 1, like, seed=3)
    draws = {
        (run, e): sample(load_generator(tiny_run.run_dir, e)[0], e, like=like, seed=3000 + e + 100_000 * run).images
        for run in (0, 1)
        for e in (1, 2)
    }
    source = np.stack([(mixed.images == images).all(axis=(1, 2)) for images in draws.values()])
    assert source.any(axis=0).all()  # every slice as one checkpoint of one run drew it
    assert source[2:].any() and source[:2].any()  # both runs drawn from
    assert not np.array_equal(draws[0, 1], draws[1, 1])  # the second run's noise is its own
    alone = script.checkpoint_mixture(tiny_run.run_dir, 1, like, seed=3)
    assert np.array_equal(script.checkpoint_mixture([tiny_run.run_dir], 1, like, seed=3).images, alone.images)
    with pytest.raises(ArgumentError, match="no checkpoint for epoch 3"):
        script.checkpoint_mixture([tiny_run.run_dir, tiny_run.run_dir], 3, like, seed=3)
