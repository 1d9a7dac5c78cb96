"""The conditional FastGAN: Table 2's vectors, block shapes, the paper's augmentation, resume and determinism,
sampling. Tiny networks and a handful of steps; never a real training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.errors import ArgumentError, SchemaError
from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, augment, generate, make_config, train
from spect_toolkit.gan.generate import load_generator
from spect_toolkit.gan.networks import build_networks
from spect_toolkit.samples import load_samples

from conftest import real_batch

TINY = dict(width=4, batch_size=8, checkpoint_every=1, steps_per_call=3)


def test_condition_vectors_match_table_2_of_the_paper():
    a = ConditionSpace(("CER", "BG", "COR"))
    table_a = {
        ("CER", "normal"): "100100",
        ("CER", "unilateral"): "100010",
        ("CER", "bilateral"): "100001",
        ("BG", "normal"): "010100",
        ("BG", "unilateral"): "010010",
        ("BG", "bilateral"): "010001",
        ("COR", "normal"): "001100",
        ("COR", "unilateral"): "001010",
        ("COR", "bilateral"): "001001",
    }
    for condition, bits in table_a.items():
        assert a.vector(*condition).tolist() == [float(b) for b in bits]
    b = ConditionSpace(("COR",))
    for pattern, bits in {"normal": "100", "unilateral": "010", "bilateral": "001"}.items():
        assert b.vector("COR", pattern).tolist() == [float(x) for x in bits]
    assert (a.size, b.size) == (6, 3)
    levels = ["COR", "CER", "BG", "COR"]
    assert a.level_index(a.vectors(levels, ["bilateral", "normal", "unilateral", "normal"])).tolist() == [2, 0, 1, 2]
    assert b.level_index(b.vectors(["COR"] * 2, ["bilateral", "normal"])).tolist() == [0, 0]
    assert ConditionSpace(("COR", "CER")).levels == ("CER", "COR")  # the paper's order whatever the input order
    with pytest.raises(ArgumentError, match="level 'CER' is not in this model's data set"):
        b.vector("CER", "normal")
    with pytest.raises(ArgumentError, match="unknown pattern"):
        a.vector("COR", "diffuse")


@pytest.mark.parametrize("levels", [("CER", "BG", "COR"), ("COR",)])
def test_every_block_has_the_expected_shape(levels):
    space = ConditionSpace(levels)
    config = make_config("paper", width=8)
    nets = build_networks(config, space.size)
    g, d = nets["generator"], nets["discriminator"]
    w = config.width
    expected_g = {
        "embed": (None, 64),
        "input_glu": (None, 4, 4, 8 * w),
        "up8_glu": (None, 8, 8, 4 * w),
        "up16_glu": (None, 16, 16, 2 * w),
        "up32_glu": (None, 32, 32, w),
        "up64_glu": (None, 64, 64, w // 2),
        "sle_sigmoid": (None, 1, 1, w // 2),
        "output_tanh": (None, 64, 64, 1),
    }
    for name, shape in expected_g.items():
        assert tuple(g.get_layer(name).output.shape) == shape, name
    assert tuple(g.inputs[0].shape) == (None, 256) and tuple(g.inputs[1].shape) == (None, space.size)
    expected_d = {
        "condition_image": (None, 64, 64, 1 + space.size),
        "input_lrelu": (None, 64, 64, w // 2),
        "down32_lrelu": (None, 32, 32, w),
        "down16_lrelu": (None, 16, 16, 2 * w),
        "down8_lrelu": (None, 8, 8, 4 * w),
        "down4_lrelu": (None, 4, 4, 8 * w),
        "logits": (None, 1),
    }
    for name, shape in expected_d.items():
        assert tuple(d.get_layer(name).output.shape) == shape, name
    assert tuple(nets["decoder_whole"].output.shape) == (None, 64, 64, 1)
    assert tuple(nets["decoder_part"].output.shape) == (None, 32, 32, 1)
    assert tuple(nets["decoder_whole"].input.shape) == (None, 8, 8, 4 * w)  # B2: third down block
    assert tuple(nets["decoder_part"].input.shape) == (None, 8, 8, 2 * w)  # crop of B1: second down block
    images = g([np.zeros((2, 256), np.float32), np.tile(space.vector(levels[0], "normal"), (2, 1))])
    assert float(np.min(images)) >= -1 and float(np.max(images)) <= 1


def _marker_set(patterns, sides=None):
    """One 64x64 slice per pattern with a single bright pixel at (30, 20) (right hemisphere, centre row); with
    ``sides``, a space conditioned on them."""
    n = len(patterns)
    slices = np.zeros((n, 64, 64), np.float32)
    slices[:, 30, 20] = 1.0
    below, above = slices.copy(), slices.copy()  # Eq. 6 then leaves the slice as it is
    levels = ["COR"] * n
    space = ConditionSpace(("COR",), sides=sides is not None)
    return TrainingSet.from_arrays(slices, below, above, levels, patterns, space, sides), space


def _draws(gan, count):
    batches = [np.asarray(real_batch(gan, [5, k])[0])[..., 0] for k in range(count)]
    return [image for batch in batches for image in batch]


@pytest.mark.parametrize("ap_shift", [2, 0])
def test_shift_stays_within_ap_shift_pixels_anterior_posterior_and_flip_spares_unilateral(ap_shift):
    data, space = _marker_set(["unilateral"])
    gan = FastGAN(make_config("paper", ap_shift=ap_shift, **TINY), space, data, mode="eager")
    rows, cols = set(), set()
    for image in _draws(gan, 60):
        bright = np.argwhere(image > 0.99)  # the marker (value 1 -> +1 in [-1, 1])
        ((r, c),) = bright
        rows.add(int(r) - 30)
        cols.add(int(c))
    assert rows == set(range(-ap_shift, ap_shift + 1))  # every shift in range occurs, none outside it
    assert cols == {20}  # never moved left-right, never flipped: a unilateral defect keeps its side
    with pytest.raises(ArgumentError, match="ap_shift must lie in 0..31"):
        make_config("paper", ap_shift=-1)


def test_flip_happens_for_normal_and_bilateral_slices():
    for pattern in ("normal", "bilateral"):
        data, space = _marker_set([pattern])
        gan = FastGAN(make_config("paper", **TINY), space, data, mode="eager")
        cols = {int(np.argwhere(image > 0.99)[0][1]) for image in _draws(gan, 40)}
        assert cols == {20, 63 - 20}, pattern


def test_the_flip_of_real_slices_can_be_left_out_and_then_generated_slices_are_not_mirrored():
    for pattern in ("normal", "bilateral"):
        data, space = _marker_set([pattern])
        gan = FastGAN(make_config("paper", flip_real_slices=False, **TINY), space, data, mode="eager")
        cols = {int(np.argwhere(image > 0.99)[0][1]) for image in _draws(gan, 40)}
        assert cols == {20}, pattern  # the slice keeps the side it leans to
    with pytest.raises(ArgumentError, match="mirror_generated mirrors the generated slices"):
        make_config("improved", mirror_generated=True, flip_real_slices=False)


def test_eq6_mixes_only_with_the_slices_own_craniocaudal_neighbour():
    rng = np.random.default_rng(0)
    n = 5
    values = rng.uniform(0.2, 1.0, size=(n, 3)).astype(np.float32)  # own, below, above levels per slice
    slices = np.broadcast_to(values[:, 0, None, None], (n, 64, 64)).copy()
    below = np.broadcast_to(values[:, 1, None, None], (n, 64, 64)).copy()
    above = np.broadcast_to(values[:, 2, None, None], (n, 64, 64)).copy()
    space = ConditionSpace(("COR",))
    data = TrainingSet(slices, below, above, space.vectors(["COR"] * n, ["normal"] * n), np.ones(n, bool))
    gan = FastGAN(make_config("paper", **TINY), space, data, mode="eager")
    for image in _draws(gan, 30):
        for value in (image[32, :] + 1) / 2:  # a centre row is never blanked by a 2-pixel shift
            # value = w * own + (1 - w) * neighbour for one row of the set and one of its two neighbours
            fits = [(i, j) for i in range(n) for j in (1, 2) if _between(value, values[i, 0], values[i, j])]
            assert fits, value
    # a direct check of the formula
    mixed = augment.mix_adjacent(slices[:1], below[:1], above[:1], np.array([0.25], np.float32), np.array([True]))
    np.testing.assert_allclose(np.asarray(mixed)[0, 0, 0], 0.25 * values[0, 0] + 0.75 * values[0, 2], rtol=1e-6)


def _between(value, a, b, tol=1e-5):
    return min(a, b) - tol <= value <= max(a, b) + tol


def test_training_set_normalises_each_slice_by_its_maximum():
    space = ConditionSpace(("BG", "COR"))
    slices = np.random.default_rng(1).uniform(0, 80, (4, 64, 64)).astype(np.float32)
    data = TrainingSet.from_arrays(
        slices,
        slices * 2,
        slices * 0.5,
        ["BG", "COR", "BG", "COR"],
        ["normal", "unilateral", "bilateral", "normal"],
        space,
    )
    assert np.allclose(data.slices.reshape(4, -1).max(1), 1) and np.allclose(data.below.reshape(4, -1).max(1), 1)
    assert data.flip_allowed.tolist() == [True, False, True, True]
    assert data.condition.shape == (4, 5)


def test_resumed_run_matches_a_straight_run(ingested, tmp_path):
    _, work, _ = ingested
    manifest = work / "manifest.parquet"
    config = make_config("paper", epochs=2, **TINY)
    straight = train(manifest, tmp_path / "straight", config, mode="function")
    train(manifest, tmp_path / "split", make_config("paper", epochs=1, **TINY), mode="function")
    with pytest.raises(SchemaError, match="already holds a run"):
        train(manifest, tmp_path / "split", config, mode="function")
    resumed = train(manifest, tmp_path / "split", config, resume=True, mode="function")
    assert resumed.steps == straight.steps > 0 and resumed.epochs_done == 2
    a = np.load(tmp_path / "straight" / "checkpoints" / "last.npz")
    b = np.load(tmp_path / "split" / "checkpoints" / "last.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key.startswith(("g_optimizer", "d_optimizer", "step")):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    first = pd.read_csv(tmp_path / "straight" / "losses.csv")
    second = pd.read_csv(tmp_path / "split" / "losses.csv")
    assert first.loc[0, "d_real"] == second.loc[0, "d_real"] and first.loc[0, "g_loss"] == second.loc[0, "g_loss"]
    assert len(second) == 2  # the resumed log continues the first one


def test_interrupted_write_leaves_the_last_checkpoint_usable(tiny_run):
    last = tiny_run.run_dir / "checkpoints" / "last.npz"
    (last.parent / "last.npz.tmp").write_bytes(b"half a checkpoint")  # what a kill during save leaves
    from spect_toolkit.gan import checkpoint

    gan = FastGAN(tiny_run.config, ConditionSpace(tiny_run.config.levels))
    assert checkpoint.load(last, gan.state()) == tiny_run.epochs_done
    assert gan.steps_done == tiny_run.steps


def test_run_folder_holds_what_a_user_looks_for(tiny_run):
    run = tiny_run.run_dir
    for name in (
        "config.json",
        "losses.csv",
        "checkpoints/last.npz",
        "checkpoints/epoch_0002.npz",
        "samples/epoch_0002.png",
    ):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").iterdir())
    log = pd.read_csv(run / "losses.csv")
    assert list(log.epoch) == [1, 2] and np.isfinite(log[["d_real", "d_fake", "recon", "g_loss"]].to_numpy()).all()


def test_tensorboard_gets_the_losses_and_sample_grids_without_tensorflow_summary_ops(ingested, tmp_path, monkeypatch):
    from io import BytesIO

    import tensorflow as tf
    from matplotlib.image import imread
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # tf.summary's ops, run between epochs in the training process, changed the training's arithmetic from the
    # second epoch on, by Python's hash seed: the run must not call them
    def refuse(*args, **kwargs):
        raise AssertionError("tf.summary called during training")

    for name in ("scalar", "image", "create_file_writer"):
        monkeypatch.setattr(tf.summary, name, refuse)
    _, work, _ = ingested
    config = make_config("paper", epochs=2, width=4, batch_size=16, checkpoint_every=1, steps_per_call=4)
    train(work / "manifest.parquet", tmp_path / "run", config, mode="function")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0}).Reload()
    log = pd.read_csv(tmp_path / "run" / "losses.csv")
    for name in ("d_real", "d_fake", "recon", "g_loss", "images_per_s"):
        scalars = events.Scalars(name)
        assert [e.step for e in scalars] == [1, 2]
        np.testing.assert_allclose([e.value for e in scalars], log[name], rtol=1e-6)
    grids = events.Images("samples")
    assert [g.step for g in grids] == [1, 2]
    png = (tmp_path / "run" / "samples" / "epoch_0002.png").read_bytes()
    assert grids[1].encoded_image_string == png
    assert (grids[1].height, grids[1].width) == imread(BytesIO(png)).shape[:2]


def test_generate_per_condition_and_like_a_manifest(tiny_run, ingested):
    _, work, _ = ingested
    samples = generate(tiny_run.run_dir, per_condition=3, seed=4)
    space = ConditionSpace(tiny_run.config.levels)
    assert len(samples.images) == 3 * len(space.conditions)
    assert samples.config_hash == tiny_run.config.hash and samples.epoch == 2
    assert samples.side is None  # the paper's condition asks for no side, so none is recorded
    assert 0.0 <= samples.images.min() and samples.images.max() <= 1.0
    again = generate(tiny_run.run_dir, per_condition=3, seed=4)
    np.testing.assert_array_equal(samples.images, again.images)  # the seed fixes the slices
    manifest = pd.read_parquet(work / "manifest.parquet")
    like = generate(tiny_run.run_dir, like=work / "manifest.parquet", seed=1, epoch=1)
    made = pd.Series(1, index=pd.MultiIndex.from_arrays([like.level, like.pattern])).groupby(level=[0, 1]).sum()
    wanted = manifest.groupby(["level", "pattern"]).size()
    assert made.sort_index().to_dict() == wanted.sort_index().to_dict() and like.epoch == 1
    with pytest.raises(SchemaError, match="no checkpoint for epoch 7"):
        generate(tiny_run.run_dir, per_condition=1, epoch=7)


def test_generate_averages_the_generator_over_the_checkpoints_asked_for(tiny_run, tmp_path):
    from spect_toolkit.gan import checkpoint

    stored = [checkpoint.read(tiny_run.run_dir / "checkpoints" / f"epoch_{e:04d}.npz") for e in (1, 2)]
    gan, epoch = load_generator(tiny_run.run_dir, epoch=2, average_from=1)
    keys = sorted(k for k in stored[1].arrays if k.startswith("generator/"))
    assert epoch == 2 and len(keys) == len(gan.generator.weights)
    moved = 0
    for key, variable in zip(keys, gan.generator.weights):  # every weight and statistic the two epochs' mean
        first, last = stored[0].arrays[key], stored[1].arrays[key]
        np.testing.assert_allclose(np.asarray(variable.numpy()), (first + last) / 2, rtol=1e-6, atol=1e-7)
        moved += not np.allclose(first, last)
    assert moved > len(keys) // 2  # the two epochs differ, so the mean is neither of them

    averaged = generate(tiny_run.run_dir, per_condition=2, seed=3, epoch=2, average_from=1)
    alone = [generate(tiny_run.run_dir, per_condition=2, seed=3, epoch=e) for e in (1, 2)]
    assert all(not np.allclose(averaged.images, other.images) for other in alone)
    np.testing.assert_array_equal(
        generate(tiny_run.run_dir, per_condition=2, seed=3, epoch=2, average_from=2).images, alone[1].images
    )
    averaged.save(tmp_path / "samples.npz")
    again = load_samples(tmp_path / "samples.npz")
    assert (again.epoch, again.averaged_from) == (2, 1) and alone[1].averaged_from is None

    with pytest.raises(ArgumentError, match="average_from \\(3\\) comes after the epoch sampled \\(2\\)"):
        generate(tiny_run.run_dir, per_condition=1, epoch=2, average_from=3)
    with pytest.raises(SchemaError, match="no checkpoint for epoch 0 to average from; saved: 1, 2"):
        generate(tiny_run.run_dir, per_condition=1, average_from=0)
    other = checkpoint.Checkpoint(stored[0].path, 1, {**stored[0].arrays, keys[0]: np.zeros((1, 1), np.float32)})
    with pytest.raises(SchemaError, match=f"{keys[0]} does not match epoch_0002.npz's"):
        checkpoint.averaged([other, stored[1]], ("generator",))


def test_cli_train_and_generate(ingested, tmp_path):
    _, work, _ = ingested
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(work / "manifest.parquet"),
            "--out",
            str(run),
            "--levels",
            "COR",
            "--epochs",
            "1",
            "--width",
            "4",
            "--batch-size",
            "8",
            "--step-mode",
            "function",
            "--floored-output",
            "--spectrum-weight",
            "0.5",
            "--edge-profile-weight",
            "0.5",
            "--no-flip-real-slices",
            "--lean-weight",
            "10",
            "--ap-shift",
            "0",
            "--full-resolution-convs",
            "2",
            "--generator-padding",
            "reflect",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 epochs" in result.output
    saved = json.loads((run / "config.json").read_text())
    assert saved["floored_output"] is True and saved["spectrum_weight"] == 0.5 and saved["ap_shift"] == 0
    assert saved["full_resolution_convs"] == 2 and saved["generator_padding"] == "reflect"
    assert saved["edge_profile_weight"] == 0.5 and saved["flip_real_slices"] is False and saved["lean_weight"] == 10
    trained, _ = load_generator(run)  # the edge gains are trained, saved with the generator and read back
    assert np.all(np.asarray(trained.generator.get_layer("output_edge_gain").log_gains()) != 0.0)
    out = tmp_path / "s.npz"
    result = CliRunner().invoke(app, ["generate", str(run), "--out", str(out), "--per-condition", "2"])
    assert result.exit_code == 0, result.output
    samples = load_samples(out)
    assert set(samples.level) == {"COR"} and len(samples.images) == 6  # data set B: one level, three patterns
    bad = CliRunner().invoke(
        app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r2"), "--preset", "fancy"]
    )
    assert bad.exit_code == 2 and "unknown preset 'fancy'" in " ".join(bad.output.split())  # a usage error
    clash = CliRunner().invoke(
        app,
        ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r4"), "--floored-output"]
        + ["--reconstruction-counts", "15"],
    )
    assert clash.exit_code == 2 and "not with another output" in " ".join(clash.output.split())
    alone = CliRunner().invoke(
        app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r5"), "--reconstruction-resampled"]
    )
    assert alone.exit_code == 2 and "set reconstruction_counts" in " ".join(alone.output.split())
    unmasked = CliRunner().invoke(
        app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r6"), "--reconstruction-field-of-view"]
    )
    assert unmasked.exit_code == 2 and "masks the reconstruction noise" in " ".join(unmasked.output.split())
    unreconstructed = CliRunner().invoke(
        app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r7"), "--reconstruction-of-activity"]
    )
    assert unreconstructed.exit_code == 2 and "reconstructs the slice" in " ".join(unreconstructed.output.split())
    unplaced = CliRunner().invoke(
        app,
        ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r8"), "--reconstruction-counts", "15"]
        + ["--reconstruction-acquisition-grid"],
    )
    assert unplaced.exit_code == 2 and "set reconstruction_field_of_view" in " ".join(unplaced.output.split())
    unresampled = CliRunner().invoke(
        app,
        ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r9"), "--reconstruction-counts", "15"]
        + ["--reconstruction-offset-grid"],
    )
    assert unresampled.exit_code == 2 and "set reconstruction_resampled" in " ".join(unresampled.output.split())
    none = CliRunner().invoke(app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "r3"), "--resume"])
    assert none.exit_code == 1 and "nothing to resume" in " ".join(none.output.split())


def test_improved_preset_runs_its_extra_parts():
    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    config = make_config("improved", **{**TINY, "batch_size": 4})
    assert config.spectral_norm and config.ema_decay > 0 and config.diff_augment and config.random_margin
    gan = FastGAN(config, space, data, mode="function")
    before = [np.asarray(v).copy() for v in gan.ema]
    losses = np.asarray(gan.train_steps(2))
    assert np.isfinite(losses).all() and gan.steps_done == 2
    assert any(not np.allclose(b, np.asarray(v)) for b, v in zip(before, gan.ema))  # EMA follows the weights
    assert make_config("paper") != make_config("improved") and make_config("paper").hash != config.hash


def test_cutout_blanks_a_square_of_half_the_slice_clipped_at_the_edge():
    ones = np.ones((2, 64, 64), "float32")
    cut = np.asarray(augment.cutout(ones, np.array([32, 0]), np.array([32, 63]), 32))
    centred, corner = np.argwhere(cut[0] == 0), np.argwhere(cut[1] == 0)
    assert len(centred) == 32 * 32 and centred.min(0).tolist() == [16, 16] and centred.max(0).tolist() == [47, 47]
    assert len(corner) == 16 * 17 and corner.min(0).tolist() == [0, 47] and corner.max(0).tolist() == [15, 63]
    assert np.all(cut[cut != 0] == 1)


def test_diff_augment_without_colour_keeps_the_counts_and_moves_the_slice_as_with_it():
    import tensorflow as tf

    from spect_toolkit.gan.step import discriminator_view
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    rng = np.random.default_rng(0)
    images = rng.uniform(-0.5, 1.0, (16, 64, 64, 1)).astype("float32")
    augmented = {
        colour: np.asarray(
            discriminator_view(
                images,
                make_config("improved", diff_augment_colour=colour),
                TensorFlowDraws(tf.constant([5, 6], tf.int64)),
            )
        )[..., 0]
        for colour in (True, False)
    }
    # translation alone: every pixel is one of the slice's own values or the background that fills the border
    inside = augmented[False] != -1.0
    values = [set(np.round(images[i, ..., 0], 6).ravel()) for i in range(16)]
    assert all(set(np.round(augmented[False][i][inside[i]], 6)) <= values[i] for i in range(16))
    # the same translations as with colour: the filled border lies in the same place
    assert np.array_equal(inside, augmented[True] != -1.0)
    assert not np.allclose(augmented[True][inside], augmented[False][inside])
    with pytest.raises(ArgumentError, match="set diff_augment"):
        make_config("paper", diff_augment_colour=False)


def test_diff_augment_cutout_blanks_every_image_before_the_discriminator_and_trains():
    import tensorflow as tf

    from spect_toolkit.gan.step import CUTOUT_SIZE, discriminator_view
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    config = make_config("improved", diff_augment_cutout=True, **{**TINY, "batch_size": 4})
    # a constant slice keeps its value under DiffAugment's contrast and, within the translation, its brightness
    # shift; the cutout is the one place it becomes 0
    images = np.full((64, 64, 64, 1), 0.9, "float32")
    augmented = np.asarray(discriminator_view(images, config, TensorFlowDraws(tf.constant([3, 4], tf.int64))))[..., 0]
    blanked = (augmented == 0).sum(axis=(1, 2))
    assert np.all(blanked > 0) and np.all(blanked <= CUTOUT_SIZE**2) and (blanked == CUTOUT_SIZE**2).any()
    plain = np.asarray(
        discriminator_view(images, make_config("improved"), TensorFlowDraws(tf.constant([3, 4], tf.int64)))
    )
    assert not (plain == 0).any()
    with pytest.raises(ArgumentError, match="set diff_augment"):
        make_config("paper", diff_augment_cutout=True)
    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    gan = FastGAN(config, space, data, mode="function")
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    assert config.hash != make_config("improved", **{**TINY, "batch_size": 4}).hash


def test_diff_augment_translation_moves_each_slice_no_further_than_asked_and_zero_leaves_the_border_as_it_is():
    from spect_toolkit.gan.config import MAX_TRANSLATION

    images = np.random.default_rng(2).uniform(-0.5, 1.0, (32, 64, 64, 1)).astype("float32")

    def view(reach):
        return _translated_view(images, diff_augment_translation=reach)

    # without translation the discriminator sees every slice as it is, its outermost ring included
    assert np.array_equal(view(0), images[..., 0])
    moved = view(2)
    shifts = [_zero_filled_shifts(images[i, ..., 0], moved[i], 3) for i in range(32)]
    assert all(len(found) == 1 and max(map(abs, found[0])) <= 2 for found in shifts)
    assert sum(found[0] != (0, 0) for found in shifts) > 16  # 24 of 25 draws move a slice
    # at its default the option leaves a run's hash as it was, so stored runs keep theirs
    assert make_config("improved", diff_augment_translation=8).hash == make_config("improved").hash
    assert make_config("improved", diff_augment_translation=0).hash != make_config("improved").hash
    for bad, message in ((-1, "must lie in"), (MAX_TRANSLATION + 1, "must lie in")):
        with pytest.raises(ArgumentError, match=message):
            make_config("improved", diff_augment_translation=bad)
    with pytest.raises(ArgumentError, match="set diff_augment"):
        make_config("paper", diff_augment_translation=0)


def test_diff_augment_translation_probability_leaves_the_rest_of_the_slices_where_they_lie():
    images = np.random.default_rng(3).uniform(-0.5, 1.0, (200, 64, 64, 1)).astype("float32")

    def unmoved(probability):
        view = _translated_view(images, diff_augment_translation_probability=probability)
        return np.mean([np.array_equal(view[i], images[i, ..., 0]) for i in range(len(images))])

    # at 1 only the 1 in 289 draws of (0, 0) leaves a slice in place; at 0.5 about half are left (binomial sd 0.035)
    assert unmoved(1.0) < 0.03
    assert 0.38 < unmoved(0.5) < 0.62
    assert unmoved(0.1) > 0.8
    assert make_config("improved", diff_augment_translation_probability=1.0).hash == make_config("improved").hash
    assert make_config("improved", diff_augment_translation_probability=0.5).hash != make_config("improved").hash
    for bad in (0.0, 1.5):
        with pytest.raises(ArgumentError, match=r"in \(0, 1\]"):
            make_config("improved", diff_augment_translation_probability=bad)
    with pytest.raises(ArgumentError, match="set diff_augment"):
        make_config("paper", diff_augment_translation_probability=0.5)


def test_diff_augment_translation_fill_reflect_moves_the_slices_alike_and_mirrors_their_own_border_in():
    images = np.random.default_rng(4).uniform(-0.5, 1.0, (32, 64, 64, 1)).astype("float32")
    zero_filled = _translated_view(images)
    reflected = _translated_view(images, diff_augment_translation_fill="reflect")
    # the same draws move each slice alike; only the uncovered border differs (no drawn pixel is exactly -1)
    covered = zero_filled != -1.0
    assert np.array_equal(reflected[covered], zero_filled[covered])
    assert (~covered).sum() > 32 * 64 * 4  # most slices were moved, so a border was filled
    assert not (reflected == -1.0).any()
    for i in range(32):
        (r, c), image = _zero_filled_shifts(images[i, ..., 0], zero_filled[i], 8)[0], images[i, ..., 0]
        padded = np.pad(image, 8, mode="reflect")  # numpy's own mirror about the edge pixel
        assert np.array_equal(reflected[i], padded[8 - r : 72 - r, 8 - c : 72 - c])
    assert make_config("improved", diff_augment_translation_fill="zeros").hash == make_config("improved").hash
    assert make_config("improved", diff_augment_translation_fill="reflect").hash != make_config("improved").hash
    with pytest.raises(ArgumentError, match="zeros or reflect"):
        make_config("improved", diff_augment_translation_fill="wrap")
    with pytest.raises(ArgumentError, match="set diff_augment"):
        make_config("paper", diff_augment_translation_fill="reflect")


def _translated_view(images: np.ndarray, **options) -> np.ndarray:
    """What the ``improved`` preset's discriminator sees of ``images`` with ``options``, DiffAugment's colour off so
    that its translation alone acts (one fixed draw), as (n, 64, 64)."""
    import tensorflow as tf

    from spect_toolkit.gan.step import discriminator_view
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    config = make_config("improved", diff_augment_colour=False, **options)
    return np.asarray(discriminator_view(images, config, TensorFlowDraws(tf.constant([5, 6], tf.int64))))[..., 0]


def _zero_filled_shifts(image: np.ndarray, view: np.ndarray, reach: int) -> list[tuple[int, int]]:
    """Every (rows, columns) move of at most ``reach`` pixels each way that turns ``image`` into ``view`` with
    the uncovered border at -1 (the zero fill)."""
    span = range(-reach, reach + 1)
    return [(r, c) for r in span for c in span if np.array_equal(_shifted(image, r, c, -1.0), view)]


def _shifted(image: np.ndarray, rows: int, columns: int, fill: float) -> np.ndarray:
    """``image`` moved ``rows`` down and ``columns`` right, the uncovered border set to ``fill`` (numpy's own)."""
    out = np.full_like(image, fill)
    h, w = image.shape
    out[max(rows, 0) : h + min(rows, 0), max(columns, 0) : w + min(columns, 0)] = image[
        max(-rows, 0) : h + min(-rows, 0), max(-columns, 0) : w + min(-columns, 0)
    ]
    return out


def test_mirror_channel_is_the_slices_difference_from_its_mirror_moved_with_the_slice():
    import tensorflow as tf

    from spect_toolkit.gan.config import DIFF_AUGMENT_TRANSLATION
    from spect_toolkit.gan.step import discriminator_view, mirror_channel
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    rng = np.random.default_rng(1)
    images = rng.uniform(-0.5, 1.0, (8, 64, 64, 1)).astype("float32")
    mirror = images[:, :, ::-1]
    # without DiffAugment: the slice, then the slice minus its mirror about the midline between columns 31 and 32
    plain = np.asarray(mirror_channel(images, make_config("paper", discriminator_mirror_channel=True)))
    assert plain.shape == (8, 64, 64, 2) and np.array_equal(plain[..., 0], images[..., 0])
    assert np.allclose(plain[..., 1], (images - mirror)[..., 0])
    assert mirror_channel(images, make_config("paper")) is images
    # smoothed: the difference's mean over a 5 x 5 window (scipy's, away from the border), still antisymmetric
    from scipy.ndimage import uniform_filter

    smoothed = np.asarray(
        mirror_channel(
            images, make_config("paper", discriminator_mirror_channel=True, discriminator_mirror_smoothing=5)
        )
    )[..., 1]
    expected = uniform_filter((images - mirror)[..., 0], size=(1, 5, 5))
    assert np.allclose(smoothed[:, 2:-2, 2:-2], expected[:, 2:-2, 2:-2], atol=1e-5)
    assert np.allclose(smoothed, -smoothed[:, :, ::-1], atol=1e-5)
    assert np.abs(smoothed).max() < 0.5 * np.abs(plain[..., 1]).max()  # the pixel noise averaged away
    for window, message in ((5, "set discriminator_mirror_channel"), (4, "odd window"), (17, "odd window")):
        with pytest.raises(ArgumentError, match=message):
            make_config("paper", discriminator_mirror_channel=window != 5, discriminator_mirror_smoothing=window)

    # with DiffAugment's translation: find each slice's shift from the first channel, then the second channel must
    # be the difference moved by the same shift, with no difference in the uncovered border
    config = make_config("improved", diff_augment_colour=False, discriminator_mirror_channel=True)
    view = np.asarray(discriminator_view(images, config, TensorFlowDraws(tf.constant([7, 8], tf.int64))))
    assert view.shape == (8, 64, 64, 2)
    shifts = range(-DIFF_AUGMENT_TRANSLATION, DIFF_AUGMENT_TRANSLATION + 1)
    for i in range(8):
        (moved,) = [
            (r, c)
            for r in shifts
            for c in shifts
            if np.array_equal(_shifted(images[i, ..., 0], r, c, -1.0), view[i, ..., 0])
        ]
        assert np.allclose(view[i, ..., 1], _shifted((images - mirror)[i, ..., 0], *moved, 0.0))
    # a mirror-symmetric slice shows no difference under the colour policy too; a leaning one does
    symmetric = (images + mirror) / 2
    coloured = make_config("improved", discriminator_mirror_channel=True)
    draws = TensorFlowDraws(tf.constant([7, 8], tf.int64))
    assert np.abs(np.asarray(discriminator_view(symmetric, coloured, draws))[..., 1]).max() < 1e-6
    assert np.abs(np.asarray(discriminator_view(images, coloured, draws))[..., 1]).max() > 0.1

    # the discriminator takes the two channels, trains with them, and the option is its own run
    small = {**TINY, "batch_size": 4}
    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    gan = FastGAN(make_config("improved", discriminator_mirror_channel=True, **small), space, data, mode="function")
    assert gan.discriminator.inputs[0].shape[-1] == 2
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    assert make_config("improved", discriminator_mirror_channel=True).hash != make_config("improved").hash


def test_the_coordinates_move_with_the_slice_so_the_discriminator_sees_where_a_head_lay_before_the_translation():
    import tensorflow as tf

    from spect_toolkit.gan.step import discriminator_view
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    # one bright pixel per slice, each in its own column: where it lay is what the coordinates must keep
    images = np.full((8, 64, 64, 1), -1.0, np.float32)
    columns = np.arange(24, 40, 2)
    images[np.arange(8), 30, columns, 0] = 1.0
    on_grid = lambda index: (index - 31.5) / 32  # noqa: E731  the midline between columns 31 and 32 at 0

    plain = np.asarray(discriminator_view(images, make_config("paper", discriminator_coordinates=True), None))
    assert plain.shape == (8, 64, 64, 3) and np.array_equal(plain[..., 0], images[..., 0])
    assert np.allclose(plain[..., 1], on_grid(np.arange(64))[None, :, None])  # rows, the same in every column
    assert np.allclose(plain[..., 2], on_grid(np.arange(64))[None, None, :])  # columns

    config = make_config("improved", diff_augment_colour=False, discriminator_coordinates=True)
    moved_columns = set()
    for seed in range(3):
        view = np.asarray(discriminator_view(images, config, TensorFlowDraws(tf.constant([seed, 8], tf.int64))))
        assert view.shape == (8, 64, 64, 3)
        for i in range(8):
            row, column = np.unravel_index(np.argmax(view[i, ..., 0]), (64, 64))
            moved_columns.add(column - columns[i])
            # at the pixel, wherever the translation put it, the coordinates say where it lay
            assert np.isclose(view[i, row, column, 1], on_grid(30)) and np.isclose(
                view[i, row, column, 2], on_grid(columns[i])
            )
            # one pixel to the right on the grid is 1/32 on, in and past the slice's edge alike
            assert np.allclose(np.diff(view[i, ..., 2], axis=1), 1 / 32) and np.allclose(
                np.diff(view[i, ..., 1], axis=0), 1 / 32
            )
    assert len(moved_columns) > 5  # the translation did move the slices, by many different shifts

    # the discriminator takes three channels (four with the mirror difference), trains, and it is its own run
    small = {**TINY, "batch_size": 4}
    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    gan = FastGAN(make_config("improved", discriminator_coordinates=True, **small), space, data, mode="function")
    assert gan.discriminator.inputs[0].shape[-1] == 3
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    both = make_config("improved", discriminator_coordinates=True, discriminator_mirror_channel=True)
    assert both.discriminator_image_channels == 4
    assert np.asarray(discriminator_view(images, both, TensorFlowDraws(tf.constant([1, 8], tf.int64)))).shape[-1] == 4
    assert make_config("improved", discriminator_coordinates=True).hash != make_config("improved").hash


def test_the_projection_discriminator_adds_the_conditions_inner_product_with_the_averaged_last_features():
    import keras

    small = {**TINY, "batch_size": 4}
    config = make_config("improved", projection_discriminator=True, **small)
    space = ConditionSpace(("CER", "BG", "COR"))
    discriminator = build_networks(config, space.size)["discriminator"]
    named = {getattr(layer, "layer", layer).name: layer for layer in discriminator.layers}  # inside SpectralNorm
    probe = keras.Model(
        discriminator.inputs,
        [named[name].output for name in ("logits", "output_lrelu", "condition_embedding")] + [discriminator.outputs[0]],
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (3, 64, 64, 1)).astype(np.float32)
    conditions = np.stack([space.vector(level, "unilateral") for level in ("CER", "BG", "COR")]).astype(np.float32)
    plain, features, embedded, logits = (np.asarray(a, np.float64) for a in probe([images, conditions]))
    assert np.abs(embedded).max() > 0  # the embedding is learned from a non-zero start
    inner = (features.mean(axis=(1, 2)) * embedded.reshape(3, -1)).sum(axis=-1)
    assert logits.shape == plain.shape == (3, 1)
    assert np.allclose(logits.ravel(), plain.ravel() + inner, rtol=1e-2, atol=1e-3)  # bfloat16 features
    # the same images under another condition: the projected term moves the logit
    other = np.stack([space.vector(level, "normal") for level in ("CER", "BG", "COR")]).astype(np.float32)
    assert not np.allclose(np.asarray(discriminator([images, other])[0]), logits, atol=1e-4)

    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    gan = FastGAN(config, space, data, mode="function")
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    assert config.hash != make_config("improved", **small).hash
    assert "condition_projection" not in [
        layer.name for layer in build_networks(make_config("improved", **small), 6)["discriminator"].layers
    ]


def test_learning_rate_is_constant_then_falls_linearly_to_a_last_epoch_above_zero():
    config = make_config("paper", epochs=10, learning_rate_decay_from=0.6)
    rates = np.array([config.learning_rate_at(e) for e in range(1, 11)])
    assert np.all(rates[:6] == config.learning_rate)
    falling = np.diff(rates[5:])
    assert np.all(falling < 0) and np.allclose(falling, falling[0])  # linear
    assert 0 < rates[-1] < rates[-2] and np.isclose(rates[-1] + falling[0], 0)  # one more step would reach 0
    constant = make_config("paper", epochs=10)
    assert {constant.learning_rate_at(e) for e in range(1, 11)} == {constant.learning_rate}
    assert constant.hash == make_config("paper", epochs=10, learning_rate_decay_from=1.0).hash
    assert config.hash != constant.hash
    with pytest.raises(ArgumentError, match="fraction of the run's epochs"):
        make_config("paper", learning_rate_decay_from=1.5)


def test_the_discriminator_has_a_rate_of_its_own_on_the_same_schedule():
    config = make_config(
        "paper", epochs=10, learning_rate=1e-4, discriminator_learning_rate=4e-4, learning_rate_decay_from=0.5
    )
    rates = np.array([config.learning_rates_at(e) for e in range(1, 11)])
    assert np.allclose(rates[:, 1], 4 * rates[:, 0]) and rates[-1, 1] < rates[0, 1] == 4e-4
    same = make_config("paper", epochs=10)
    assert all(g == d == same.learning_rate for g, d in (same.learning_rates_at(e) for e in range(1, 11)))
    assert same.hash == make_config("paper", epochs=10, discriminator_learning_rate=0.0).hash
    with pytest.raises(ArgumentError, match="discriminator_learning_rate"):
        make_config("paper", discriminator_learning_rate=-1e-4)
    data, space = _marker_set(["normal", "unilateral", "bilateral", "normal"])
    gan = FastGAN(make_config("paper", **{**TINY, "batch_size": 4}, discriminator_learning_rate=4e-4), space, data)
    assert np.isclose(float(gan.d_optimizer.learning_rate.numpy()), 4e-4)
    assert np.isclose(float(gan.g_optimizer.learning_rate.numpy()), 2e-4)
    # the generator frozen, the discriminator still trained: the two rates reach their own optimizers
    gan.set_learning_rate(0.0, 4e-4)
    generator = [np.array(v.numpy()) for v in gan.generator.trainable_variables]
    discriminator = [np.array(v.numpy()) for v in gan.d_variables]
    gan.train_steps(2)
    assert all(np.array_equal(w, v.numpy()) for w, v in zip(generator, gan.generator.trainable_variables))
    assert not all(np.array_equal(w, v.numpy()) for w, v in zip(discriminator, gan.d_variables))


def test_the_compiled_step_reads_the_learning_rate_it_is_given():
    # set_learning_rate must reach a step already traced: a rate baked in as a constant would keep training
    data, space = _marker_set(["normal", "unilateral", "bilateral", "normal"])
    gan = FastGAN(make_config("paper", **{**TINY, "batch_size": 4}), space, data, mode="function")
    gan.train_steps(1)
    weights = [np.array(v.numpy()) for v in gan.generator.trainable_variables]
    gan.set_learning_rate(0.0)
    gan.train_steps(2)
    assert all(np.array_equal(w, v.numpy()) for w, v in zip(weights, gan.generator.trainable_variables))
    gan.set_learning_rate(2e-4)
    gan.train_steps(1)
    assert not all(np.array_equal(w, v.numpy()) for w, v in zip(weights, gan.generator.trainable_variables))


def test_spectral_norm_divides_the_kernel_at_inference_after_stateless_training_calls():
    # The JAX step calls every layer statelessly, keeping only the non-trainable state a call returns. Keras' own
    # SpectralNormalization writes kernel / sigma into the (trainable) kernel and divides nothing at inference, so
    # there a generator trained on JAX sampled with undivided kernels.
    import keras
    from keras import ops

    from spect_toolkit.gan.networks import SpectralNorm

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    layer = SpectralNorm(keras.layers.Conv2D(6, 3, padding="same", use_bias=True, bias_initializer="ones"))
    layer.build(x.shape)
    layer.layer.kernel.assign(3.0 * layer.layer.kernel)  # far from a unit spectral norm
    for _ in range(50):  # the power iteration converges
        trained, fixed = layer.stateless_call(
            layer.trainable_variables, layer.non_trainable_variables, x, training=True
        )
        for variable, value in zip(layer.non_trainable_variables, fixed):
            variable.assign(value)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x, training=False)), trained, rtol=1e-4, atol=1e-5)
    divided = ops.convert_to_numpy(layer.normalized_weights()[1]).reshape(-1, 6)
    assert np.linalg.svd(divided, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-3)
    assert np.linalg.svd(ops.convert_to_numpy(layer.layer.kernel).reshape(-1, 6), compute_uv=False)[0] > 1.5


