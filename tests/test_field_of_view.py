"""The field of view of reoriented slices: read from real slices, drawn for generated ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from spect_toolkit.errors import ArgumentError
from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, checkpoint, make_config
from spect_toolkit.gan.field_of_view import MASKS_PER_LEVEL, field_of_view_masks, mask_bank
from spect_toolkit.gan.networks import ReconstructionNoise

ROWS, COLS = np.mgrid[:64, :64]
HEAD = ((ROWS - 34) / 20) ** 2 + ((COLS - 30) / 16) ** 2 < 1
# outside a volume turned about its axis: a corner cut off along a straight edge, and a band along the bottom
OUTSIDE = (ROWS + COLS < 14) | (ROWS > 60)


def cut_slices(n: int, rng: np.random.Generator, outside: np.ndarray = OUTSIDE, background: float = 0.2) -> np.ndarray:
    """``n`` slices of a head in clipped noise, zero ``outside``; each slice's noise zeros fall on their own (at a
    background of 0.2, a tenth of it)."""
    slices = np.where(HEAD, 1.0, background) + rng.normal(0.0, 0.15, (n, 64, 64))
    slices = np.maximum(slices, 0.0)
    slices[:, outside] = 0.0
    return slices.astype(np.float32)


def test_the_field_of_view_is_where_a_slice_and_both_neighbours_are_zero_out_to_the_border():
    rng = np.random.default_rng(0)
    slices, below, above = cut_slices(1, rng), cut_slices(1, rng), cut_slices(1, rng)
    # a noise zero that happens to fall on all three slices inside the head's surroundings is not the edge
    for s in (slices, below, above):
        s[0, 20:22, 5:7] = 0.0
    zero_on_three = (slices <= 0) & (below <= 0) & (above <= 0)
    assert zero_on_three[0, ~OUTSIDE].sum() >= 4  # the test has noise zeros common to all three to tell apart
    inside = field_of_view_masks(slices, below, above)
    np.testing.assert_array_equal(inside[0], ~OUTSIDE)
    # zeros in the slice alone (the noise's) are not outside
    assert (slices[0, ~HEAD & ~OUTSIDE] == 0).mean() > 0.05
    with pytest.raises(ArgumentError, match="alike"):
        field_of_view_masks(slices, below[:, :32], above)


def test_the_bank_draws_each_levels_masks_from_that_levels_slices():
    inside = np.stack([~OUTSIDE, np.ones((64, 64), bool), ~OUTSIDE])
    bank = mask_bank(inside, np.array([0, 2, 0]), levels=3, seed=1)
    assert bank.shape == (3, MASKS_PER_LEVEL, 64, 64) and bank.dtype == np.float32
    np.testing.assert_array_equal(bank[0], np.broadcast_to(~OUTSIDE, bank[0].shape))
    np.testing.assert_array_equal(bank[1], 1.0)  # no slices at this level: the whole slice
    np.testing.assert_array_equal(bank[2], 1.0)


def test_with_a_field_of_view_the_background_gets_real_noise_and_the_edge_its_exact_zeros():
    """Without the field of view a background drawn below zero comes out all zeros; with it, below zero is zero
    counts, with the noise a real background has, and exact zeros lie where the drawn mask of the slice's own level
    says the volume did not reach."""
    noise = ReconstructionNoise(15.0, field_of_view_levels=2, seed=1)
    condition = np.repeat(np.eye(5, dtype=np.float32)[[0, 1]], 16, axis=0)  # 16 slices at each of two levels
    noise.build((32, 64, 64, 1), condition.shape)
    noise.field_of_view.assign(
        np.stack([np.ones((MASKS_PER_LEVEL, 64, 64)), np.broadcast_to(~OUTSIDE, (MASKS_PER_LEVEL, 64, 64))])
    )
    drawn = np.where(HEAD, 0.5, -0.5).astype(np.float32)[None, :, :, None].repeat(32, axis=0)
    out = np.asarray(noise(drawn, condition))[..., 0]
    np.testing.assert_array_equal(out.max(axis=(1, 2)), 1.0)
    np.testing.assert_array_equal(out[16:, OUTSIDE], -1.0)
    background = ~HEAD & ~OUTSIDE
    for level in (slice(0, 16), slice(16, 32)):
        assert 0.3 < (out[level][:, background] == -1.0).mean() < 0.7  # noise clipped at zero counts, as real
    assert (out[:16, OUTSIDE] == -1.0).mean() < 0.7  # level 0's mask is the whole slice

    without = ReconstructionNoise(15.0, seed=1)
    np.testing.assert_array_equal(np.asarray(without(drawn))[..., 0][:, ~HEAD], -1.0)

    x = tf.Variable(drawn[:2])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(noise(x, condition[:2]))
    by_pixel = np.asarray(tape.gradient(total, x))[..., 0]
    assert np.all(by_pixel[:, background] != 0.0)  # a pixel drawn below zero can still come up
    with pytest.raises(ArgumentError, match="set reconstruction_counts"):
        make_config("improved", reconstruction_field_of_view=True)


def test_a_gan_with_the_field_of_view_fills_it_from_its_training_slices_and_keeps_it(tmp_path):
    rng = np.random.default_rng(2)
    # few noise zeros, so that none lies on all three slices beside the edge and joins it
    cer = [cut_slices(6, rng, background=0.4) for _ in range(3)]  # below, slice, above
    cor = [cut_slices(6, rng, outside=np.zeros((64, 64), bool), background=0.4) for _ in range(3)]
    below, slices, above = (np.concatenate([c, k]) for c, k in zip(cer, cor))
    space = ConditionSpace(("CER", "COR"))
    data = TrainingSet.from_arrays(slices, below, above, ["CER"] * 6 + ["COR"] * 6, ["normal"] * 12, space)
    config = make_config(
        "improved", width=4, levels=space.levels, reconstruction_counts=15.0, reconstruction_field_of_view=True
    )
    gan = FastGAN(config, space, data)
    bank = np.asarray(gan.generator.get_layer("output_reconstruction").field_of_view)
    np.testing.assert_array_equal(bank[0], np.broadcast_to(~OUTSIDE, bank[0].shape))
    np.testing.assert_array_equal(bank[1], 1.0)
    assert "field_of_view" in {v.name for v in gan.generator.weights}

    z = rng.standard_normal((4, config.latent_dim)).astype(np.float32)
    images = gan.generate(z, space.vectors(["CER"] * 4, ["normal"] * 4))
    np.testing.assert_array_equal(images[:, OUTSIDE], 0.0)
    np.testing.assert_array_equal(images.max(axis=(1, 2)), 1.0)

    checkpoint.save(tmp_path / "g.npz", gan.generator_state(), epoch=1)
    loaded = FastGAN(config, space)  # no training slices: the masks come from the checkpoint
    np.testing.assert_array_equal(np.asarray(loaded.generator.get_layer("output_reconstruction").field_of_view), 1.0)
    checkpoint.load(tmp_path / "g.npz", loaded.generator_state())
    np.testing.assert_array_equal(np.asarray(loaded.generator.get_layer("output_reconstruction").field_of_view), bank)


def test_the_scanners_grid_is_read_from_the_masks_bands_and_the_slice_reconstructed_on_it():
    """A window that reaches 5 rows past the scanner's grid at the top and 3 columns past it on the left has its
    grid's first pixel at row 5, column 3: the slice is reconstructed there, as the phantom reconstructs the same
    activity on that grid (its own projector and filtered back-projection, a separate code path), and moved back.
    The reconstruction's bright outer rows then lie on the band's edge, not on the slice's far border."""
    from spect_toolkit.gan.field_of_view import acquisition_offsets
    from spect_toolkit.phantom.physics import Scanner, fbp, project

    inside = np.ones((64, 64), bool)
    inside[:5], inside[:, :3] = False, False
    other = np.ones((64, 64), bool)
    other[-4:] = False
    np.testing.assert_array_equal(
        # OUTSIDE: a band of 3 rows along the bottom; its cut corner takes no whole row or column
        np.asarray(acquisition_offsets(np.stack([inside, other, ~OUTSIDE]))),
        [[5, 3], [-4, 0], [-3, 0]],
    )

    activity = np.where(HEAD, 0.8, 0.0).astype(np.float32)
    on_grid = np.zeros((64, 64))
    on_grid[:-5, :-3] = activity[5:, 3:]  # grid row r is the slice's row r + 5
    reconstructed = fbp(project(on_grid[None], Scanner()), Scanner())[0].clip(0, None)
    expected = np.zeros((64, 64))
    expected[5:, 3:] = reconstructed[:-5, :-3]
    expected /= expected.max()

    def slices(acquisition_grid: bool) -> np.ndarray:  # at 1e9 counts the noise is below float32's grain
        noise = ReconstructionNoise(
            1e9, field_of_view_levels=1, reconstruct_activity=True, acquisition_grid=acquisition_grid, seed=1
        )
        noise.build((2, 64, 64, 1), (2, 3))
        noise.field_of_view.assign(np.broadcast_to(inside, (1, MASKS_PER_LEVEL, 64, 64)).astype(np.float32))
        return (np.asarray(noise(np.repeat(activity[None, :, :, None], 2, axis=0), np.zeros((2, 3))))[..., 0] + 1) / 2

    placed, unplaced = slices(True), slices(False)
    np.testing.assert_allclose(placed[0], expected, atol=1e-4)
    # the far border: the grid's edge without the placement, 5 rows (3 columns) inside the grid with it
    assert placed[0, -1, 3:].mean() < 0.7 * unplaced[0, -1, 3:].mean()
    assert placed[0, 5:, -1].mean() < 0.7 * unplaced[0, 5:, -1].mean()
    with pytest.raises(ArgumentError, match="set reconstruction_field_of_view"):
        make_config("improved", reconstruction_counts=15.0, reconstruction_acquisition_grid=True)
    with pytest.raises(ArgumentError, match="give its levels"):
        ReconstructionNoise(15.0, acquisition_grid=True)
    assert ReconstructionNoise.from_config(
        ReconstructionNoise(15.0, field_of_view_levels=1, acquisition_grid=True).get_config()
    ).acquisition_grid


