"""Every file of an export is accounted for: good series are found, bad input is named with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from spect_toolkit.cli import EXIT_SKIPPED, app
from spect_toolkit.dicom import SERIES_INDEX, read_volume, scan
from spect_toolkit.errors import DicomInputError, SchemaError
from spect_toolkit.pseudonym import Pseudonymizer

from conftest import write_marker


def _variant(source: Path, target: Path, edit) -> Path:
    ds = pydicom.dcmread(source)
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    edit(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)
    return target


def _ct(ds):
    ds.Modality = "CT"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"


def _planar(ds):
    ds.ImageType = ["ORIGINAL", "PRIMARY", "STATIC", "EMISSION"]


def _no_pixels(ds):
    del ds.PixelData


def _no_orientation(ds):
    del ds.DetectorInformationSequence[0].ImageOrientationPatient


def _big_matrix(ds):
    frames = ds.pixel_array
    big = np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)
    ds.Rows, ds.Columns = big.shape[1:]
    ds.PixelData = big.astype(np.uint16).tobytes()


BAD = {
    "truncated.dcm": "truncated",
    "notes.txt": "not a DICOM file",
    "no_pixels.dcm": "without pixel data",
    "ct.dcm": "modality CT is not a SPECT volume",
    "planar.dcm": "not a reconstructed tomogram",
    "big.dcm": "matrix 128x128 is not the 64x64",
    "no_orientation.dcm": "missing geometry",
}


@pytest.fixture
def messy_export(tmp_path):
    root = tmp_path / "export"
    _, good = write_marker(root / "good_mf", "multiframe")
    _, good_slices = write_marker(root / "good_slices", "per-slice", seed=1)
    good_file = good / "IM00001.dcm"
    bad = root / "bad"
    bad.mkdir()
    data = good_file.read_bytes()
    (bad / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (bad / "notes.txt").write_text("not an image\n")
    _variant(good_file, bad / "no_pixels.dcm", _no_pixels)
    _variant(good_file, bad / "ct.dcm", _ct)
    _variant(good_file, bad / "planar.dcm", _planar)
    _variant(good_file, bad / "big.dcm", _big_matrix)
    _variant(good_file, bad / "no_orientation.dcm", _no_orientation)
    return root


def test_scan_keeps_every_good_series_and_names_every_bad_file(messy_export):
    index = scan(messy_export)
    files = [p for p in messy_export.rglob("*") if p.is_file()]
    assert index.n_files.sum() == len(files)
    ok = index[index.status == "ok"]
    assert sorted(ok.path) == ["good_mf/IM00001.dcm", "good_slices"]
    assert ok.set_index("path").loc["good_slices", "n_files"] == 20
    for name, reason in BAD.items():
        row = index[index.path == f"bad/{name}"]
        assert len(row) == 1, name
        assert reason in row.status.iloc[0], (name, row.status.iloc[0])


@pytest.mark.parametrize("name", [n for n in BAD if n != "big.dcm"])
def test_read_volume_names_the_file_and_the_problem(messy_export, name):
    with pytest.raises(DicomInputError) as error:
        read_volume(messy_export / "bad" / name)
    assert name in str(error.value)
    assert BAD[name].split()[0] in str(error.value)


def test_index_holds_no_identifiers_in_clear(messy_export):
    index = scan(messy_export, Pseudonymizer(b"k" * 32))
    ds = pydicom.dcmread(messy_export / "good_mf" / "IM00001.dcm")
    text = index.to_csv()
    for value in (str(ds.PatientID), str(ds.PatientName), ds.StudyInstanceUID, ds.SeriesInstanceUID):
        assert value not in text
    again = scan(messy_export, Pseudonymizer(b"k" * 32))
    assert list(index.series_key) == list(again.series_key)


def test_cli_scan_exit_code_says_something_was_skipped(messy_export, tmp_path, project_key):
    result = CliRunner().invoke(app, ["scan", str(messy_export), "--out", str(tmp_path / "index.parquet")])
    assert result.exit_code == EXIT_SKIPPED, result.output
    assert project_key.exists()  # the project's key, shared with ingest
    clean = CliRunner().invoke(app, ["scan", str(messy_export / "good_mf")])
    assert clean.exit_code == 0, clean.output


def test_schema_names_a_missing_column():
    import pandas as pd

    with pytest.raises(SchemaError, match="lacks column.*status"):
        SERIES_INDEX.validate(pd.DataFrame({"series_key": ["x"]}).reindex(columns=SERIES_INDEX.names[:-1]), "idx.csv")