def test_generator_average_follows_the_weights_early_in_a_run():
    # Uncapped, a 0.999 average would be 99.9 % start after one step; capped at (1 + n) / (10 + n) it is 10 %.
    data, space = _marker_set(["normal", "unilateral", "bilateral"])
    gan = FastGAN(make_config("improved", **{**TINY, "batch_size": 4}), space, data, mode="function")
    start = [np.asarray(v).copy() for v in gan.generator.trainable_variables]
    gan.train_steps(1)
    for average, begin, now in zip(gan.ema, start, gan.generator.trainable_variables):
        np.testing.assert_allclose(np.asarray(average), 0.1 * begin + 0.9 * np.asarray(now), rtol=1e-5, atol=1e-6)
    from spect_toolkit.gan.step import ema_decay

    late = [float(ema_decay(gan.config, n)) for n in (8000, 8992, 10**6)]
    assert late[0] < 0.999 and late[1:] == pytest.approx([0.999, 0.999])  # FastGAN's plain average once past


def test_distribution_strategy_path_trains():
    data, space = _marker_set(["normal", "unilateral"])
    gan = FastGAN(make_config("paper", **{**TINY, "batch_size": 2}, distribute=True), space, data, mode="function")
    assert gan.strategy.num_replicas_in_sync >= 1
    losses = np.asarray(gan.train_steps(2))
    assert np.isfinite(losses).all() and gan.steps_done == 2


