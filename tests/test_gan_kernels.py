"""The fused kernels compute what Keras' own layers compute; the precision option computes in that precision;
the thread choice follows the batch size and can be overridden."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from spect_toolkit.errors import ArgumentError
from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config
from spect_toolkit.gan.fused import FusedAdam, FusedBatchNormalization
from spect_toolkit.gan.threads import THREADS_ENV, choose_threads

from conftest import real_batch


def _pair(shape):
    reference, fused = keras.layers.BatchNormalization(), FusedBatchNormalization()
    for layer in (reference, fused):
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, shape[-1]))
        layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
    return reference, fused


def test_fused_batch_norm_equals_keras_in_training_and_inference():
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (4, 8, 8, 5)).astype("float32"))
    reference, fused = _pair(x.shape)
    for _ in range(3):  # moving statistics after several updates
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y_ref = reference(x, training=True)
            y_fused = fused(x, training=True)
            loss_ref, loss_fused = tf.reduce_sum(y_ref**2 * x), tf.reduce_sum(y_fused**2 * x)
        np.testing.assert_allclose(y_fused, y_ref, atol=1e-5)
        for a, b in (
            (tape.gradient(loss_fused, x), tape.gradient(loss_ref, x)),
            (tape.gradient(loss_fused, fused.gamma), tape.gradient(loss_ref, reference.gamma)),
            (tape.gradient(loss_fused, fused.beta), tape.gradient(loss_ref, reference.beta)),
        ):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(fused.moving_mean, reference.moving_mean, rtol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, reference.moving_variance, rtol=1e-6)  # biased, as Keras
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-5)


def test_fused_adam_equals_keras_adam():
    rng = np.random.default_rng(1)
    start = rng.normal(size=(3, 4)).astype("float32")
    w_ref, w_fused = keras.Variable(start), keras.Variable(start)
    reference, fused = keras.optimizers.Adam(2e-3, 0.9, 0.999), FusedAdam(2e-3, 0.9, 0.999)
    reference.build([w_ref])
    fused.build([w_fused])
    for step in range(6):
        gradient = rng.normal(size=(3, 4)).astype("float32") * (step + 1)
        reference.apply([gradient], [w_ref])
        fused.apply([gradient], [w_fused])
    # the same updates up to float32 rounding (the kernel orders its arithmetic its own way)
    np.testing.assert_allclose(np.asarray(w_fused) - start, np.asarray(w_ref) - start, rtol=1e-3, atol=1e-8)
    for a, b in zip(fused.variables, reference.variables):  # iterations, first and second moments
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)  # m += (g - m)(1 - b1) against m = b1 m + (1 - b1) g


def _tiny_set():
    slices = np.zeros((4, 64, 64), np.float32)
    slices[:, 20:40, 20:44] = 1.0
    space = ConditionSpace(("COR",))
    return TrainingSet.from_arrays(slices, slices, slices, ["COR"] * 4, ["normal", "bilateral"] * 2, space), space


@pytest.mark.parametrize("precision, dtype", [("bfloat16", "bfloat16"), ("float16", "float16")])
def test_precision_option_computes_in_that_precision(precision, dtype):
    data, space = _tiny_set()
    config = make_config("paper", width=4, batch_size=2, steps_per_call=2, precision=precision)
    gan = FastGAN(config, space, data, mode="function")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for everything built later
    conv = gan.generator.get_layer("up8_conv")
    assert conv.compute_dtype == dtype and conv.kernel.dtype == "float32"  # mixed: float32 weights
    z = np.zeros((1, config.latent_dim), np.float32)
    inner = keras.Model(gan.generator.inputs, conv.output)([z, space.vectors(["COR"], ["normal"])], training=False)
    assert inner.dtype == dtype
    assert np.isfinite(np.asarray(gan.train_steps(2))).all()
    with pytest.raises(ArgumentError, match="unknown precision 'int8'"):
        make_config("paper", precision="int8")


def test_thread_choice_follows_batch_and_environment(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert choose_threads(4, cores=2) == (1, 2)
    assert choose_threads(4, cores=16) == (8, 2)
    assert choose_threads(32, cores=2) is None  # TensorFlow's default was as fast at batch 32
    monkeypatch.setenv(THREADS_ENV, "3,1")
    assert choose_threads(4, cores=2) == (3, 1)
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ArgumentError, match="INTRA,INTER"):
        choose_threads(4)


def test_minibatch_std_adds_the_batch_spread_as_one_feature_map():
    from spect_toolkit.gan.networks import MinibatchStd, build_networks

    x = np.zeros((4, 2, 2, 3), np.float32)
    x[:, 0, 0, 0] = [0.0, 1.0, 2.0, 3.0]  # one feature varies across the batch, the others do not
    out = np.asarray(MinibatchStd()(tf.constant(x)))
    assert out.shape == (4, 2, 2, 4)
    np.testing.assert_allclose(out[..., :3], x)
    np.testing.assert_allclose(out[..., 3], np.std([0, 1, 2, 3]) / 12 + np.sqrt(1e-8) * 11 / 12, rtol=1e-4)
    plain, with_std = (build_networks(make_config("paper", width=4, minibatch_std=flag), 3) for flag in (False, True))
    assert "minibatch_std" in [layer.name for layer in with_std["discriminator"].layers]
    assert with_std["discriminator"].count_params() > plain["discriminator"].count_params()
    assert make_config("paper", minibatch_std=True).hash != make_config("paper").hash


def test_balanced_sampling_draws_every_pattern_equally_often():
    from spect_toolkit.gan.model import balanced_logits

    pattern_index = np.array([0] * 60 + [1] * 30 + [2] * 10)
    probabilities = np.exp(balanced_logits(pattern_index))
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
    for pattern in range(3):
        assert probabilities[pattern_index == pattern].sum() == pytest.approx(1 / 3, rel=1e-5)
    slices = np.ones((100, 64, 64), np.float32)
    space = ConditionSpace(("COR",))
    names = np.array(["normal", "unilateral", "bilateral"])[pattern_index]
    data = TrainingSet.from_arrays(slices, slices, slices, ["COR"] * 100, names, space)
    gan = FastGAN(make_config("paper", width=4, batch_size=300, balanced_patterns=True), space, data, "function")
    _, conditions = real_batch(gan, [1, 2])
    drawn = np.bincount(np.asarray(conditions)[:, -3:].argmax(axis=1), minlength=3)
    assert drawn.min() > 70  # each about 100 of 300; uniform drawing would give about 30 bilateral


def _set_pre_activation(gan, value):
    """Every pixel's value before the generator's output activation set to ``value``; the output conv returned."""
    out_conv = gan.generator.get_layer("output_conv")
    kernel, bias = out_conv.get_weights()
    out_conv.set_weights([np.zeros_like(kernel), np.full_like(bias, value)])
    return out_conv


@pytest.mark.parametrize("floored", [False, True])
def test_floored_output_makes_exact_zero_counts_and_keeps_the_top_linear(floored):
    """tanh never reaches the value of zero counts and squeezes bright pixels; the floored output does neither."""
    space = ConditionSpace(("COR",))
    gan = FastGAN(make_config("paper", width=4, floored_output=floored), space)
    z, condition = np.zeros((2, gan.config.latent_dim), np.float32), space.vectors(["COR"] * 2, ["normal"] * 2)

    def generated(pre_activation):
        _set_pre_activation(gan, pre_activation)
        return gan.generate(z, condition)

    if floored:
        np.testing.assert_array_equal(generated(-3.0), 0.0)
        np.testing.assert_allclose(generated(0.9), (0.9 + 1) / 2, rtol=1e-6)
    else:
        assert generated(-3.0).min() > 0.0
        assert generated(0.9).max() < (0.9 + 1) / 2 - 0.05  # tanh(0.9) = 0.72
    assert make_config("paper", floored_output=True).hash != make_config("paper").hash


@pytest.mark.parametrize("output", ["floored_output", "clipped_tanh_output"])
def test_the_clipped_tanh_makes_exact_zeros_and_peaks_and_keeps_a_gradient_past_them(output):
    """Real slices hold exact zero counts and an exact peak. The floored output reaches zero but gives a pixel
    below it no gradient to come back with; the clipped tanh reaches both ends and keeps tanh's gradient past them."""
    space = ConditionSpace(("COR",))
    config = make_config("paper", width=4, **{output: True})
    gan = FastGAN(config, space)
    z, condition = np.zeros((2, config.latent_dim), np.float32), space.vectors(["COR"] * 2, ["normal"] * 2)

    def image_and_gradient(pre_activation):  # the gradient of a loss that wants more counts
        out_conv = _set_pre_activation(gan, pre_activation)
        with tf.GradientTape() as tape:
            image = gan.generator([z, condition], training=False)
            brighter_wanted = -tf.reduce_sum(image)
        gradient = tape.gradient(brighter_wanted, out_conv.bias)
        return (image.numpy() + 1) / 2, 0.0 if gradient is None else float(gradient.numpy()[0])

    below, below_gradient = image_and_gradient(-3.0)
    np.testing.assert_array_equal(below, 0.0)
    pixels = 2 * 64 * 64
    if output == "clipped_tanh_output":
        assert below_gradient == pytest.approx(-pixels * 1.2 * (1 - np.tanh(3.0) ** 2), rel=1e-4)
        np.testing.assert_array_equal(image_and_gradient(3.0)[0], 1.0)
        np.testing.assert_allclose(image_and_gradient(0.5)[0], (1.2 * np.tanh(0.5) + 1) / 2, rtol=1e-5)
    else:
        assert below_gradient == 0.0
    with pytest.raises(ArgumentError, match="choose one output"):
        make_config("paper", floored_output=True, clipped_tanh_output=True)
    assert make_config("paper", clipped_tanh_output=True).hash != make_config("paper").hash


