"""Ingest: alignment against known pose, level selection, the manifest and store, labels errors, privacy."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from spect_toolkit.align import align_to_acpc
from spect_toolkit.cli import EXIT_SKIPPED, app
from spect_toolkit.dicom import read_volume
from spect_toolkit.errors import ArgumentError, SchemaError
from spect_toolkit.levels import level_slices, parse_levels
from spect_toolkit.manifest import MANIFEST, STORE_NAME, load_manifest, load_slices, select_split, write_subset
from spect_toolkit.manifest.ingest import ingest
from spect_toolkit.phantom import make_cohort
from spect_toolkit.phantom.hospital import FakePatient, write_nm_volume
from spect_toolkit.template import CANONICAL_GRID
from spect_toolkit.vocabulary import LEVELS


def _pose(row):
    return np.array([[row[f"r{i}{j}"] for j in range(3)] for i in range(3)]), np.array(
        [row.tx_mm, row.ty_mm, row.tz_mm]
    )


def test_manifest_store_and_volumes_agree(ingested):
    cohort, out, result = ingested
    manifest = load_manifest(out / "manifest.parquet")
    assert result.volumes_used == 12 and result.series_skipped == 0
    per_volume = len(level_slices(LEVELS))
    assert len(manifest) == 12 * per_volume
    assert set(manifest.level) == set(LEVELS)
    slices = load_slices(manifest)
    assert slices.slices.shape == (len(manifest), 64, 64) and slices.slices.dtype == np.float32
    row = manifest.iloc[5]
    nifti = sitk.ReadImage(str(out / row.volume_path))
    np.testing.assert_allclose(nifti.GetOrigin(), CANONICAL_GRID.origin, atol=1e-3)
    array = sitk.GetArrayFromImage(nifti)
    np.testing.assert_allclose(slices.slices[5], array[row.z_index], rtol=1e-6)
    np.testing.assert_allclose(slices.below[5], array[row.neighbour_below], rtol=1e-6)
    np.testing.assert_allclose(slices.above[5], array[row.neighbour_above], rtol=1e-6)
    assert (manifest.neighbour_above - manifest.z_index == 1).all()
    labels = pd.read_csv(cohort.labels)
    assert sorted(manifest.drop_duplicates("series_key").pattern) == sorted(labels.pattern)


def test_a_subset_travels_with_a_store_of_its_own_rows(ingested, tmp_path):
    _, out, _ = ingested
    manifest = load_manifest(out / "manifest.parquet")
    subset = manifest[manifest.level == "COR"].iloc[::-2]  # a subset, in an order of its own
    subset.attrs.update(manifest.attrs)
    moved = load_manifest(write_subset(subset, tmp_path / "subset"))
    assert np.load(tmp_path / "subset" / STORE_NAME).shape[0] == len(subset) < len(manifest)
    assert list(moved.slice_id) == list(subset.slice_id)
    before, after = load_slices(subset), load_slices(moved)
    for part in ("slices", "below", "above"):
        np.testing.assert_array_equal(getattr(after, part), getattr(before, part))
    assert list(select_split(moved, "holdout").slice_id) == list(select_split(subset, "holdout").slice_id)
    assert (tmp_path / "subset" / moved.volume_path.iloc[0]).resolve() == (out / subset.volume_path.iloc[0]).resolve()
    with pytest.raises(ArgumentError, match="would overwrite the store it is read from"):
        write_subset(subset, out)


def test_alignment_recovers_the_phantom_pose_and_level_slices(ingested):
    cohort, out, _ = ingested
    truth = pd.read_csv(cohort.ground_truth)
    report = pd.read_csv(out / "ingest_report.csv")
    assert (report.qc_flag == "ok").all()
    z = CANONICAL_GRID.axis("z")
    manifest = load_manifest(out / "manifest.parquet")
    for (_, row), (_, rep) in zip(truth.iterrows(), report.iterrows()):
        rotation, translation = _pose(row)
        found = np.array([rep.ac_x_mm, rep.ac_y_mm, rep.ac_z_mm])
        assert np.linalg.norm(found - translation) < 3.0
        assert abs(rep.pitch_deg - row.pitch_deg) < 2.5
        chosen = manifest[manifest.series_key == rep.series_key]
        for level in LEVELS:
            nearest = int(np.argmin(np.abs(z - row[f"z_{level}_mm"])))
            assert nearest in set(chosen[chosen.level == level].z_index), level


def test_landmarks_agree_with_template_registration(tmp_path):
    cohort = make_cohort(tmp_path / "c", 2, seed=8, elastic_mm=0.0)
    for _, row in pd.read_csv(cohort.ground_truth).iterrows():
        volume = read_volume(cohort.root / row.path)
        marks = {n: np.array([row[f"{n.lower()}_{a}"] for a in "xyz"]) for n in ("AC", "PC", "MID")}
        by_landmarks = align_to_acpc(volume, "landmarks", marks)
        by_template = align_to_acpc(volume, "template")
        rotation, translation = _pose(row)
        assert by_landmarks.transform_error(rotation, translation)[0] < 1e-6  # exact landmarks give the pose
        assert by_template.transform_error(by_landmarks.rotation, by_landmarks.translation)[0] < 1.0


def test_qc_flags_a_pose_no_head_takes(small_cohort):
    row = pd.read_csv(small_cohort.ground_truth).iloc[0]
    volume = read_volume(small_cohort.root / row.path)
    ac = np.array([row.ac_x, row.ac_y, row.ac_z])
    pc = ac + np.array([0.0, 28 * np.cos(np.radians(45)), -28 * np.sin(np.radians(45))])
    aligned = align_to_acpc(volume, "landmarks", {"AC": ac, "PC": pc, "MID": ac + [0, 0, 50]})
    assert aligned.qc_flag != "ok"


def test_labels_problems_are_named(small_cohort, tmp_path):
    labels = pd.read_csv(small_cohort.labels, dtype=str)
    unknown = labels.copy()
    unknown.loc[0, "pattern"] = "ischemic"
    unknown.to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(SchemaError, match="unknown value.*'ischemic'"):
        ingest(small_cohort.dicom, tmp_path / "unknown.csv", tmp_path / "w1")
    extra = pd.concat([labels, labels.iloc[[0]].assign(accession_number="A000000001")])
    extra.to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(SchemaError, match="1 label row.*match no usable series.*A000000001"):
        ingest(small_cohort.dicom, tmp_path / "extra.csv", tmp_path / "w2")
    labels.drop(columns="side").to_csv(tmp_path / "noside.csv", index=False)
    with pytest.raises(SchemaError, match="lacks column.*side"):
        ingest(small_cohort.dicom, tmp_path / "noside.csv", tmp_path / "w3")


def test_unlabelled_and_failing_series_are_reported_and_the_batch_goes_on(small_cohort, tmp_path):
    labels = pd.read_csv(small_cohort.labels, dtype=str)
    # an empty (all-zero) RECON TOMO series with a label: reading works, alignment cannot
    export = tmp_path / "export"
    import shutil

    shutil.copytree(small_cohort.dicom / "00001", export / "00001")
    shutil.copytree(small_cohort.dicom / "00002", export / "00002")
    patient = FakePatient.draw(np.random.default_rng(1), 1, 99)
    grid = read_volume(export / "00001" / "01")
    from spect_toolkit.template import Grid

    write_nm_volume(
        export / "blank",
        np.zeros((64, 64, 64), np.float32),
        Grid((64, 64, 64), grid.spacing, grid.origin),
        patient,
        "rest",
        1,
    )
    kept = labels[
        labels.patient_id.isin(
            [
                str(read_volume(export / "00001" / "01").info.patient_id),
                str(read_volume(export / "00002" / "01").info.patient_id),
            ]
        )
    ]
    kept = kept.iloc[:-1]  # the last stress series of patient 2 loses its label
    blank = pd.DataFrame(
        [
            {
                "patient_id": patient.patient_id,
                "accession_number": patient.accession_number,
                "condition": "rest",
                "pattern": "normal",
                "side": "none",
            }
        ]
    )
    pd.concat([kept, blank]).to_csv(tmp_path / "labels.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["ingest", str(export), "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "w"), "--jobs", "1"],
    )
    assert result.exit_code == EXIT_SKIPPED, result.output
    report = pd.read_csv(tmp_path / "w" / "ingest_report.csv")
    assert len(report) == 5
    assert report.used.sum() == 3
    reasons = " | ".join(report.reason.dropna())
    assert "no label row" in reasons
    assert "blank" in " ".join(report.path) and report[report.path.str.startswith("blank")].used.eq(False).all()


def test_outputs_hold_no_identifier(ingested):
    cohort, out, _ = ingested
    truth = pd.read_csv(cohort.ground_truth, dtype=str)
    secrets = set()
    for _, row in truth.iterrows():
        secrets |= {
            row.patient_id,
            row.patient_name,
            row.patient_name.split("^")[0],
            row.accession_number,
            row.study_instance_uid,
            row.series_instance_uid,
        }
    import pydicom

    for path in cohort.dicom.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        secrets.add(str(ds.PatientBirthDate))
        break
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "pseudonym.key"]
    assert any(p.suffix == ".png" for p in files) and any(p.name.endswith(".nii.gz") for p in files)
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} found in {path}"


def test_data_set_b_is_the_same_ingest_with_cor_only(small_cohort, tmp_path):
    result = ingest(small_cohort.dicom, small_cohort.labels, tmp_path / "b", levels="COR", jobs=2)
    manifest = load_manifest(result.manifest)
    assert set(manifest.level) == {"COR"}
    assert parse_levels("cor, cer") == ("CER", "COR")
    with pytest.raises(ArgumentError, match="unknown level.*XYZ"):
        parse_levels("XYZ")


def test_manifest_with_missing_column_is_refused(ingested, tmp_path):
    _, out, _ = ingested
    table = pd.read_csv(out / "manifest.csv").drop(columns="level")
    table.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(SchemaError, match=r"m\.csv.*lacks column.*level"):
        load_manifest(tmp_path / "m.csv")
    assert MANIFEST.names[0] == "slice_id"