def test_like_a_manifest_puts_other_levels_at_the_runs_levels():
    from spect_toolkit.gan import condition_counts

    manifest = pd.DataFrame(
        {"level": ["CER"] * 4 + ["BG"] * 3 + ["COR"] * 2 + ["COR"] * 5, "pattern": ["normal"] * 9 + ["unilateral"] * 5}
    )
    b = {(lv, pt): n for lv, pt, n in condition_counts(ConditionSpace(("COR",)), like=manifest)}
    assert b == {("COR", "normal"): 9, ("COR", "unilateral"): 5, ("COR", "bilateral"): 0}
    a = {(lv, pt): n for lv, pt, n in condition_counts(ConditionSpace(("CER", "BG", "COR")), like=manifest)}
    assert a[("CER", "normal")] == 4 and a[("BG", "normal")] == 3 and a[("COR", "unilateral")] == 5
    assert sum(a.values()) == len(manifest)


def test_mixed_precision_path_trains_and_restores_the_policy():
    import keras

    data, space = _marker_set(["normal", "bilateral"])
    gan = FastGAN(make_config("paper", **{**TINY, "batch_size": 2}, mixed_precision=True), space, data, mode="function")
    assert keras.mixed_precision.global_policy().name == "float32"  # other models built later are unaffected
    assert gan.generator.get_layer("up8_conv").compute_dtype == "float16"
    losses = np.asarray(gan.train_steps(2))
    assert np.isfinite(losses).all()
    assert gan.generate(np.zeros((1, 256), np.float32), space.vectors(["COR"], ["normal"])).dtype == np.float32