def test_a_second_full_resolution_convolution_only_in_the_64_pixel_block():
    """FastGAN's UpBlockComp at 64 pixels: a second convolution with noise of its own; the blocks below and the
    output keep their form, and the default builds the generator stored runs were trained with."""
    space = ConditionSpace(("COR",))
    names = {}
    for convs in (1, 2):
        gan = FastGAN(make_config("improved", width=4, full_resolution_convs=convs), space)
        wrapped = (getattr(layer, "layer", layer) for layer in gan.generator.layers)  # spectral norm wraps convs
        names[convs] = {layer.name for layer in wrapped if layer.name.startswith("up")}
        z = np.random.default_rng(0).normal(size=(2, gan.config.latent_dim)).astype(np.float32)
        image = gan.generate(z, space.vectors(["COR"] * 2, ["normal"] * 2))
        assert image.shape == (2, 64, 64) and 0.0 <= image.min() and image.max() <= 1.0
    assert names[2] - names[1] == {"up64_conv2", "up64_noise2", "up64_bn2", "up64_glu2"}
    assert {"up8_conv", "up64_conv", "up64_noise"} <= names[1] and not any(name.endswith("2") for name in names[1])
    assert make_config("improved", full_resolution_convs=2).hash != make_config("improved").hash
    for wrong in (0, 3):
        with pytest.raises(ArgumentError, match="full_resolution_convs must be 1 or 2"):
            make_config("improved", full_resolution_convs=wrong)


