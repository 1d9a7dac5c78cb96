"""PACS push: C-STORE and STOW-RS to a real Orthanc on loopback, and the faults a user meets."""

from __future__ import annotations

import io
import json
import os
import shutil

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.export import export_samples
from spect_toolkit.export.push import STORED, push_cstore, push_stow
from spect_toolkit.samples import Samples

from conftest import needs_tool
from orthanc_server import TemporaryOrthanc, free_port

needs_orthanc = needs_tool("Orthanc", "Debian: apt-get install orthanc orthanc-dicomweb; .ci/run installs it")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    yy, xx = np.mgrid[:64, :64] - 31.5
    brain = np.where(xx**2 / 26**2 + yy**2 / 30**2 < 1, 0.7, 0.0).astype(np.float32)
    images = np.stack([brain * (0.6 + 0.05 * i) for i in range(6)])
    samples = Samples(
        images,
        np.array(["CER", "BG", "COR"] * 2),
        np.array(["normal"] * 3 + ["unilateral"] * 3),
        seed=1,
        config_hash="feedc0de",
        epoch=3,
    )
    return export_samples(samples, tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def orthanc():
    with TemporaryOrthanc() as pacs:
        yield pacs


def _uids(files) -> list[str]:
    return [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]


@needs_orthanc
def test_cstore_then_orthanc_holds_every_instance_with_a_visible_preview(export, orthanc):
    report = push_cstore(export.folder, "127.0.0.1", orthanc.dicom_port, orthanc.aet)
    assert report.ok and len(report.stored) == len(export.files)
    ids = [orthanc.instance_id(uid) for uid in _uids(export.files)]
    assert all(ids), "Orthanc lacks instances the push reported as stored"
    from matplotlib.image import imread

    preview = imread(io.BytesIO(orthanc.get(f"/instances/{ids[0]}/preview")), format="png")
    assert preview.std() > 0.05 and preview.max() > 0.5, "Orthanc's rendered preview is blank"


@needs_orthanc
def test_stow_rs_stores_every_instance(export, orthanc):
    if not orthanc.has_dicomweb and os.environ.get("SPECT_TOOLKIT_REQUIRE_TOOLS") != "1":
        pytest.skip("the orthanc-dicomweb plugin is not installed")
    for uid in _uids(export.files):  # start from an empty server so the check is about this push
        instance = orthanc.instance_id(uid)
        if instance:
            import urllib.request

            urllib.request.urlopen(urllib.request.Request(f"{orthanc.url}/instances/{instance}", method="DELETE"))
    report = push_stow(export.folder, orthanc.stow_url, files_per_request=4)
    assert report.ok, [r.detail for r in report.failed]
    assert all(orthanc.instance_id(uid) for uid in _uids(export.files))
    assert json.loads(orthanc.get("/statistics"))["CountInstances"] >= len(export.files)


def test_nothing_listening_marks_every_file_not_stored(export, tmp_path):
    port = free_port()
    report = push_cstore(export.folder, "127.0.0.1", port, "NOBODY", retries=1, retry_wait_s=0.01, timeout_s=2)
    assert not report.ok and not report.stored
    assert all("nothing listening" in r.detail and "2 attempts" in r.detail for r in report.records)
    stow = push_stow(export.folder, f"http://127.0.0.1:{port}/dicom-web/studies", retries=1, retry_wait_s=0.01)
    assert not stow.stored and all("connection failed" in r.detail for r in stow.records)
    result = CliRunner().invoke(
        app,
        [
            "push",
            str(export.folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--called-aet",
            "NOBODY",
            "--retries",
            "0",
            "--report",
            str(tmp_path / "r.csv"),
        ],
    )
    assert result.exit_code == 1 and "not stored" in result.output
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == len(export.files) + 1 and all(",not stored," in line for line in lines[1:])


def test_peer_rejecting_secondary_capture_is_reported_per_file(export):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage

    scp = AE(ae_title="CTONLY")
    scp.add_supported_context(CTImageStorage)  # a node that stores CT only: Secondary Capture is refused
    port = free_port()
    server = scp.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0x0000)])
    try:
        report = push_cstore(export.folder, "127.0.0.1", port, "CTONLY", retries=0)
    finally:
        server.shutdown()
    assert not report.stored and len(report.failed) == len(export.files)
    assert all("rejected SOP class 1.2.840.10008.5.1.4.1.1.7" in r.detail for r in report.records)


def test_unreadable_file_is_reported_and_the_rest_still_sent(export, tmp_path):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import SecondaryCaptureImageStorage

    folder = tmp_path / "mixed"
    shutil.copytree(export.folder, folder)
    (folder / "zz_broken.dcm").write_bytes(b"not dicom at all")
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    scp = AE(ae_title="STORE")
    scp.add_supported_context(SecondaryCaptureImageStorage, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    port = free_port()
    server = scp.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        report = push_cstore(folder, "127.0.0.1", port, "STORE")
    finally:
        server.shutdown()
    assert len(report.stored) == len(export.files) == len(received)
    (bad,) = report.failed
    assert bad.path.name == "zz_broken.dcm" and "unreadable" in bad.detail
    assert {r.sop_instance_uid for r in report.stored} == set(received)
    assert all(r.status == STORED for r in report.stored)
