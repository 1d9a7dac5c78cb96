"""Compressed and other transfer syntaxes of hospital exports: every one read back as the uncompressed volume."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.dicom import read_volume, scan
from spect_toolkit.dicom.writing import JPEG_LS_NEAR, TRANSFER_SYNTAXES
from spect_toolkit.errors import ArgumentError
from spect_toolkit.phantom import make_cohort

LOSSY = {"jpeg-ls-near"}


@pytest.fixture(scope="module")
def uncompressed(tmp_path_factory):
    cohort = make_cohort(tmp_path_factory.mktemp("explicit"), 1, seed=5)
    return {p.relative_to(cohort.dicom): read_volume(p) for p in sorted(cohort.dicom.rglob("*.dcm"))}


@pytest.mark.parametrize("name", [n for n in TRANSFER_SYNTAXES if n != "explicit"])
def test_every_transfer_syntax_reads_back_as_the_uncompressed_volume(name, uncompressed, tmp_path):
    cohort = make_cohort(tmp_path, 1, seed=5, transfer_syntax=name)
    index = scan(cohort.dicom)
    assert list(index.status) == ["ok", "ok"]
    for relative, reference in uncompressed.items():
        path = cohort.dicom / relative
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID == TRANSFER_SYNTAXES[name]
        volume = read_volume(path)
        np.testing.assert_allclose(volume.origin, reference.origin)
        np.testing.assert_allclose(volume.direction, reference.direction)
        if name in LOSSY:
            step = float(ds.RescaleSlope)  # physical units per stored value
            error = np.abs(volume.array - reference.array) / step  # in stored values (float32 rounding aside)
            assert 0 < error.max() <= JPEG_LS_NEAR + 0.01  # lossy, but within the stated error per stored value
        else:
            np.testing.assert_array_equal(volume.array, reference.array)


def test_phantom_cli_takes_a_transfer_syntax_and_refuses_an_unknown_one(tmp_path):
    ok = CliRunner().invoke(
        app, ["phantom", str(tmp_path / "a"), "-n", "1", "--transfer-syntax", "jpeg-lossless", "--jobs", "1"]
    )
    assert ok.exit_code == 0, ok.output
    path = next((tmp_path / "a" / "DICOM").rglob("*.dcm"))
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == TRANSFER_SYNTAXES["jpeg-lossless"]
    bad = CliRunner().invoke(app, ["phantom", str(tmp_path / "b"), "-n", "1", "--transfer-syntax", "jpeg-xl"])
    assert bad.exit_code == 2 and "unknown transfer syntax 'jpeg-xl'" in bad.output
    with pytest.raises(ArgumentError):
        make_cohort(tmp_path / "c", 1, transfer_syntax="mpeg")