def test_reflect_padding_mirrors_the_border_so_a_constant_map_stays_constant_at_the_edge():
    """Zero padding tells a convolution where the image ends; a constant map stays constant under a convolution
    with reflected borders, and its edge pixels differ from the inside under zero padding."""
    from spect_toolkit.gan.networks import ReflectPadding

    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    padded = np.asarray(ReflectPadding()(x))
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect"))
    np.testing.assert_array_equal(padded[:, 0, 1:-1], x[:, 1])  # row -1 mirrors row 1, the edge not repeated

    space = ConditionSpace(("COR",))
    edge_step = {}
    for padding in ("zeros", "reflect"):
        gan = FastGAN(make_config("paper", width=4, generator_padding=padding), space)
        conv = gan.generator.get_layer("up16_conv")
        channels_in, channels_out = conv.kernel.shape[2:]
        out = np.ones((1, 16, 16, channels_in), np.float32)  # a constant map at 16 pixels
        if padding == "reflect":
            out = gan.generator.get_layer("up16_conv_pad")(out)
        out = np.asarray(conv(out))
        assert out.shape == (1, 16, 16, channels_out)
        edge_step[padding] = np.abs(out[0, 0] - out[0, 8]).max()  # first row against the middle one
    assert edge_step["reflect"] < 1e-5 < edge_step["zeros"]
    assert make_config("paper", generator_padding="reflect").hash != make_config("paper").hash
    with pytest.raises(ArgumentError, match="unknown generator_padding"):
        make_config("paper", generator_padding="wrap")


