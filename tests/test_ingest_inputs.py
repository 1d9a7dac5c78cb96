"""Ingest on exports it did not write: one pseudonym key, bad values, ambiguous or unusable labels, media folders.
Each case asserts the exit code, the message, and that every good series is still in the manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import MediaStorageDirectoryStorage, generate_uid
from typer.testing import CliRunner

from spect_toolkit.cli import EXIT_SKIPPED, app
from spect_toolkit.errors import SchemaError
from spect_toolkit.manifest import load_manifest
from spect_toolkit.manifest.ingest import ingest


@pytest.fixture(scope="module")
def two_patients(small_cohort, tmp_path_factory):
    """Patients 1 and 2 of the small cohort (4 series) with their label rows."""
    root = tmp_path_factory.mktemp("two")
    for patient in ("00001", "00002"):
        shutil.copytree(small_cohort.dicom / patient, root / "export" / patient)
    truth = pd.read_csv(small_cohort.ground_truth, dtype=str)
    kept = truth[truth.path.str.contains("/00001/|/00002/")]
    labels = kept[["patient_id", "accession_number", "condition", "pattern", "side"]]
    return root / "export", labels, set(kept.series_instance_uid)


def _export_copy(two_patients, tmp_path) -> Path:
    export, _, _ = two_patients
    shutil.copytree(export, tmp_path / "export")
    return tmp_path / "export"


def _ingest_cli(export: Path, labels: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        app, ["ingest", str(export), "--labels", str(labels), "--out", str(out), "--jobs", "1", *extra]
    )


def _used_series(out: Path) -> int:
    return load_manifest(out / "manifest.parquet").series_key.nunique()


def _edit_first_file(folder: Path, edit) -> Path:
    path = sorted(folder.rglob("*.dcm"))[0]
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path)
    return path


def test_scan_and_ingest_share_one_key_so_series_keys_line_up(two_patients, tmp_path):
    export, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    key = tmp_path / "project.key"
    scanned = CliRunner().invoke(app, ["scan", str(export), "--out", str(tmp_path / "index.csv"), "--key", str(key)])
    assert scanned.exit_code == 0, scanned.output
    result = _ingest_cli(export, tmp_path / "labels.csv", tmp_path / "w", "--key", str(key))
    assert result.exit_code == 0, result.output
    index = set(pd.read_csv(tmp_path / "index.csv").series_key)
    report = set(pd.read_csv(tmp_path / "w" / "ingest_report.csv").series_key)
    manifest = set(load_manifest(tmp_path / "w" / "manifest.parquet").series_key)
    assert len(index) == 4 and index == report == manifest


def test_default_key_is_the_projects_and_never_inside_the_export(two_patients, tmp_path, project_key):
    export, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    assert CliRunner().invoke(app, ["scan", str(export), "--out", str(tmp_path / "a.csv")]).exit_code == 0
    assert CliRunner().invoke(app, ["scan", str(export), "--out", str(tmp_path / "b.csv")]).exit_code == 0
    a, b = (pd.read_csv(tmp_path / name).series_key for name in ("a.csv", "b.csv"))
    assert list(a) == list(b) and project_key.exists()
    inside = CliRunner().invoke(app, ["scan", str(export), "--key", str(export / "pseudonym.key")])
    assert inside.exit_code == 2 and "inside the export being read" in " ".join(inside.output.split())
    assert not (export / "pseudonym.key").exists()


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda ds: setattr(ds, "RescaleSlope", "NaN"), "Rescale Slope is nan"),
        (lambda ds: setattr(ds, "RescaleSlope", "0"), "Rescale Slope is 0.0"),
        (lambda ds: setattr(ds, "PixelData", bytes(len(ds.PixelData))), "every stored pixel is zero"),
    ],
    ids=["nan-slope", "zero-slope", "all-zero-pixels"],
)
def test_bad_values_are_reported_by_scan_and_skipped_by_ingest(two_patients, tmp_path, edit, reason):
    export = _export_copy(two_patients, tmp_path)
    _, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    bad = _edit_first_file(export / "00001", edit)
    scanned = CliRunner().invoke(app, ["scan", str(export), "--out", str(tmp_path / "index.csv")])
    assert scanned.exit_code == EXIT_SKIPPED, scanned.output
    index = pd.read_csv(tmp_path / "index.csv")
    relative = str(bad.relative_to(export))
    row = index[index.files.str.split(";").apply(lambda files: relative in files)]
    assert row.outcome.tolist() == ["skipped"] and reason in row.status.iloc[0]
    result = _ingest_cli(export, tmp_path / "labels.csv", tmp_path / "w")
    assert result.exit_code == EXIT_SKIPPED, result.output
    report = pd.read_csv(tmp_path / "w" / "ingest_report.csv")
    assert reason in " ".join(report.reason.dropna()) and report.used.sum() == 3
    assert _used_series(tmp_path / "w") == 3


def test_a_label_row_matching_two_series_is_an_error_naming_them(two_patients, tmp_path):
    export = _export_copy(two_patients, tmp_path)
    _, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    twin = export / "00001" / "01-again"
    shutil.copytree(export / "00001" / "01", twin)
    for path in twin.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(path)
    with pytest.raises(SchemaError, match=r"match several series.*00001/01-again/IM00001.dcm, 00001/01/IM00001.dcm"):
        ingest(export, tmp_path / "labels.csv", tmp_path / "w")
    assert not (tmp_path / "w").exists()  # refused before anything was written


def test_a_label_for_an_unusable_series_is_reported_and_the_batch_goes_on(two_patients, tmp_path):
    export = _export_copy(two_patients, tmp_path)
    _, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", sep=";", index=False, encoding="utf-16")  # as some spreadsheets save
    _edit_first_file(export / "00002", lambda ds: setattr(ds, "Modality", "CT"))
    result = _ingest_cli(export, tmp_path / "labels.csv", tmp_path / "w")
    assert result.exit_code == EXIT_SKIPPED, result.output
    report = pd.read_csv(tmp_path / "w" / "ingest_report.csv")
    unusable = report[report.reason.fillna("").str.contains("modality CT")]
    assert len(unusable) == 1 and unusable.pattern.iloc[0] in ("normal", "unilateral", "bilateral")
    assert _used_series(tmp_path / "w") == 3


def test_media_folder_files_are_ignored_not_lost(two_patients, tmp_path):
    export = _export_copy(two_patients, tmp_path)
    _, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    directory = Dataset()
    directory.file_meta = meta
    directory.FileSetID = "CD1"
    directory.save_as(export / "DICOMDIR", enforce_file_format=True)
    (export / "README.TXT").write_text("Patient CD. Open VIEWER.EXE to view.\r\n")
    (export / "VIEWER.EXE").write_bytes(b"MZ\x90\x00" + bytes(200))
    scanned = CliRunner().invoke(app, ["scan", str(export), "--out", str(tmp_path / "index.csv")])
    assert scanned.exit_code == 0, scanned.output
    index = pd.read_csv(tmp_path / "index.csv")
    ignored = index[index.outcome == "ignored"]
    assert sorted(ignored.path) == ["DICOMDIR", "README.TXT", "VIEWER.EXE"]
    assert "DICOMDIR" in ignored.set_index("path").status["DICOMDIR"]
    result = _ingest_cli(export, tmp_path / "labels.csv", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert "3 files ignored" in " ".join(result.output.split()) and _used_series(tmp_path / "w") == 4


def test_a_folder_without_dicom_is_named_as_such(tmp_path, two_patients):
    _, labels, _ = two_patients
    labels.to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("nothing here")
    result = _ingest_cli(tmp_path / "notes", tmp_path / "labels.csv", tmp_path / "w")
    assert result.exit_code == 1 and "no DICOM image found" in " ".join(result.output.split())
    assert not (tmp_path / "w").exists()
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(app, ["scan", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "holds no files" in " ".join(empty.output.split())
