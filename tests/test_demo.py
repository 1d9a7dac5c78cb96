"""``spect demo``: every stage runs on the embedded example data, and a failing stage is named."""

from __future__ import annotations

import numpy as np
import pytest

from spect_toolkit.demo import DemoStageError, run_demo
from spect_toolkit.manifest import load_manifest, select_split
from spect_toolkit.samples import load_samples

from orthanc_server import free_port


def test_demo_runs_each_stage_and_names_the_one_that_fails(tmp_path):
    said = []
    port = free_port()  # nothing listens: the push stage must fail, and say so
    with pytest.raises(DemoStageError) as failure:
        run_demo(tmp_path, minutes=0.1, pacs=f"127.0.0.1:{port}:NOBODY", say=said.append, show_progress=False)
    assert failure.value.stage == "push A" and "files not stored" in str(failure.value)
    assert [s.split("] ", 1)[1].split(" (")[0] for s in said] == [
        "scan",
        "ingest",
        "train data set A",
        "generate A",
        "train data set B",
        "generate B",
        "export A",
        "push A",
    ]
    a, b = load_samples(tmp_path / "samples_A.npz"), load_samples(tmp_path / "samples_B.npz")
    assert set(a.level) == {"CER", "BG", "COR"} and set(b.level) == {"COR"}
    real_train = select_split(load_manifest(tmp_path / "ingest" / "manifest.parquet"), "train")
    assert len(a.images) == len(b.images) == len(real_train)  # as many per pattern as the split it is compared with
    for samples in (a, b):
        patterns, counts = np.unique(samples.pattern, return_counts=True)
        assert dict(zip(patterns, counts)) == real_train.pattern.value_counts().to_dict()
    assert (tmp_path / "dicom_A" / "DICOMDIR").exists() and (tmp_path / "push_A.csv").exists()
