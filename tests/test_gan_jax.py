"""The JAX path beside TensorFlow's: the same networks, run folder and checkpoint format, so a run moves between
the backends. Keras fixes its backend once per process and this one runs TensorFlow, so JAX runs in a child
process here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from spect_toolkit.backend import use_backend
from spect_toolkit.errors import ArgumentError
from spect_toolkit.gan import RunFolder, generate, make_config, train

_missing = importlib.util.find_spec("jax") is None and os.environ.get("SPECT_TOOLKIT_REQUIRE_TOOLS") != "1"
pytestmark = pytest.mark.skipif(_missing, reason="JAX is not installed here (pip install 'spect-toolkit[jax]')")

TINY_OPTIONS = ["--width", "4", "--batch-size", "16", "--checkpoint-every", "1", "--steps-per-call", "4"]


def _child(code: str, *args: str, backend: str = "jax") -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env, capture_output=True, text=True
    )


def _spect(*args) -> subprocess.CompletedProcess:
    return _child("import sys; from spect_toolkit.cli import app; sys.argv[0] = 'spect'; app()", *args)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_run_moves_between_the_backends_and_keeps_counting(ingested, tmp_path):
    _, work, _ = ingested
    manifest, run = work / "manifest.parquet", tmp_path / "run"
    _ok(_spect("train", manifest, "--out", run, "--epochs", "1", *TINY_OPTIONS, "--backend", "jax"))
    steps_per_epoch = int(pd.read_csv(run / "losses.csv")["step"].iloc[0])
    assert steps_per_epoch >= 1 and (run / "checkpoints" / "epoch_0001.npz").exists()

    # TensorFlow continues the JAX run from its last checkpoint, then JAX continues TensorFlow's.
    result = train(manifest, run, make_config("paper", epochs=2), resume=True, mode="function")
    assert result.epochs_done == 2 and result.steps == 2 * steps_per_epoch
    _ok(_spect("train", manifest, "--out", run, "--epochs", "3", "--resume", "--backend", "jax"))
    losses = pd.read_csv(run / "losses.csv")
    assert losses["epoch"].tolist() == [1, 2, 3]
    assert losses["step"].tolist() == [steps_per_epoch, 2 * steps_per_epoch, 3 * steps_per_epoch]
    assert np.isfinite(losses[["d_real", "d_fake", "recon", "g_loss"]].to_numpy()).all()
    assert RunFolder(run).saved_epochs() == [1, 2, 3]
    assert generate(run, per_condition=2, epoch=3).images.shape[0] == 2 * 3 * 3  # JAX's checkpoint, read here


def test_both_backends_make_the_same_slices_from_the_same_weights(tiny_run, tmp_path):
    out = tmp_path / "jax.npz"
    _ok(_spect("generate", tiny_run.run_dir, "--out", out, "--per-condition", "3", "--seed", "4", "--backend", "jax"))
    from spect_toolkit.samples import load_samples

    by_jax = load_samples(out)
    by_tensorflow = generate(tiny_run.run_dir, per_condition=3, seed=4)
    assert by_jax.images.shape == by_tensorflow.images.shape == (27, 64, 64)
    assert by_jax.config_hash == by_tensorflow.config_hash and by_jax.epoch == by_tensorflow.epoch
    assert (by_jax.level == by_tensorflow.level).all() and (by_jax.pattern == by_tensorflow.pattern).all()
    # Two epochs of tiny networks leave the slices close to mid-grey: the agreement is measured against how much
    # the slices differ from each other, so two blank outputs could not pass.
    spread = by_tensorflow.images.std(axis=0).mean()
    assert spread > 1e-4
    difference = np.abs(by_jax.images - by_tensorflow.images).max()
    print(f"max difference {difference:.2e}, spread between slices {spread:.2e}")
    assert difference < 0.01 * spread


def test_jax_with_improved_preset_and_bfloat16_trains_in_that_precision(tmp_path):
    code = """
    import json, sys
    import keras, numpy as np
    from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config
    rng = np.random.default_rng(0)
    slices = rng.uniform(0, 1, (24, 64, 64)).astype(np.float32)
    space = ConditionSpace(("CER", "COR"))
    patterns = ["normal", "unilateral", "bilateral"] * 8
    data = TrainingSet.from_arrays(slices, slices, slices, ["CER", "COR"] * 12, patterns, space)
    config = make_config(
        "improved",
        width=4,
        batch_size=4,
        precision="bfloat16",
        minibatch_std=True,
        balanced_patterns=True,
        mirror_generated=True,
        floored_output=True,
        spectrum_weight=1.0,
        ap_shift=0,
        full_resolution_convs=2,
        generator_padding="reflect",
        diff_augment_cutout=True,
        diff_augment_translation=2,
        discriminator_mirror_channel=True,
        discriminator_mirror_smoothing=5,
        discriminator_coordinates=True,
    )
    gan = FastGAN(config, space, data)
    layer = gan.generator.get_layer("up8_bn")  # with spectral norm the conv is wrapped: its input tells
    inner = keras.Model(gan.generator.inputs, gan.generator.get_layer("up8_bn").input)
    z = np.zeros((1, config.latent_dim), np.float32)
    before = [np.asarray(v.numpy()).copy() for v in gan.ema]
    losses = gan.train_steps(3)
    moved = any(not np.allclose(b, v.numpy()) for b, v in zip(before, gan.ema))
    scanner = FastGAN(make_config(
        "improved", width=4, batch_size=4, precision="bfloat16", generator_padding="reflect",
        reconstruction_counts=15.0, reconstruction_resampled=True, reconstruction_field_of_view=True,
        reconstruction_of_activity=True, reconstruction_acquisition_grid=True, reconstruction_offset_grid=True,
        edge_profile_weight=1.0, flip_real_slices=False, lean_weight=10.0,
    ), space, data)
    scanner_losses = scanner.train_steps(2)
    gain = scanner.generator.get_layer("output_reconstruction").log_gain
    edge_gains = np.asarray(scanner.generator.get_layer("output_edge_gain").log_gains())
    z2, cor = np.zeros((2, config.latent_dim), np.float32), space.vectors(["COR"] * 2, ["normal"] * 2)
    scanner_peaks = scanner.generate(z2, cor).max(axis=(1, 2))
    print(json.dumps(dict(
        scanner_finite=bool(np.isfinite(scanner_losses).all()), scanner_gain_moved=float(gain.numpy()) != 0.0,
        edge_gains_moved=bool(np.all(edge_gains != 0.0)),
        scanner_peaks=scanner_peaks.tolist(),
        backend=keras.backend.backend(), compute=layer.compute_dtype, kernel=str(layer.gamma.dtype),
        inner=str(inner([z, space.vectors(["COR"], ["normal"])]).dtype), steps=gan.steps_done,
        finite=bool(np.isfinite(losses).all()), ema_moved=moved,
        d_channels=gan.discriminator.inputs[0].shape[-1],
        policy=keras.mixed_precision.global_policy().name)))
    """
    report = json.loads(_ok(_child(code)).stdout.strip().splitlines()[-1])
    assert report == dict(
        scanner_finite=True,
        scanner_gain_moved=True,
        edge_gains_moved=True,
        scanner_peaks=[1.0, 1.0],
        backend="jax",
        compute="bfloat16",
        kernel="float32",
        inner="bfloat16",
        steps=3,
        finite=True,
        ema_moved=True,
        d_channels=4,  # the slice, its mirror difference, the two coordinates
        policy="float32",
    )


def test_the_gan_imports_and_trains_on_jax_without_tensorflow_simpleitk_or_pydicom():
    code = """
    import sys
    for name in ("tensorflow", "SimpleITK", "pydicom"):
        sys.modules[name] = None  # importing it now raises ImportError
    import numpy as np
    from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config
    space = ConditionSpace(("COR",))
    slices = np.random.default_rng(1).uniform(0, 1, (8, 64, 64)).astype(np.float32)
    data = TrainingSet.from_arrays(slices, slices, slices, ["COR"] * 8, ["normal"] * 8, space)
    gan = FastGAN(make_config("paper", width=4, batch_size=4), space, data, mode="xla-loop")
    losses = gan.train_steps(2).tolist()
    weights = [np.array(v.numpy()) for v in gan.generator.trainable_variables]
    gan.set_learning_rate(0.0)  # the compiled loop must read it, not a constant traced with it
    gan.train_steps(2)
    frozen = all(np.array_equal(w, v.numpy()) for w, v in zip(weights, gan.generator.trainable_variables))
    print(losses, frozen, gan.steps_done)
    """
    out = _ok(_child(code)).stdout.strip().splitlines()[-1]
    assert out.endswith(" True 4") and "nan" not in out


def test_backend_choices_are_checked():
    with pytest.raises(ArgumentError, match="unknown backend 'torch'"):
        use_backend("torch")
    with pytest.raises(ArgumentError, match="Keras already runs on tensorflow"):
        use_backend("jax")  # this process imported Keras on TensorFlow
    assert use_backend(None) == "tensorflow"
    refused = _child(
        """
        import numpy as np
        from spect_toolkit.errors import ArgumentError
        from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config
        space = ConditionSpace(("COR",))
        s = np.ones((4, 64, 64), np.float32)
        data = TrainingSet.from_arrays(s, s, s, ["COR"] * 4, ["normal"] * 4, space)
        for options, mode in ((dict(precision="float16"), "auto"), (dict(distribute=True), "auto"), ({}, "function")):
            try:
                FastGAN(make_config("paper", width=4, **options), space, data, mode=mode)
            except ArgumentError as error:
                print(error)
        """
    )
    lines = _ok(refused).stdout.strip().splitlines()
    assert any("float16 (loss-scaled) needs the TensorFlow backend" in line for line in lines)
    assert any("--distribute (several GPUs) needs the TensorFlow backend" in line for line in lines)
    assert any("unknown step mode 'function' for JAX" in line for line in lines)


def test_generator_average_on_jax_is_a_copy_that_follows_the_weights():
    # The average after one step is 0.1 x start + 0.9 x new weights on JAX as on TensorFlow (tests/test_gan.py).
    code = """
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        from test_gan import TINY, _marker_set
        from spect_toolkit.gan import FastGAN, make_config

        data, space = _marker_set(["normal", "unilateral", "bilateral"])
        gan = FastGAN(make_config("improved", **{**TINY, "batch_size": 4}), space, data)
        start = [np.asarray(v).copy() for v in gan.generator.trainable_variables]
        gan.train_steps(1)
        pairs = zip(gan.ema, start, gan.generator.trainable_variables)
        print(max(float(np.abs(np.asarray(a) - (0.1 * b + 0.9 * np.asarray(w))).max()) for a, b, w in pairs))
        print(max(float(np.abs(np.asarray(w) - b).max()) for w, b in zip(gan.generator.trainable_variables, start)))
    """
    lines = _ok(_child(code, os.path.dirname(__file__))).stdout.split()
    error, moved = float(lines[-2]), float(lines[-1])
    assert moved > 1e-5 and error < 1e-6  # the weights moved, and the average by the capped rule