def test_side_condition_stands_between_level_and_pattern_and_a_defect_must_name_its_side():
    a = ConditionSpace(("CER", "BG", "COR"), sides=True)
    assert a.size == 3 + 2 + 3
    #                                       CER BG COR  L  R  normal uni bi
    assert a.vector("BG", "unilateral", "L").tolist() == [0, 1, 0, 1, 0, 0, 1, 0]
    assert a.vector("COR", "bilateral", "R").tolist() == [0, 0, 1, 0, 1, 0, 0, 1]
    assert a.vector("CER", "normal").tolist() == [1, 0, 0, 0, 0, 1, 0, 0]
    b = ConditionSpace(("COR",), sides=True)
    assert b.vectors(["COR"] * 2, ["unilateral", "normal"], ["R", "none"]).tolist() == [
        [0, 1, 0, 1, 0],
        [0, 0, 1, 0, 0],
    ]
    with pytest.raises(ArgumentError, match="unilateral slice of a model conditioned on the side needs side L or R"):
        b.vector("COR", "unilateral")
    with pytest.raises(ArgumentError, match="normal slice .* needs side none, got 'L'"):
        b.vector("COR", "normal", "L")
    with pytest.raises(ArgumentError, match="unknown side 'left'"):
        b.vector("COR", "bilateral", "left")
    with pytest.raises(ArgumentError, match="2 levels, 2 patterns and 1 sides"):
        b.vectors(["COR"] * 2, ["normal"] * 2, ["none"])
    plain = ConditionSpace(("COR",))  # the paper's space reads no side
    assert plain.vectors(["COR"], ["unilateral"], ["L"]).tolist() == plain.vectors(["COR"], ["unilateral"]).tolist()
    patterns = ["normal", "unilateral", "bilateral"]
    assert b.mirror_allowed(patterns).tolist() == [True, True, True]
    assert b.mirror_keeps_condition(patterns).tolist() == [True, False, False]
    assert plain.mirror_allowed(patterns).tolist() == [True, False, True]