def test_the_spectrum_loss_is_zero_for_the_real_spectrum_and_its_gradient_removes_fine_noise():
    from scipy.ndimage import gaussian_filter

    from spect_toolkit.gan import losses

    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.normal(size=(8, 64, 64)), (0, 2, 2))[..., None].astype(np.float32)
    real = smooth + rng.normal(0.0, 0.01, smooth.shape).astype(np.float32)
    power = np.abs(np.fft.fft2(real[..., 0])) ** 2
    ring = np.rint(np.hypot(*np.meshgrid(np.fft.fftfreq(64) * 64, np.fft.fftfreq(64) * 64, indexing="ij")))
    np.testing.assert_allclose(np.asarray(losses.ring_power(real))[:, 4], power[:, ring == 5].mean(axis=1), rtol=1e-4)
    assert float(losses.spectrum(tf.constant(real), tf.constant(real))) == pytest.approx(0.0, abs=1e-6)
    fake = tf.Variable(smooth + rng.normal(0.0, 0.05, smooth.shape).astype(np.float32))  # 25 times the fine power
    first = float(losses.spectrum(fake, tf.constant(real)))
    optimizer = keras.optimizers.Adam(0.002)
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = losses.spectrum(fake, tf.constant(real))
        optimizer.apply([tape.gradient(loss, fake)], [fake])
    assert first > 1.0 and float(losses.spectrum(fake, tf.constant(real))) < first / 4
    assert np.std(np.asarray(fake) - smooth) < 0.03  # the noise itself shrank, from 0.05
    with pytest.raises(ArgumentError, match="spectrum_weight must not be negative"):
        make_config("improved", spectrum_weight=-1.0)


def _frame_means(images: np.ndarray, depth: int) -> np.ndarray:
    """Each slice's mean over the square frame ``depth`` pixels in from its edge, by slicing."""
    inner = images[:, depth : images.shape[1] - depth, depth : images.shape[2] - depth]
    frame = np.concatenate(
        [inner[:, 0], inner[:, -1], inner[:, 1:-1, 0], inner[:, 1:-1, -1]], axis=1
    )  # top and bottom rows, then the columns between them
    return frame.mean(axis=1)


def test_the_edge_profile_loss_fits_the_edge_gains_to_the_real_rings_and_leaves_the_rest():
    from spect_toolkit.gan import losses
    from spect_toolkit.gan.config import EDGE_RINGS
    from spect_toolkit.gan.networks import EdgeGain

    rng = np.random.default_rng(0)
    counts = rng.uniform(0.0, 0.03, (32, 64, 64)).astype(np.float32)  # a border's counts, in units of the peak
    counts[:, 20:44, 20:44] = rng.uniform(0.2, 1.0, (32, 24, 24))  # the head
    counts[:, 30, 30] = 1.0
    counts[:, :, 0] = 0.0  # an exact zero column, where the field of view ends
    too_bright = np.array([1.6, 1.4, 1.25, 1.1])  # the generator's rings 0-3 against the real ones'
    depth = losses.edge_depth((64, 64))
    fake_counts = counts * np.where(depth < EDGE_RINGS, too_bright[np.minimum(depth, EDGE_RINGS - 1)], 1.0)
    real, fake = (tf.constant(2.0 * c[..., None] - 1.0) for c in (counts, fake_counts))
    for k in range(5):  # edge_depth's rings are the square frames k pixels in
        frame = np.zeros((64, 64), bool)
        frame[k : 64 - k, k : 64 - k] = True
        frame[k + 1 : 63 - k, k + 1 : 63 - k] = False
        assert np.array_equal(depth == k, frame)
    assert float(losses.edge_profile(real, real, EDGE_RINGS)) == pytest.approx(0.0, abs=1e-10)
    assert float(losses.edge_profile(fake, real, EDGE_RINGS)) == pytest.approx(
        np.mean(np.log(too_bright) ** 2), rel=1e-3
    )

    layer = EdgeGain(EDGE_RINGS)
    layer.build((None, 64, 64, 1))
    np.testing.assert_allclose(np.asarray(layer(fake)), np.asarray(fake), atol=1e-6)  # starts as no change
    optimizer = keras.optimizers.Adam(0.002)
    for _ in range(150):
        with tf.GradientTape() as tape:
            loss = losses.edge_profile(layer(fake), real, EDGE_RINGS)
        optimizer.apply(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables)
    np.testing.assert_allclose(np.exp(np.asarray(layer.log_gains())), 1.0 / too_bright, rtol=0.02)
    fitted = (np.asarray(layer(fake))[..., 0] + 1.0) / 2.0
    np.testing.assert_allclose(fitted[:, depth >= EDGE_RINGS], fake_counts[:, depth >= EDGE_RINGS], atol=1e-6)
    assert np.all(fitted[:, :, 0] == 0.0)  # a zero stays a zero
    for k in range(EDGE_RINGS):
        np.testing.assert_allclose(_frame_means(fitted, k).mean(), _frame_means(counts, k).mean(), rtol=0.02)
    with pytest.raises(ArgumentError, match="edge_profile_weight must not be negative"):
        make_config("improved", edge_profile_weight=-1.0)
    with pytest.raises(ArgumentError, match="1 to 32 rings"):
        EdgeGain(0)


