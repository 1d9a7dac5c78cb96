"""Alignment on its own: the angle convention, landmark frames, defect masks, and a pose recovered from a volume
built from the template itself, with and without a one-sided defect (no phantom, no ingest)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from spect_toolkit.align import align_to_acpc, landmark_frame, rotation_angles
from spect_toolkit.align.acpc import defect_mask, quality_check, rotation_from_angles
from spect_toolkit.dicom.volume import Volume
from spect_toolkit.errors import SpectInputError
from spect_toolkit.template import CANONICAL_GRID, brain_mask_canonical, perfusion_template


def _rx(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def test_angles_are_pitch_roll_yaw_with_r_equal_rx_ry_rz():
    pitch, roll, yaw = 14.0, -6.0, 8.0
    expected = _rx(pitch) @ _ry(roll) @ _rz(yaw)
    np.testing.assert_allclose(rotation_from_angles(pitch, roll, yaw), expected, atol=1e-12)
    np.testing.assert_allclose(rotation_angles(expected), (pitch, roll, yaw), atol=1e-9)
    # the other order is a different rotation: the convention is not a matter of taste
    assert not np.allclose(_rz(yaw) @ _ry(roll) @ _rx(pitch), expected, atol=1e-3)


def test_landmark_frame_recovers_a_known_pose():
    rotation = rotation_from_angles(10.0, -4.0, 7.0)
    ac = np.array([3.0, -12.0, 20.0])
    pc_acpc, mid_acpc = np.array([0.0, 27.0, 0.0]), np.array([0.0, 10.0, 50.0])
    found_r, found_t = landmark_frame(ac, rotation @ pc_acpc + ac, rotation @ mid_acpc + ac)
    np.testing.assert_allclose(found_r, rotation, atol=1e-9)
    np.testing.assert_allclose(found_t, ac)
    with pytest.raises(SpectInputError, match="apart"):
        landmark_frame(ac, ac + 1.0, ac + [0, 0, 50])


def _template_head(shift_mm, defect_left: bool = False) -> tuple[Volume, np.ndarray]:
    """The template as a scanned head, 1.3 times brighter, shifted by ``shift_mm`` (the AC's world position)."""
    array = 1.3 * perfusion_template()
    if defect_left:
        x = CANONICAL_GRID.axis("x")  # LPS: +x is the patient's left
        lateral_left = (x > 25.0)[None, None, :] & brain_mask_canonical()
        array = np.where(lateral_left, 0.6 * array, array)  # a 40 % lateral cortical defect
    origin = np.asarray(CANONICAL_GRID.origin) + shift_mm
    volume = Volume(
        array.astype(np.float32), tuple(origin), CANONICAL_GRID.spacing, np.eye(3), "mL/100 g/min", "rescale"
    )
    return volume, np.asarray(shift_mm, dtype=float)


def test_template_head_is_found_where_it_was_put():
    volume, ac = _template_head([6.0, -4.0, 9.0])
    aligned = align_to_acpc(volume)
    rotation_error, ac_error = aligned.transform_error(np.eye(3), ac)
    assert rotation_error < 0.5 and ac_error < 0.5
    assert aligned.qc_flag == "ok"


def test_one_sided_defect_does_not_pull_the_head_sideways():
    volume, ac = _template_head([6.0, -4.0, 9.0], defect_left=True)
    aligned = align_to_acpc(volume)
    rotation_error, ac_error = aligned.transform_error(np.eye(3), ac)
    assert rotation_error < 1.0 and ac_error < 1.0, (rotation_error, ac_error)
    assert aligned.qc_flag == "ok", aligned.qc_flag  # a defect is not a misalignment
    assert aligned.qc.defect_share > 0.05


def test_qc_flags_a_pose_turned_five_degrees_and_says_by_how_much():
    volume, ac = _template_head([0.0, 0.0, 0.0], defect_left=True)
    turn = Rotation.from_rotvec(np.radians(5.0) * np.array([0.0, 0.6, 0.8])).as_matrix()
    check = quality_check(volume, turn, ac)
    assert check.flag.startswith("misaligned") and 3.5 < check.residual_deg < 6.5, check
    assert f"{check.residual_deg:.1f} deg" in check.flag


def test_defect_mask_ignores_global_level_and_finds_a_defect():
    template = perfusion_template()
    assert defect_mask(2.0 * template)[brain_mask_canonical()].mean() < 0.01
    _, _ = _template_head([0, 0, 0])
    volume, _ = _template_head([0.0, 0.0, 0.0], defect_left=True)
    mask = defect_mask(volume.array)
    x = CANONICAL_GRID.axis("x")
    assert mask[..., x > 30].sum() > 10 * mask[..., x < -30].sum()


def test_qc_values_never_print_like_their_limit():
    from spect_toolkit.align.acpc import shown

    assert shown(2.54, 2.5) == "2.54"  # at one decimal it would read 2.5 against the limit 2.5
    assert shown(0.5996, 0.6) == "0.5996"
    assert shown(5.31, 2.5) == "5.3"  # one decimal where that already differs