@pytest.mark.parametrize("pattern", ["unilateral", "bilateral"])
def test_with_sides_every_real_defect_is_mirrored_at_random_and_its_condition_names_the_side_it_then_lies_on(pattern):
    data, space = _marker_set([pattern], sides=["R"])
    gan = FastGAN(make_config("paper", side_condition=True, **TINY), space, data, mode="eager")
    seen = set()
    for k in range(40):
        images, conditions = (np.asarray(a) for a in real_batch(gan, [5, k]))
        for image, condition in zip(images[..., 0], conditions):
            column = int(np.argwhere(image > 0.99)[0][1])
            side = {(1.0, 0.0): "L", (0.0, 1.0): "R"}[tuple(condition[-5:-3])]
            seen.add((column, side))
            assert condition[-3:].tolist() == space.vector("COR", pattern, "R")[-3:].tolist()
    assert seen == {(20, "R"), (63 - 20, "L")}  # both ways occur, and the side always goes with the slice


def test_without_side_condition_a_flipped_slice_keeps_its_condition():
    data, space = _marker_set(["bilateral"])
    gan = FastGAN(make_config("paper", **TINY), space, data, mode="eager")
    conditions = np.concatenate([np.asarray(real_batch(gan, [5, k])[1]) for k in range(10)])
    assert (conditions == space.vector("COR", "bilateral")).all()


