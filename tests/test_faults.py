"""Faults a hostile tester (or a bad day) brings, one per class of docs/reliability.md: each test asserts the exit
code or error, a message naming the file and the problem, and that every good item survived. Kills are real:
the test starts the command in a process of its own and sends it SIGKILL."""

from __future__ import annotations

import fcntl
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.errors import ArgumentError, SchemaError, SpectInputError
from spect_toolkit.export import export_samples
from spect_toolkit.gan import checkpoint, make_config, tensorflow_step, train
from spect_toolkit.gan.train import TrainingDiverged
from spect_toolkit.manifest import load_manifest, load_slices
from spect_toolkit.manifest.ingest import ingest
from spect_toolkit.manifest.store import store_digest
from spect_toolkit.samples import Samples, load_samples

TINY = dict(width=4, batch_size=16, checkpoint_every=1, steps_per_call=4)


def _copy_work(ingested, tmp_path) -> Path:
    _, work, _ = ingested
    target = tmp_path / "work"
    shutil.copytree(work, target, ignore=shutil.ignore_patterns("volumes", "qc", ".ingest.lock"))
    return target


# ---- non-finite values -------------------------------------------------------------------------------------------
def test_a_store_from_another_ingest_is_refused(ingested, tmp_path):
    work = _copy_work(ingested, tmp_path)
    store = np.load(work / "slices.npy")
    store[0, 1, 30, 30] += 1.0  # any other content: a second ingest, or an edit
    np.save(work / "slices.npy", store)
    with pytest.raises(SchemaError, match=r"slices\.npy: this slice store .* was not written with the manifest"):
        load_slices(load_manifest(work / "manifest.parquet"))