def _halves(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Slices in [-1, 1], (n, 64, 64, 1), whose column halves hold ``left`` and ``right`` counts per pixel."""
    counts = np.concatenate([np.repeat(left[:, None], 32, 1), np.repeat(right[:, None], 32, 1)], axis=1)
    return (2.0 * np.repeat(counts[:, None, :], 64, axis=1) - 1.0)[..., None].astype(np.float32)


def test_the_lean_loss_matches_the_left_right_ratios_mean_and_spread_per_pattern():
    from spect_toolkit.gan import losses

    rng = np.random.default_rng(1)
    patterns = np.array(["normal"] * 12 + ["unilateral"] * 12 + ["bilateral"] * 8)
    one_hot = ConditionSpace(("COR",)).vectors(["COR"] * 32, patterns)
    real_ratio = rng.normal(0.0, 0.03, 32) + np.where(patterns == "unilateral", rng.choice([-0.15, 0.15], 32), 0.0)
    offset = {"normal": 0.05, "unilateral": -0.04, "bilateral": 0.02}  # the generator's lean, per pattern
    fake_ratio = real_ratio + np.array([offset[p] for p in patterns])
    right = rng.uniform(0.2, 0.5, 32)
    real, fake = (tf.constant(_halves(right * np.exp(r), right)) for r in (real_ratio, fake_ratio))
    np.testing.assert_allclose(np.asarray(losses.log_left_right(fake)), fake_ratio, atol=1e-5)

    def moments(ratio, keep):
        return [f(ratio[patterns == p]) for f in (np.mean, lambda r: np.sqrt(np.mean(r**2))) for p in keep]

    for keep in (("normal", "unilateral", "bilateral"), ("normal", "bilateral")):  # a pattern the batch lacks
        mask = np.isin(patterns, keep)
        expected = np.mean(np.square(np.subtract(moments(fake_ratio, keep), moments(real_ratio, keep))))
        value = losses.lean(tf.boolean_mask(fake, mask), tf.boolean_mask(real, mask), one_hot[mask])
        assert float(value) == pytest.approx(expected, rel=1e-3)
    assert float(losses.lean(real, real, one_hot)) == pytest.approx(0.0, abs=1e-10)

    tilt = tf.Variable(tf.zeros(3))  # per pattern: the log gain of the left half
    left_half = np.concatenate([np.ones((64, 32)), np.zeros((64, 32))], axis=1)[None, ..., None].astype(np.float32)
    optimizer = keras.optimizers.Adam(0.01)
    for _ in range(300):
        with tf.GradientTape() as tape:
            gain = tf.exp(left_half * tf.reshape(tf.linalg.matvec(one_hot, tilt), (-1, 1, 1, 1)))
            loss = losses.lean((fake + 1.0) * gain - 1.0, real, one_hot)
        optimizer.apply([tape.gradient(loss, tilt)], [tilt])
    np.testing.assert_allclose(tilt.numpy(), [-offset[p] for p in ("normal", "unilateral", "bilateral")], atol=2e-3)
    with pytest.raises(ArgumentError, match="lean_weight must not be negative"):
        make_config("improved", lean_weight=-1.0)


def test_a_run_stored_before_the_floored_output_keeps_its_hash(tmp_path):
    """Samples carry their run's configuration hash; a field added later, at its default, must not change it.
    The file is a run's configuration as the version before ``floored_output`` wrote it."""
    from spect_toolkit.gan.config import GanConfig

    stored = tmp_path / "config.json"
    stored.write_text(STORED_CONFIG)
    assert GanConfig.load(stored).hash == "6e2c3845e3ac65ed"


STORED_CONFIG = """{
  "preset": "improved", "levels": ["CER", "BG", "COR"], "split": "train", "latent_dim": 256, "embed_dim": 64,
  "width": 32, "learning_rate": 0.0002, "beta_1": 0.5, "beta_2": 0.999, "batch_size": 32, "epochs": 150, "seed": 3,
  "recon_weight": 1.0, "spectral_norm": true, "noise_injection": true, "random_margin": true, "ema_decay": 0.999,
  "diff_augment": true, "minibatch_std": true, "balanced_patterns": true, "mirror_generated": true,
  "checkpoint_every": 5, "steps_per_call": 16, "mixed_precision": false, "precision": "bfloat16",
  "distribute": false, "config_hash": "6e2c3845e3ac65ed"
}"""


def _noise_power(**options) -> tuple[float, float]:
    """The finest and a middle band of the scanner's layer's noise on a flat slice."""
    from spect_toolkit.gan.networks import ReconstructionNoise

    flat = np.full((32, 64, 64, 1), 0.5, np.float32)
    slices = np.asarray(ReconstructionNoise(15.0, seed=1, **options)(flat))[..., 0]
    spectrum = np.abs(np.fft.fft2(slices - slices.mean(axis=(1, 2), keepdims=True))) ** 2
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64)))
    return spectrum[:, frequency > 0.4].mean(), spectrum[:, (frequency > 0.1) & (frequency < 0.2)].mean()