def test_with_the_flip_flag_the_generator_draws_slices_as_they_lay_mirrored_with_the_real_ones_and_d_told():
    import tensorflow as tf

    from spect_toolkit.gan.conditions import LEFT_COLUMN, RIGHT_COLUMN
    from spect_toolkit.gan.step import flagged_conditions, mirror_generated
    from spect_toolkit.gan.step import real_batch as draw
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    data, space = _marker_set(["unilateral", "unilateral"], sides=["R", "R"])
    config = make_config("paper", side_condition=True, flip_flag=True, **TINY)
    gan = FastGAN(config, space, data, mode="eager")
    as_lain = space.vector("COR", "unilateral", "R")
    flips = []
    for k in range(20):
        draws = TensorFlowDraws(tf.constant([5, k], tf.int64))
        real, y_real, flip = draw(gan.train_steps.data, config, draws)
        y_g, y_d = (np.asarray(a) for a in flagged_conditions(y_real, flip, config))
        flip = np.asarray(flip)
        flips += flip.tolist()
        assert (y_g == as_lain).all()  # asked for the slice as it lay, before the flip moved its side
        assert (y_d[:, :-1] == np.asarray(y_real)).all() and (y_d[:, -1] == flip).all()
        # a generator exact for its condition: the marker on the side y_g names, then mirrored as the step does
        drawn = np.zeros((len(y_g), 64, 64, 1), np.float32)
        drawn[y_g[:, RIGHT_COLUMN] == 1.0, 30, 20] = 1.0
        drawn[y_g[:, LEFT_COLUMN] == 1.0, 30, 63 - 20] = 1.0
        fake = np.asarray(mirror_generated(tf.constant(drawn), y_real, config, draws, tf.constant(flip)))
        columns = lambda images: np.argmax(images[..., 0].max(axis=1), axis=1)  # noqa: E731 (rows shift)
        assert (columns(fake) == columns(np.asarray(real))).all()  # each generated slice lies as its real one
    assert 0 < np.mean(flips) < 1  # both kinds in the batches

    plain = make_config("paper", side_condition=True, **TINY)
    y = tf.constant(np.stack([as_lain] * 3))
    assert all(c is y for c in flagged_conditions(y, tf.constant([True, False, True]), plain))
    assert gan.discriminator.inputs[1].shape[-1] == space.size + 1
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    assert config.hash != make_config("paper", side_condition=True, **TINY).hash
    for clash in ({"mirror_generated": True}, {"flip_real_slices": False}, {"lean_weight": 1.0}):
        with pytest.raises(ArgumentError, match="flip_flag"):
            make_config("paper", flip_flag=True, **clash)


