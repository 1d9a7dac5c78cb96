"""``spect demo``: every stage runs on the embedded example data, and a failing stage is named."""

from __future__ import annotations

import numpy as np
import pytest

from spect_toolkit.demo import DemoStageError, run_demo
from spect_toolkit.export.orthanc import free_port
from spect_toolkit.samples import load_samples


def test_demo_runs_each_stage_and_names_the_one_that_fails(tmp_path):
    said = []
    port = free_port()  # nothing listens: the push stage must fail, and say so
    with pytest.raises(DemoStageError) as failure:
        run_demo(tmp_path, minutes=0.1, pacs=f"127.0.0.1:{port}:NOBODY", say=said.append, show_progress=False)
    assert failure.value.stage == "push A" and "files not stored" in str(failure.value)
    assert [s.split("] ", 1)[1].split(" (")[0] for s in said] == [
        "scan", "ingest", "train data set A", "generate A", "train data set B", "generate B", "export A", "push A"]
    a, b = load_samples(tmp_path / "samples_A.npz"), load_samples(tmp_path / "samples_B.npz")
    assert set(a.level) == {"CER", "BG", "COR"} and set(b.level) == {"COR"}
    assert len(a.images) == len(b.images) == 180  # as many as the example manifest, per pattern
    assert np.array_equal(np.unique(a.pattern, return_counts=True)[1], np.unique(b.pattern, return_counts=True)[1])
    assert (tmp_path / "dicom_A" / "DICOMDIR").exists() and (tmp_path / "push_A.csv").exists()