def test_reconstruction_noise_adds_the_scanners_noise_then_clips_and_normalises_as_real_slices_were():
    """The layer's output is a real slice's form: exact zero counts where the generator drew none (below zero,
    however the noise falls), the peak exactly 1; its noise falls as the square root of the count level, which is
    learned; the clip passes a gradient to pixels below zero, so the generator can bring them back."""
    from spect_toolkit.gan.networks import ReconstructionNoise

    rows, cols = np.mgrid[:64, :64]
    head = ((rows - 34) / 20) ** 2 + ((cols - 30) / 16) ** 2 < 1
    drawn = np.where(head, 0.5, -0.5).astype(np.float32)[None, :, :, None].repeat(64, axis=0)

    def layer(counts: float, log_gain: float = 0.0) -> ReconstructionNoise:
        noise = ReconstructionNoise(counts, seed=1)
        noise.build(drawn.shape)
        noise.log_gain.assign(log_gain)
        return noise

    out = np.asarray(layer(15.0)(drawn))[..., 0]
    np.testing.assert_array_equal(out[:, ~head], -1.0)
    np.testing.assert_array_equal(out.max(axis=(1, 2)), 1.0)
    assert out[:, head].std() > 0.01  # not a flat disc: the noise is there

    # below zero is no counts: a background drawn below zero gives the lines through the head no less noise
    at_zero = np.where(head, 0.5, 0.0).astype(np.float32)[None, :, :, None].repeat(4, axis=0)
    below, level = (np.asarray(layer(15.0)(images))[..., 0] for images in (drawn[:4], at_zero))
    np.testing.assert_allclose(below[:, head], level[:, head], atol=1e-5)

    def relative_noise(noise: ReconstructionNoise) -> float:
        slices = (np.asarray(noise(drawn))[..., 0] + 1) / 2
        inside = slices[:, head] / slices[:, head].mean(axis=1, keepdims=True)
        return float(inside.std())

    assert relative_noise(layer(15.0)) / relative_noise(layer(60.0)) == pytest.approx(2.0, rel=0.1)
    assert relative_noise(layer(15.0, np.log(4.0))) == pytest.approx(relative_noise(layer(60.0)), rel=0.1)
    assert layer(15.0, np.log(4.0)).learned_counts() == pytest.approx(60.0)

    noise = layer(15.0)
    x = tf.Variable(drawn[:2])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(noise(x))
    by_pixel, by_gain = tape.gradient(total, [x, noise.log_gain])
    assert np.all(np.asarray(by_pixel)[:, ~head] > 0) and float(by_gain) != 0.0
    np.testing.assert_array_equal(np.asarray(layer(15.0)(np.full((2, 64, 64, 1), -0.2, np.float32))), -1.0)

    (fine, middle), (fine_resampled, middle_resampled) = _noise_power(resample=False), _noise_power(resample=True)
    assert fine_resampled < 0.6 * fine and middle_resampled == pytest.approx(middle, rel=0.25)
    # drawn at zero counts around the head, the noise's clip leaves exact zeros in about half of it; resampled,
    # a zero stays exact only where its neighbours were zero too
    at_zero = np.where(head, 0.5, 0.0).astype(np.float32)[None, :, :, None].repeat(16, axis=0)
    zero_share = {}
    for resample in (False, True):
        slices = np.asarray(ReconstructionNoise(15.0, resample=resample, seed=1)(at_zero))[..., 0]
        np.testing.assert_array_equal(slices.max(axis=(1, 2)), 1.0)
        zero_share[resample] = (slices[:, ~head] == -1.0).mean()
    assert 0.4 < zero_share[False] < 0.6 and zero_share[True] < 0.6 * zero_share[False]
    with pytest.raises(ArgumentError, match="set reconstruction_counts"):
        make_config("improved", reconstruction_resampled=True)

    assert make_config("improved", reconstruction_counts=15.0).hash != make_config("improved").hash
    with pytest.raises(ArgumentError, match="reconstruction_counts must be positive"):
        make_config("improved", reconstruction_counts=-1.0)
    with pytest.raises(ArgumentError, match="not with another output"):
        make_config("improved", reconstruction_counts=15.0, floored_output=True)
    gan = FastGAN(make_config("improved", width=4, reconstruction_counts=15.0), ConditionSpace(("COR",)))
    z = np.random.default_rng(0).normal(size=(3, gan.config.latent_dim)).astype(np.float32)
    images = gan.generate(z, gan.space.vectors(["COR"] * 3, ["normal"] * 3))
    np.testing.assert_array_equal(images.max(axis=(1, 2)), 1.0)
    assert images.min() == 0.0