def test_with_sides_only_normal_fakes_are_mirrored():
    import tensorflow as tf

    from spect_toolkit.gan.step import mirror_generated
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    patterns = np.array(["normal", "unilateral", "bilateral"] * 100)
    sides = np.array(["none", "L", "R"] * 100)
    images = np.zeros((300, 64, 64, 1), np.float32)
    images[:, :, :32] = 1.0
    condition = ConditionSpace(("COR",), sides=True).vectors(["COR"] * 300, patterns, sides)
    config = make_config("paper", batch_size=300, mirror_generated=True, side_condition=True)
    out = np.asarray(
        mirror_generated(
            tf.constant(images), tf.constant(condition), config, TensorFlowDraws(tf.constant([3, 4], tf.int64))
        )
    )
    flipped = out[:, 0, 63, 0] == 1.0
    assert 0.35 < flipped[patterns == "normal"].mean() < 0.65
    assert not flipped[patterns != "normal"].any()  # a mirrored defect would lie on the side not asked for


def test_a_side_conditioned_run_trains_and_samples_each_defects_sides_as_the_manifest_holds_them(ingested, tmp_path):
    _, work, _ = ingested
    manifest = pd.read_parquet(work / "manifest.parquet")
    # with the field of view, whose masks are kept per level: the level part is found before the side's columns
    config = make_config(
        "paper",
        epochs=1,
        side_condition=True,
        mirror_generated=True,
        reconstruction_counts=15.0,
        reconstruction_field_of_view=True,
        **TINY,
    )
    run = train(work / "manifest.parquet", tmp_path / "run", config, mode="function")
    assert load_generator(run.run_dir)[0].space.sides
    samples = generate(run.run_dir, like=work / "manifest.parquet", seed=2)
    made = pd.DataFrame({"level": samples.level, "pattern": samples.pattern, "side": samples.side})
    wanted = manifest.groupby(["level", "pattern", "side"]).size()
    assert made.groupby(["level", "pattern", "side"]).size().to_dict() == wanted.to_dict()
    samples.save(tmp_path / "samples.npz")
    assert load_samples(tmp_path / "samples.npz").side.tolist() == samples.side.tolist()
    even = generate(run.run_dir, per_condition=4, seed=2)
    assert set(zip(even.level[even.pattern == "unilateral"], even.side[even.pattern == "unilateral"])) == {
        (level, side) for level in config.levels for side in "LR"
    }
    assert (pd.Series(even.side[even.pattern == "bilateral"]).value_counts() == 2 * len(config.levels)).all()