def turned_grid_inside(angle_deg: float, row_offset: float, column_offset: float):
    """Where a slice's pixels lie on a 64 x 64 scanner grid turned and shifted against it (pixel centres 0..63,
    the grid reaching half a pixel past them), written from the pose's definition, not from the fit."""
    a = np.deg2rad(angle_deg)
    r, c = ROWS - 31.5, COLS - 31.5
    grid_rows = np.cos(a) * r + np.sin(a) * c + 31.5 + row_offset
    grid_columns = np.cos(a) * c - np.sin(a) * r + 31.5 + column_offset
    return (np.abs(grid_rows - 31.5) <= 32) & (np.abs(grid_columns - 31.5) <= 32)


def test_the_grids_pose_is_fitted_to_a_turned_field_of_view():
    """A grid turned 6 degrees and shifted 3.3 rows down, 2.2 columns left, leaves wedges outside (no whole row):
    the fit finds its turn and offsets; an unturned band of 5 rows gives the bands' offset; a whole slice inside
    keeps the slice's own grid; the grid's footprint moved back is the mask."""
    from spect_toolkit.gan.field_of_view import UNPOSED, grid_poses, onto_scanner_grid

    turned = turned_grid_inside(6.0, -3.3, 2.2)
    assert not (~turned).all(axis=1).any()  # nothing whole-row for the bands to read
    banded = np.ones((64, 64), bool)
    banded[:5] = False
    other_way = turned_grid_inside(-9.0, 2.0, 0.0)
    masks = np.stack([turned, banded, np.ones((64, 64), bool), other_way])
    poses = grid_poses(masks)
    np.testing.assert_allclose(np.rad2deg(poses[[0, 3], 0]), [6.0, -9.0], atol=0.5)
    np.testing.assert_allclose(poses[0, 1:], [-3.3, 2.2], atol=0.6)
    np.testing.assert_allclose(poses[1], [0.0, -5.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(poses[2], UNPOSED, atol=1e-6)

    footprint = np.asarray(onto_scanner_grid(np.ones((4, 64, 64), np.float32), poses, back=True)) > 0.5
    agree = (footprint == masks).mean(axis=(1, 2))
    assert (agree > 0.99).all(), agree
    with pytest.raises(ArgumentError, match=r"\(n, H, H\)"):
        grid_poses(np.ones((64, 64), bool))


def test_onto_the_grid_and_back_keeps_a_smooth_slice_and_passes_gradients():
    from spect_toolkit.gan.field_of_view import onto_scanner_grid

    smooth = np.exp(-(((ROWS - 34) / 14.0) ** 2 + ((COLS - 30) / 11.0) ** 2)).astype(np.float32)
    pose = np.array([[np.deg2rad(8.0), 2.4, -1.7]], np.float32)
    there = onto_scanner_grid(smooth[None], pose)
    back = np.asarray(onto_scanner_grid(there, pose, back=True))[0]
    np.testing.assert_allclose(back[12:52, 12:52], smooth[12:52, 12:52], atol=0.01)  # two linear interpolations
    assert np.abs(np.asarray(there)[0] - smooth).max() > 0.05  # it did move
    x = tf.Variable(smooth[None])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(onto_scanner_grid(onto_scanner_grid(x, pose), pose, back=True))
    assert float(tf.reduce_sum(tape.gradient(loss, x))) > 0.9 * 64 * 64 * 0.8


def test_the_posed_grid_reconstructs_as_the_phantom_does_on_a_turned_grid():
    """The layer with ``grid_pose`` against an independent path (scipy's interpolation, the phantom's projector
    and filtered back-projection) on a grid turned 6 degrees: the same slice; its bright edge follows the turned
    grid, so the slice's border where the grid reaches past it is dimmer than on the bands' placement."""
    from scipy import ndimage

    from spect_toolkit.gan.field_of_view import grid_poses
    from spect_toolkit.phantom.physics import Scanner, fbp, project

    inside = turned_grid_inside(6.0, -3.3, 2.2)
    pose = grid_poses(inside[None])[0]
    a, row_offset, column_offset = (float(v) for v in pose)
    # slice pixel p lies at R (p - c) + c + o on the grid; scipy maps output coordinates to input ones
    to_grid = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    offset = np.array([row_offset, column_offset])
    c = np.full(2, 31.5)
    back_matrix, back_offset = to_grid, c + offset - to_grid @ c  # slice pixel -> where on the grid
    inverse = np.linalg.inv(to_grid)
    onto_matrix, onto_offset = inverse, c - inverse @ (c + offset)  # grid pixel -> where on the slice

    activity = np.where(HEAD, 0.8, 0.05).astype(np.float64)
    on_grid = ndimage.affine_transform(activity, onto_matrix, onto_offset, order=1, mode="grid-constant")
    reconstructed = fbp(project(on_grid[None], Scanner()), Scanner())[0].clip(0, None)
    expected = ndimage.affine_transform(reconstructed, back_matrix, back_offset, order=1, mode="grid-constant") * inside
    expected /= expected.max()

    def slices(grid_pose: bool) -> np.ndarray:
        noise = ReconstructionNoise(
            1e9, field_of_view_levels=1, reconstruct_activity=True, acquisition_grid=True, grid_pose=grid_pose, seed=1
        )
        noise.build((1, 64, 64, 1), (1, 3))
        noise.field_of_view.assign(np.broadcast_to(inside, (1, MASKS_PER_LEVEL, 64, 64)).astype(np.float32))
        if grid_pose:
            noise.grid_poses.assign(np.broadcast_to(pose, (1, MASKS_PER_LEVEL, 3)))
        return (np.asarray(noise(activity[None, :, :, None].astype(np.float32), np.zeros((1, 3))))[0, ..., 0] + 1) / 2

    posed, banded = slices(True), slices(False)
    # scipy reads past the last pixel centre as outside where the layer fades to zero: compare inside by one
    interior = ndimage.binary_erosion(inside, iterations=2)
    np.testing.assert_allclose(posed[interior], expected[interior], atol=2e-3)
    # the grid lies 3.3 rows down and 2.2 columns left of the slice: its edge is past the bottom row and the left
    # column, where the bands' placement, reading no whole row, puts it on the border
    for far_side in (np.s_[-1, :], np.s_[:, 0]):
        assert posed[far_side][inside[far_side]].mean() < 0.8 * banded[far_side][inside[far_side]].mean()
    with pytest.raises(ArgumentError, match="set reconstruction_acquisition_grid"):
        make_config(
            "improved", reconstruction_counts=15.0, reconstruction_field_of_view=True, reconstruction_grid_pose=True
        )
    with pytest.raises(ArgumentError, match="set acquisition_grid"):
        ReconstructionNoise(15.0, field_of_view_levels=1, grid_pose=True)
    assert ReconstructionNoise.from_config(
        ReconstructionNoise(15.0, field_of_view_levels=1, acquisition_grid=True, grid_pose=True).get_config()
    ).grid_pose


def test_a_gan_with_the_posed_grid_fits_its_masks_poses_and_keeps_them(tmp_path):
    from spect_toolkit.gan.field_of_view import UNPOSED

    rng = np.random.default_rng(3)
    turned_outside = ~turned_grid_inside(6.0, -3.3, 2.2)
    cer = [cut_slices(4, rng, outside=turned_outside, background=0.4) for _ in range(3)]
    cor = [cut_slices(4, rng, outside=np.zeros((64, 64), bool), background=0.4) for _ in range(3)]
    below, slices, above = (np.concatenate([c, k]) for c, k in zip(cer, cor))
    space = ConditionSpace(("CER", "COR"))
    data = TrainingSet.from_arrays(slices, below, above, ["CER"] * 4 + ["COR"] * 4, ["normal"] * 8, space)
    config = make_config(
        "improved",
        width=4,
        levels=space.levels,
        reconstruction_counts=15.0,
        reconstruction_field_of_view=True,
        reconstruction_of_activity=True,
        reconstruction_acquisition_grid=True,
        reconstruction_grid_pose=True,
    )
    gan = FastGAN(config, space, data)
    poses = np.asarray(gan.generator.get_layer("output_reconstruction").grid_poses)
    np.testing.assert_allclose(np.rad2deg(poses[0, :, 0]), 6.0, atol=0.5)
    np.testing.assert_allclose(poses[0, :, 1:], np.broadcast_to([-3.3, 2.2], (MASKS_PER_LEVEL, 2)), atol=0.6)
    np.testing.assert_array_equal(poses[1], np.broadcast_to(UNPOSED, poses[1].shape))

    z = rng.standard_normal((4, config.latent_dim)).astype(np.float32)
    images = gan.generate(z, space.vectors(["CER"] * 4, ["normal"] * 4))
    np.testing.assert_array_equal(images[:, turned_outside], 0.0)
    np.testing.assert_array_equal(images.max(axis=(1, 2)), 1.0)

    checkpoint.save(tmp_path / "g.npz", gan.generator_state(), epoch=1)
    loaded = FastGAN(config, space)
    checkpoint.load(tmp_path / "g.npz", loaded.generator_state())
    np.testing.assert_array_equal(np.asarray(loaded.generator.get_layer("output_reconstruction").grid_poses), poses)
    assert config.hash != dataclasses.replace(config, reconstruction_grid_pose=False).hash