def test_nan_in_the_slice_store_is_refused_naming_the_slice(ingested, tmp_path):
    work = _copy_work(ingested, tmp_path)
    store = np.load(work / "slices.npy")
    store[3, 1, 30, 30] = np.nan
    np.save(work / "slices.npy", store)
    manifest = pd.read_parquet(work / "manifest.parquet")
    manifest["store_digest"] = store_digest(store)  # a consistent pair: only the values are wrong
    manifest.to_parquet(work / "manifest.parquet", index=False)
    bad_id = manifest.loc[manifest.store_index == 3, "slice_id"].iloc[0]
    with pytest.raises(SchemaError, match=rf"1 slice\(s\) hold NaN or infinite values: {bad_id}"):
        load_slices(load_manifest(work / "manifest.parquet"))
    result = CliRunner().invoke(app, ["train", str(work / "manifest.parquet"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and bad_id in result.output.replace("\n", "")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_samples_are_refused_before_export(tmp_path, value):
    images = np.full((2, 64, 64), 0.5, np.float32)
    images[1, 10, 10] = value
    np.savez(
        tmp_path / "s.npz",
        images=images,
        level=np.array(["COR"] * 2),
        pattern=np.array(["normal"] * 2),
        seed=np.int64(0),
        config_hash=np.str_("x"),
    )
    result = CliRunner().invoke(app, ["export", str(tmp_path / "s.npz"), "--out", str(tmp_path / "dicom")])
    assert result.exit_code == 1 and "1 sample image(s) hold NaN or infinite values" in " ".join(result.output.split())
    assert not (tmp_path / "dicom").exists()


def test_training_stops_at_the_first_non_finite_loss_keeping_the_last_good_epoch(ingested, tmp_path, monkeypatch):
    _, work, _ = ingested
    run = tmp_path / "run"
    train(work / "manifest.parquet", run, make_config("paper", epochs=1, **TINY), mode="function")
    good = (run / "checkpoints" / "last.npz").read_bytes()
    real_steps = tensorflow_step.Steps.__call__

    def poisoned(self, count):  # the losses turn NaN after step 8, as a diverging run's do
        losses = real_steps(self, count)
        return np.full_like(losses, np.nan) if self.gan.steps_done > 8 else losses

    monkeypatch.setattr(tensorflow_step.Steps, "__call__", poisoned)
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite in epoch 2, steps \d+ to \d+.*holds epoch 1"):
        train(work / "manifest.parquet", run, make_config("paper", epochs=3, **TINY), resume=True, mode="function")
    assert (run / "checkpoints" / "last.npz").read_bytes() == good
    assert not (run / "checkpoints" / "epoch_0002.npz").exists()


# ---- checkpoints and resume --------------------------------------------------------------------------------------
@pytest.fixture
def two_epoch_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    return run


def test_damaged_last_checkpoint_falls_back_to_the_previous_one(two_epoch_run, ingested):
    _, work, _ = ingested
    last = two_epoch_run / "checkpoints" / "last.npz"
    assert (two_epoch_run / "checkpoints" / "last.previous.npz").exists()
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(work / "manifest.parquet"),
            "--out",
            str(two_epoch_run),
            "--resume",
            "--epochs",
            "3",
            "--step-mode",
            "function",
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "damaged checkpoint" in text and "resuming from last.previous.npz (epoch 1)" in text
    assert list(pd.read_csv(two_epoch_run / "losses.csv").epoch) == [1, 2, 3]


def test_empty_checkpoint_without_fallback_is_named_and_changes_nothing(two_epoch_run, ingested):
    _, work, _ = ingested
    (two_epoch_run / "checkpoints" / "last.previous.npz").unlink()
    (two_epoch_run / "checkpoints" / "last.npz").write_bytes(b"")
    config = (two_epoch_run / "config.json").read_bytes()
    result = CliRunner().invoke(
        app, ["train", str(work / "manifest.parquet"), "--out", str(two_epoch_run), "--resume", "--epochs", "3"]
    )
    assert result.exit_code == 1 and "last.npz: checkpoint is an empty file" in " ".join(result.output.split())
    assert (two_epoch_run / "config.json").read_bytes() == config


def test_resume_with_fewer_epochs_than_done_is_an_error_that_changes_nothing(two_epoch_run, ingested):
    _, work, _ = ingested
    config = (two_epoch_run / "config.json").read_bytes()
    with pytest.raises(ArgumentError, match="has done 2 epochs; give --epochs more than that"):
        train(work / "manifest.parquet", two_epoch_run, make_config("paper", epochs=1, **TINY), resume=True)
    assert (two_epoch_run / "config.json").read_bytes() == config


@pytest.mark.parametrize("interval, written", [(3600.0, [2, 4, 5]), (0.0, [1, 2, 3, 4, 5])])
def test_resume_point_is_written_at_kept_epochs_the_end_and_once_an_interval(
    ingested, tmp_path, monkeypatch, interval, written
):
    _, work, _ = ingested
    monkeypatch.setattr(importlib.import_module("spect_toolkit.gan.train"), "LAST_CHECKPOINT_SECONDS", interval)
    saved, real_save = [], checkpoint.save

    def recording(path, groups, epoch, keep_previous=False):
        if path.name == "last.npz":
            saved.append(epoch)
        real_save(path, groups, epoch, keep_previous)

    monkeypatch.setattr(checkpoint, "save", recording)
    config = make_config("paper", epochs=5, **{**TINY, "checkpoint_every": 2})
    train(work / "manifest.parquet", tmp_path / "run", config, mode="function")
    assert saved == written
    assert np.load(tmp_path / "run" / "checkpoints" / "last.npz")["epoch"] == 5


def test_training_killed_mid_epoch_resumes_from_its_last_checkpoint(ingested, tmp_path):
    _, work, _ = ingested
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "spect_toolkit.cli",
        "train",
        str(work / "manifest.parquet"),
        "--out",
        str(run),
        "--epochs",
        "40",
        "--width",
        "4",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "1",
        "--step-mode",
        "function",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (run / "checkpoints" / "epoch_0002.npz").exists():
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (run / "checkpoints" / "last.npz").exists(), "training never reached its second epoch"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(work / "manifest.parquet"),
            "--out",
            str(run),
            "--resume",
            "--epochs",
            "41",
            "--step-mode",
            "function",
            "--time-budget",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    log = pd.read_csv(run / "losses.csv")
    assert list(log.epoch) == list(range(1, len(log) + 1))  # no gap and no repeated epoch


# ---- ingest outputs as one unit ----------------------------------------------------------------------------------
def test_second_ingest_into_a_folder_is_refused_unless_overwrite(small_cohort, ingested, tmp_path):
    work = tmp_path / "w"
    first = ingest(small_cohort.dicom, small_cohort.labels, work, levels="COR", jobs=2)
    stale = work / "volumes" / "R-stale.nii.gz"
    stale.write_bytes(b"left over")
    with pytest.raises(SpectInputError, match=r"w: already holds an ingest .*--overwrite"):
        ingest(small_cohort.dicom, small_cohort.labels, work, levels="COR")
    again = ingest(small_cohort.dicom, small_cohort.labels, work, levels="COR", jobs=2, overwrite=True)
    assert not stale.exists() and again.slices == first.slices
    volumes = {p.name for p in (work / "volumes").iterdir()}
    assert volumes == {f"{k}.nii.gz" for k in load_manifest(again.manifest).series_key.unique()}


def test_an_ingest_running_holds_its_folder(small_cohort, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    with open(work / ".ingest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running ingest holds it
        with pytest.raises(SpectInputError, match="another ingest is writing into this folder"):
            ingest(small_cohort.dicom, small_cohort.labels, work)


def test_ingest_killed_while_writing_leaves_no_mismatched_pair(small_cohort, tmp_path):
    work = tmp_path / "w"
    ingest(small_cohort.dicom, small_cohort.labels, work, levels="COR", jobs=2)
    command = [
        sys.executable,
        "-m",
        "spect_toolkit.cli",
        "ingest",
        str(small_cohort.dicom),
        "--labels",
        str(small_cohort.labels),
        "--out",
        str(work),
        "--overwrite",
        "--jobs",
        "1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    time.sleep(8)  # into the alignments: the old outputs are cleared, the new not yet written
    process.send_signal(signal.SIGKILL)
    process.wait()
    manifest = work / "manifest.parquet"
    if manifest.exists():  # whatever is there is a consistent pair, or refused by name
        try:
            load_slices(load_manifest(manifest))
        except SchemaError as exc:
            assert "slice store" in str(exc)
    rerun = ingest(small_cohort.dicom, small_cohort.labels, work, jobs=2, overwrite=True)
    assert len(load_slices(load_manifest(rerun.manifest)).slices) == rerun.slices > 0


# ---- export ------------------------------------------------------------------------------------------------------
def _samples(n=6) -> Samples:
    rng = np.random.default_rng(0)
    return Samples(
        rng.uniform(0, 1, (n, 64, 64)).astype(np.float32),
        np.array(["COR"] * n),
        np.array(["normal", "unilateral"] * (n // 2)),
        0,
        "test",
    )


def test_export_into_a_used_folder_is_refused_and_overwrite_replaces_it_whole(tmp_path):
    out = tmp_path / "dicom"
    first = export_samples(_samples(6), out, dicomdir=True)
    with pytest.raises(SpectInputError, match=r"dicom: already holds 7 file\(s\).*--overwrite"):
        export_samples(_samples(4), out, dicomdir=True)
    second = export_samples(_samples(4), out, dicomdir=True, overwrite=True)
    import pydicom

    listed = [r for r in pydicom.dcmread(out / "DICOMDIR").DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    on_disk = [p for p in (out / "PT000000").rglob("*") if p.is_file()]
    assert len(listed) == len(on_disk) == len(second.files) == 4
    assert first.patient_id != second.patient_id
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SpectInputError, match="replaces only an earlier export.*notes.txt"):
        export_samples(_samples(2), out, overwrite=True)
    assert (out / "notes.txt").exists()


# ---- push --------------------------------------------------------------------------------------------------------
def test_push_to_a_host_that_does_not_resolve_is_one_line_per_file(tmp_path):
    export_samples(_samples(2), tmp_path / "dicom")
    result = CliRunner().invoke(
        app,
        [
            "push",
            str(tmp_path / "dicom"),
            "--host",
            "no-such-pacs.invalid",
            "--port",
            "104",
            "--called-aet",
            "PACS",
            "--retries",
            "0",
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.count("does not resolve") == 1 and "and 1 more" in text  # one line per reason on the terminal
    report = pd.read_csv(tmp_path / "dicom.push_report.csv")  # one line per file in the report
    assert len(report) == 2 and report.detail.str.contains("'no-such-pacs.invalid' does not resolve").all()
    assert not (tmp_path / "dicom" / "push_report.csv").exists()


def test_only_failed_resends_what_the_report_did_not_confirm(tmp_path):
    from orthanc_server import free_port

    export_samples(_samples(4), tmp_path / "dicom")
    (tmp_path / "dicom" / "README.txt").write_text("not DICOM")
    port = free_port()
    push = ["push", str(tmp_path / "dicom"), "--host", "127.0.0.1", "--port", str(port), "--called-aet", "X"]
    first = CliRunner().invoke(app, [*push, "--retries", "0"])
    assert first.exit_code == 1 and "1 not DICOM, ignored" in " ".join(first.output.split())
    report = pd.read_csv(tmp_path / "dicom.push_report.csv")
    assert sorted(report.status) == ["ignored", "not stored", "not stored", "not stored", "not stored"]
    report.loc[report.status == "not stored", "status"] = ["stored", "stored", "not stored", "not stored"]
    report.to_csv(tmp_path / "earlier.csv", index=False)
    again = CliRunner().invoke(
        app,
        [
            *push,
            "--retries",
            "0",
            "--only-failed",
            str(tmp_path / "earlier.csv"),
            "--report",
            str(tmp_path / "again.csv"),
        ],
    )
    assert "2 file(s) not confirmed" in " ".join(again.output.split()) and len(pd.read_csv(tmp_path / "again.csv")) == 2


# ---- malformed inputs and the CLI --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, problem",
    [
        (
            lambda p: np.savez(
                p, images=np.array([object()] * 2), level=["COR"], pattern=["normal"], seed=0, config_hash="x"
            ),
            "pickled",
        ),
        (
            lambda p: np.savez(
                p,
                images=np.zeros((1, 64, 64)),
                level=np.array(["COR"]),
                pattern=np.array(["normal"]),
                seed=np.str_("seven"),
                config_hash=np.str_("x"),
            ),
            "seed must be one integer",
        ),
        (
            lambda p: np.savez(
                p,
                images=np.float32(1.0),
                level=np.array(["COR"]),
                pattern=np.array(["normal"]),
                seed=np.int64(0),
                config_hash=np.str_("x"),
            ),
            "shape (n, 64, 64)",
        ),
        (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(40)), "damaged samples file"),
        (lambda p: np.save(open(p, "wb"), np.zeros(3)), "a single .npy array"),
        (lambda p: p.write_text("level,pattern\nCOR,normal\n"), "not a zip archive"),
    ],
    ids=["object-array", "string-seed", "scalar-images", "truncated-npz", "npy-renamed", "text-file"],
)
def test_malformed_samples_files_are_named_with_their_problem(tmp_path, make, problem):
    path = tmp_path / "s.npz"
    make(path)
    with pytest.raises(SchemaError) as error:
        load_samples(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_the_cli_never_shows_a_traceback_unless_asked(tmp_path, monkeypatch):
    from spect_toolkit import samples as samples_module

    def broken(path):
        raise KeyError("a bug")

    monkeypatch.setattr(samples_module, "load_samples", broken)
    monkeypatch.setattr("spect_toolkit.export.secondary_capture.load_samples", broken)
    (tmp_path / "s.npz").write_bytes(b"")
    plain = CliRunner().invoke(app, ["export", str(tmp_path / "s.npz"), "--out", str(tmp_path / "o")])
    assert plain.exit_code == 1 and "unexpected KeyError" in plain.output and "--debug" in plain.output
    assert "Traceback" not in plain.output
    debug = CliRunner().invoke(app, ["--debug", "export", str(tmp_path / "s.npz"), "--out", str(tmp_path / "o")])
    assert isinstance(debug.exception, KeyError)


def test_corrupt_or_empty_pseudonym_key_is_named(tmp_path, small_cohort):
    for content, problem in ((b"", "empty"), (b"not hex at all\n", "one hex string"), (b"abcd\n", "2 bytes")):
        key = tmp_path / "k.key"
        key.write_bytes(content)
        result = CliRunner().invoke(app, ["scan", str(small_cohort.dicom), "--key", str(key)])
        assert result.exit_code == 1 and problem in " ".join(result.output.split()), result.output