def test_mirror_generated_flips_normal_and_bilateral_fakes_at_random_never_unilateral():
    import tensorflow as tf

    from spect_toolkit.gan.step import mirror_generated
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    patterns = np.array(["normal", "unilateral", "bilateral"] * 100)
    images = np.zeros((300, 64, 64, 1), np.float32)
    images[:, :, :32] = 1.0  # bright on the image's left half (the patient's right)
    condition = ConditionSpace(("COR",)).vectors(["COR"] * 300, patterns)
    draws = TensorFlowDraws(tf.constant([3, 4], tf.int64))
    config = make_config("paper", batch_size=300, mirror_generated=True)
    out = np.asarray(mirror_generated(tf.constant(images), tf.constant(condition), config, draws))
    flipped = out[:, 0, 63, 0] == 1.0
    assert ((out[:, 0, 0, 0] == 1.0) != flipped).all()  # each slice whole: mirrored or as it was
    assert not flipped[patterns == "unilateral"].any()
    for pattern in ("normal", "bilateral"):
        assert 0.35 < flipped[patterns == pattern].mean() < 0.65
    assert mirror_generated(images, condition, make_config("paper"), draws) is images  # off: untouched


def test_sampled_normal_and_bilateral_slices_do_not_all_lean_one_way(tiny_run, tmp_path, monkeypatch):
    """A generator that makes every slice lower on one side, as data set A's did (LR 1.06-1.11 against real
    0.99-1.02), gives a sample whose normal slices all lean the same way; with --mirror-generated the sample
    is mirror-symmetric where the augmented real slices are (normal, bilateral), whatever the generator."""
    import dataclasses
    import shutil

    from spect_toolkit.evaluate import slice_measures
    from spect_toolkit.gan import RunFolder

    lean = np.tile(np.linspace(0.3, 0.7, 64, dtype=np.float32), (64, 1))  # brighter toward the patient's left
    monkeypatch.setattr(FastGAN, "generate", lambda self, z, condition, batch=256: np.repeat(lean[None], len(z), 0))
    mirrored = tmp_path / "mirrored"
    shutil.copytree(tiny_run.run_dir, mirrored)
    RunFolder(mirrored).save_config(dataclasses.replace(tiny_run.config, mirror_generated=True))

    def share_leaning_left_bright(run_dir):
        samples = generate(run_dir, per_condition=200, seed=1)
        lr = slice_measures(samples.images, samples.level)["lr"].to_numpy()
        return {p: float(np.mean(lr[samples.pattern == p] > 1)) for p in ("normal", "unilateral", "bilateral")}

    plain = share_leaning_left_bright(tiny_run.run_dir)
    assert plain == {"normal": 1.0, "unilateral": 1.0, "bilateral": 1.0}  # the bias, as the generator made it
    symmetric = share_leaning_left_bright(mirrored)
    assert 0.4 < symmetric["normal"] < 0.6 and 0.4 < symmetric["bilateral"] < 0.6
    assert symmetric["unilateral"] == 1.0  # a unilateral defect's side is the generator's to learn


def test_a_defect_without_its_side_stops_a_side_conditioned_run_naming_the_manifest_and_slice(ingested, tmp_path):
    from spect_toolkit.manifest import load_manifest, select_split

    _, work, _ = ingested
    manifest = load_manifest(work / "manifest.parquet")
    training = select_split(manifest, "train")  # the rows a run trains on
    first_defect = training.index[training["pattern"] == "unilateral"][0]
    unsided = manifest.copy()
    unsided.loc[first_defect, "side"] = "none"
    slice_id = manifest.loc[first_defect, "slice_id"]
    config = make_config("paper", epochs=1, side_condition=True, **TINY)
    with pytest.raises(SchemaError, match=rf"manifest\.parquet.*1 slice\(s\).*{slice_id}, unilateral with side none"):
        train(unsided, tmp_path / "run", config, mode="function")
    assert not (tmp_path / "run" / "checkpoints").exists()
