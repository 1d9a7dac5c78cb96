"""Reader geometry and units: round trips for every export layout, flips, and agreement with SimpleITK."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from spect_toolkit.dicom import read_volume
from spect_toolkit.errors import DicomInputError
from spect_toolkit.phantom.hospital import LAYOUTS, SCALES, quantise

from conftest import MARKER_GRID, write_marker


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_values_and_world_coordinates(tmp_path, layout, scale):
    volume, folder = write_marker(tmp_path / "s", layout, scale)
    read = read_volume(folder)
    _, slope = quantise(volume)
    assert read.array.shape == volume.shape
    assert np.max(np.abs(read.array - volume)) <= slope / 2 + 1e-4
    # every voxel sits where the phantom put it
    np.testing.assert_allclose(read.world_points(), MARKER_GRID.world_points(), atol=1e-3)
    assert read.scale_source == scale
    assert read.unit == "mL/100 g/min"
    np.testing.assert_array_equal(read.array, sitk.GetArrayFromImage(read.to_sitk()))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_left_anterior_superior_marker_stays_there(tmp_path, layout):
    _, folder = write_marker(tmp_path / "s", layout)
    read = read_volume(folder)
    image = read.to_sitk()
    k, j, i = np.unravel_index(np.argmax(read.array), read.array.shape)
    x, y, z = image.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))
    assert x > 50, "marker must be on the patient's left (+x in LPS)"
    assert y < -50, "marker must be anterior (-y in LPS)"
    assert z > 20, "marker must be superior (+z)"


def test_file_list_in_any_order_gives_the_same_volume(tmp_path):
    _, folder = write_marker(tmp_path / "s", "per-slice")
    files = sorted(folder.iterdir())
    shuffled = [files[i] for i in np.random.default_rng(3).permutation(len(files))]
    np.testing.assert_array_equal(read_volume(shuffled).array, read_volume(folder).array)


def _sitk_on_our_grid(path, ours):
    """SimpleITK's reading, resampled onto our grid (so differently ordered stacks compare voxel by voxel)."""
    theirs = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(sitk.Resample(theirs, ours.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor))


@pytest.mark.parametrize("layout", ["multiframe", "negative-spacing"])
def test_simpleitk_agrees_for_detector_sequence_geometry_with_rescale(tmp_path, layout):
    _, folder = write_marker(tmp_path / "s", layout, "rescale")
    ours = read_volume(folder)
    theirs = sitk.ReadImage(str(folder / "IM00001.dcm"))
    corners = [(0, 0, 0), (63, 63, 19), (63, 0, 19)]
    for ijk in corners:
        # the same voxel content must sit at the same place; negative spacing reverses SimpleITK's stack
        world = ours.to_sitk().TransformIndexToPhysicalPoint(ijk)
        their_index = theirs.TransformPhysicalPointToIndex(world)
        assert ours.array[ijk[2], ijk[1], ijk[0]] == pytest.approx(
            sitk.GetArrayFromImage(theirs)[their_index[2], their_index[1], their_index[0]], abs=1e-3
        )
    np.testing.assert_allclose(_sitk_on_our_grid(folder / "IM00001.dcm", ours), ours.array, atol=1e-3)


def test_simpleitk_ignores_real_world_value_mapping(tmp_path):
    """Named disagreement: GDCM applies Rescale Slope but not a Real World Value Mapping, so it returns raw
    stored values where we return CBF."""
    volume, folder = write_marker(tmp_path / "s", "multiframe", "rwvm")
    ours = read_volume(folder)
    theirs = _sitk_on_our_grid(folder / "IM00001.dcm", ours)
    stored, slope = quantise(volume)
    np.testing.assert_allclose(theirs, stored, atol=0.5)
    np.testing.assert_allclose(ours.array, stored * slope, rtol=1e-5, atol=1e-4)


def test_simpleitk_cannot_read_top_level_geometry_nm(tmp_path):
    """Named disagreement: GDCM looks for NM position only in the Detector Information Sequence and refuses a
    file that has it at the top level; our reader takes it, checked against the phantom's own grid above."""
    _, folder = write_marker(tmp_path / "s", "top-level")
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(folder / "IM00001.dcm"))
    np.testing.assert_allclose(read_volume(folder).origin, MARKER_GRID.origin, atol=1e-3)


def test_phantom_volume_round_trip_matches_ground_truth(small_cohort):
    truth = pd.read_csv(small_cohort.ground_truth)
    for _, row in truth.iterrows():
        volume = read_volume(small_cohort.root / row.path)
        assert volume.info.condition == row.condition
        assert volume.array.shape == (64, 64, 64)
        # the AC lies inside the field of view of every phantom volume, at a brain-like CBF
        ac = np.array([row.ac_x, row.ac_y, row.ac_z])
        index = volume.to_sitk().TransformPhysicalPointToIndex(tuple(ac))
        assert 15 < volume.array[index[2], index[1], index[0]] < 100


def test_read_volume_refuses_two_series_in_one_folder(small_cohort):
    with pytest.raises(DicomInputError, match="2 series"):
        read_volume(small_cohort.dicom / "00001")
