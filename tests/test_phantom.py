"""The phantom: reproducible, labelled as asked, and physiologically in the direction it claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.dicom import read_volume
from spect_toolkit.phantom import parse_mix
from spect_toolkit.phantom.cohort import draw_subject, simulate, tissue_masks, world_to_template
from spect_toolkit.phantom.physics import Scanner, acquire_and_reconstruct


def _hemisphere_means(subject, volume):
    template = world_to_template(subject, subject.acquisition_grid)
    gm = tissue_masks(subject)["gm"] & (template[..., 2] > -10)  # cerebrum only
    left = gm & (template[..., 0] > 5)
    right = gm & (template[..., 0] < -5)
    return volume[left].mean(), volume[right].mean()


def test_same_seed_same_subject_and_volume():
    a, b = draw_subject(4, 99), draw_subject(4, 99)
    assert a == b
    np.testing.assert_array_equal(simulate(a)["rest"], simulate(b)["rest"])
    assert draw_subject(5, 99) != a


@pytest.mark.parametrize("side", ["L", "R"])
def test_unilateral_defect_lowers_its_own_side_and_stress_more(side):
    for index in range(40):
        subject = draw_subject(index, 5, {"unilateral": 1})
        if subject.side == side:
            break
    volumes = simulate(subject, noise=False)
    rest_l, rest_r = _hemisphere_means(subject, volumes["rest"])
    stress_l, stress_r = _hemisphere_means(subject, volumes["stress"])
    affected, healthy = (0, 1) if side == "L" else (1, 0)
    rest, stress = (rest_l, rest_r), (stress_l, stress_r)
    assert rest[affected] < rest[healthy]
    assert stress[affected] / stress[healthy] < rest[affected] / rest[healthy]


def test_normal_subject_is_symmetric_and_stress_raises_cbf():
    subject = draw_subject(0, 2, {"normal": 1})
    volumes = simulate(subject)
    left, right = _hemisphere_means(subject, volumes["rest"])
    assert abs(left / right - 1) < 0.05
    gm = tissue_masks(subject)["gm"]
    gain = volumes["stress"][gm].mean() / volumes["rest"][gm].mean() - 1
    assert 0.25 < gain < 0.55


def test_reconstruction_keeps_the_physical_scale_and_adds_textured_noise():
    disk = np.zeros((6, 64, 64), np.float32)
    yy, xx = np.mgrid[:64, :64] - 31.5
    disk[:, xx**2 + yy**2 < 20**2] = 40.0
    clean = acquire_and_reconstruct(disk, Scanner(), 6e6, None)
    noisy = acquire_and_reconstruct(disk, Scanner(), 6e6, np.random.default_rng(0))
    assert clean[3, 26:38, 26:38].mean() == pytest.approx(40.0, rel=0.02)
    noise = (noisy - clean)[3, 20:44, 20:44]
    assert noise.std() > 0.2
    # reconstruction noise is correlated between neighbouring pixels; added white noise would not be
    correlation = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert correlation > 0.3


def test_mix_parsing():
    assert parse_mix("normal=2,bilateral=1") == {"normal": 2.0, "bilateral": 1.0}
    with pytest.raises(ValueError, match="unknown pattern 'ischemic'"):
        parse_mix("ischemic=1")


def test_cli_writes_labels_ground_truth_and_dicom(tmp_path):
    result = CliRunner().invoke(
        app, ["phantom", str(tmp_path / "c"), "-n", "3", "--seed", "4", "--jobs", "1", "--mix", "unilateral=1"]
    )
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(tmp_path / "c" / "labels.csv")
    truth = pd.read_csv(tmp_path / "c" / "ground_truth.csv")
    assert list(labels.columns) == ["patient_id", "accession_number", "condition", "pattern", "side"]
    assert len(labels) == 6 and set(labels.pattern) == {"unilateral"} and set(labels.side) <= {"L", "R"}
    assert set(labels.condition) == {"rest", "stress"}
    for _, row in truth.iterrows():
        volume = read_volume(tmp_path / "c" / row.path)
        assert volume.info.patient_id == str(row.patient_id)
        assert row.z_CER_mm < 0 < row.z_BG_mm < row.z_COR_mm


def test_territory_sides_follow_the_atlas():
    from spect_toolkit.template import ANATOMY_GRID, TERRITORIES, load_anatomy

    x = ANATOMY_GRID.world_points()[..., 0]
    labels = load_anatomy().territories
    for name, label in TERRITORIES.items():
        centroid = x[labels == label].mean()
        assert (centroid > 0) == name.endswith("-L"), name  # LPS: patient left is +x


def test_system_resolution_is_that_of_a_brain_spect():
    from scipy import ndimage
    from scipy.optimize import curve_fit

    from spect_toolkit.phantom.cohort import ANTI_ALIAS_FWHM_MM
    from spect_toolkit.template import fwhm_to_sigma

    scanner = Scanner()
    point = np.zeros((21, 64, 64), np.float32)
    point[10, 32, 32] = 1
    point = ndimage.gaussian_filter(point, fwhm_to_sigma(ANTI_ALIAS_FWHM_MM) / scanner.pixel_mm)
    image = acquire_and_reconstruct(point, scanner, 1e6, None)

    def fwhm(profile):
        gauss = lambda x, a, m, s: a * np.exp(-((x - m) ** 2) / (2 * s * s))  # noqa: E731
        x = np.arange(profile.size)
        params, _ = curve_fit(gauss, x, profile, p0=[profile.max(), profile.argmax(), 1.0])
        return abs(params[2]) * 2.3548 * scanner.pixel_mm

    assert 11.5 < fwhm(image[10, 32, :]) < 14.0
    assert 11.5 < fwhm(image[:, 32, 32]) < 14.0