def test_the_offset_grid_resamples_the_noise_and_leaves_the_head_where_it_was_drawn():
    """``resample`` alone moves each drawn head by its random sub-pixel shift; with ``offset_grid`` the slice goes
    onto the shifted grid first and comes back where it was drawn, its noise still damped by the resampling."""
    from spect_toolkit.gan.networks import ReconstructionNoise

    rows, columns = np.mgrid[:64, :64].astype(np.float32)
    head = np.exp(-(((rows - 33.0) / 14.0) ** 2 + ((columns - 30.0) / 11.0) ** 2))  # off the centre on purpose
    drawn = np.repeat((2.0 * head - 1.0)[None, :, :, None], 64, axis=0).astype(np.float32)

    def centroids(noise: ReconstructionNoise) -> np.ndarray:  # (n, 2): each slice's row and column of its counts
        counts = (np.asarray(noise(drawn))[..., 0] + 1.0) / 2.0
        counts = np.where(counts > 0.05, counts, 0.0)  # the head's, not the noise's below it
        total = counts.sum(axis=(1, 2))
        return np.stack([(counts * rows).sum(axis=(1, 2)) / total, (counts * columns).sum(axis=(1, 2)) / total], 1)

    unmoved = centroids(ReconstructionNoise(1e7, seed=3))
    moved = centroids(ReconstructionNoise(1e7, resample=True, seed=3)) - unmoved
    kept = centroids(ReconstructionNoise(1e7, resample=True, offset_grid=True, seed=3)) - unmoved
    # moved by a uniform shift in [0, 1) along each axis: mean 0.5, SD 0.29
    assert np.all((moved > -0.02) & (moved < 1.02))
    np.testing.assert_allclose(moved.mean(axis=0), 0.5, atol=0.1)
    np.testing.assert_allclose(moved.std(axis=0), 12**-0.5, atol=0.06)
    assert np.abs(kept).max() < 0.02

    assert _noise_power(resample=True, offset_grid=True)[0] < 0.6 * _noise_power(resample=False)[0]
    with pytest.raises(ArgumentError, match="set resample"):
        ReconstructionNoise(15.0, offset_grid=True)
    with pytest.raises(ArgumentError, match="set reconstruction_resampled"):
        make_config("improved", reconstruction_counts=15.0, reconstruction_offset_grid=True)
    resampled = make_config("improved", reconstruction_counts=15.0, reconstruction_resampled=True)
    offset = make_config(
        "improved", reconstruction_counts=15.0, reconstruction_resampled=True, reconstruction_offset_grid=True
    )
    assert offset.hash != resampled.hash
    gan = FastGAN(dataclasses.replace(offset, width=4), ConditionSpace(("COR",)))
    assert gan.generator.get_layer("output_reconstruction").offset_grid
    z = np.random.default_rng(0).normal(size=(3, gan.config.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(gan.generate(z, gan.space.vectors(["COR"] * 3, ["normal"] * 3)).max(axis=(1, 2)), 1.0)


def test_reconstruction_of_activity_is_the_phantoms_noiseless_reconstruction_and_filters_away_the_finest_texture():
    """With ``reconstruct_activity`` the drawn slice is reconstructed as the phantom reconstructs a noiseless
    activity (its own 90-view projector and filtered back-projection, a separate code path); a texture at the
    finest frequencies, which the generator can draw and no reconstruction keeps, does not come through."""
    from spect_toolkit.gan.networks import ReconstructionNoise
    from spect_toolkit.phantom.physics import Scanner, fbp, project

    rows, cols = np.mgrid[:64, :64]
    head = ((rows - 34) / 20) ** 2 + ((cols - 30) / 16) ** 2 < 1
    cortex = head & (((rows - 34) / 14) ** 2 + ((cols - 30) / 10) ** 2 > 1)
    activity = np.where(cortex, 0.9, np.where(head, 0.4, 0.0)).astype(np.float32)
    checkerboard = 0.3 * (-1.0) ** (rows + cols) * np.exp(-((rows - 34) ** 2 + (cols - 30) ** 2) / 2 / 8**2)
    drawn = np.stack([activity, activity + checkerboard]).astype(np.float32)[..., None]

    def slices(reconstruct_activity: bool) -> np.ndarray:  # at 1e9 counts the noise is below float32's grain
        noise = ReconstructionNoise(1e9, reconstruct_activity=reconstruct_activity, seed=1)
        return (np.asarray(noise(drawn))[..., 0] + 1) / 2

    reconstructed = fbp(project(activity[None].astype(np.float64), Scanner()), Scanner())[0].clip(0, None)
    plain, through = slices(False), slices(True)
    np.testing.assert_allclose(through[0], reconstructed / reconstructed.max(), atol=1e-4)
    assert np.abs(plain[0] - activity / activity.max()).max() < 1e-4  # without the option: passed as drawn
    assert np.abs(plain[1] - plain[0]).max() > 0.3  # the texture comes through as drawn
    assert np.abs(through[1] - through[0]).max() < 0.03  # and is filtered away by the reconstruction

    x = tf.Variable(drawn)
    noise = ReconstructionNoise(15.0, reconstruct_activity=True, seed=1)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(noise(x) * drawn)
    assert np.abs(np.asarray(tape.gradient(total, x))).max() > 0  # reconstruction is linear: the gradient passes
    assert ReconstructionNoise.from_config(noise.get_config()).reconstruct_activity
    with pytest.raises(ArgumentError, match="reconstructs the slice beside its noise"):
        make_config("improved", reconstruction_of_activity=True)
    assert (
        make_config("improved", reconstruction_counts=15.0, reconstruction_of_activity=True).hash
        != make_config("improved", reconstruction_counts=15.0).hash
    )
