"""Pushing to a PACS secured as hospitals secure them: a real Orthanc with HTTPS (a CA made here), HTTP basic
authentication and DICOM TLS. Every file confirmed stored; each failure one clear line and exit 1; the password
never in any output."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pydicom
import pytest
from typer.testing import CliRunner

from spect_toolkit.cli import app
from spect_toolkit.errors import ArgumentError, SpectInputError
from spect_toolkit.export import export_samples
from spect_toolkit.export.secure import Credentials, load_credentials
from spect_toolkit.samples import Samples

from conftest import needs_tool
from orthanc_server import Certificates, TemporaryOrthanc

needs_orthanc = needs_tool("Orthanc", "Debian: apt-get install orthanc orthanc-dicomweb; .ci/run installs it")
needs_openssl = needs_tool("openssl", "Debian: apt-get install openssl")
PASSWORD = "c0rrect-h0rse-b4ttery-" + "x" * 8  # a secret whose every appearance the tests look for
USER = "radiology"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return Certificates.make(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def pacs(certificates):
    with TemporaryOrthanc(aet="SECURE", certificates=certificates, users={USER: PASSWORD}) as orthanc:
        yield orthanc


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 6
    samples = Samples(
        rng.uniform(0, 1, (n, 64, 64)).astype(np.float32),
        np.array(["COR"] * n),
        np.array(["normal", "bilateral"] * (n // 2)),
        0,
        "secure-test",
    )
    return export_samples(samples, tmp_path_factory.mktemp("out") / "dicom")


def _credentials_file(folder, mode=0o600, password=PASSWORD):
    path = folder / "pacs.credentials"
    path.write_text(f"user={USER}\npassword={password}\n")
    os.chmod(path, mode)
    return path


def _uids(files):
    return [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]


def _node(pacs) -> list:
    """The secured Orthanc's DICOM address as push options."""
    return ["--host", "127.0.0.1", "--port", pacs.dicom_port, "--called-aet", "SECURE"]


def _push(*args):
    return CliRunner().invoke(app, ["push", *map(str, args)])


def _no_secret_anywhere(result, *files):
    texts = [result.output, repr(result.exception or "")] + [f.read_text() for f in files if f.exists()]
    for text in texts:
        assert PASSWORD not in text
        assert Credentials(USER, PASSWORD).header["Authorization"].split()[1] not in text


@needs_orthanc
@needs_openssl
def test_stow_over_https_with_basic_auth_stores_every_file(pacs, export, certificates, tmp_path):
    if not pacs.has_dicomweb and os.environ.get("SPECT_TOOLKIT_REQUIRE_TOOLS") != "1":
        pytest.skip("the orthanc-dicomweb plugin is not installed")
    report = tmp_path / "report.csv"
    result = _push(
        export.folder,
        "--stow",
        pacs.stow_url,
        "--tls-ca",
        certificates.ca,
        "--credentials",
        _credentials_file(tmp_path),
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(report).status == "stored").all()
    assert all(pacs.instance_id(uid) for uid in _uids(export.files))  # Orthanc holds every one
    _no_secret_anywhere(result, report)


@needs_orthanc
@needs_openssl
def test_wrong_password_is_one_clear_line_and_exit_1(pacs, export, certificates, tmp_path, monkeypatch):
    monkeypatch.setenv("SPECT_PACS_USER", USER)
    monkeypatch.setenv("SPECT_PACS_PASSWORD", PASSWORD[::-1])
    report = tmp_path / "report.csv"
    result = _push(export.folder, "--stow", pacs.stow_url, "--tls-ca", certificates.ca, "--report", report)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.count("HTTP 401") == 1 and "refused the credentials" in text
    assert "Traceback" not in result.output
    _no_secret_anywhere(result, report)
    assert PASSWORD[::-1] not in result.output + report.read_text()


@needs_orthanc
@needs_openssl
def test_a_server_certificate_from_an_unknown_ca_is_refused(pacs, export, certificates, tmp_path):
    result = _push(
        export.folder,
        "--stow",
        pacs.stow_url,
        "--tls-ca",
        certificates.other_ca,
        "--credentials",
        _credentials_file(tmp_path),
        "--report",
        tmp_path / "r.csv",
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "does not verify" in text and "--tls-ca" in text
    _no_secret_anywhere(result, tmp_path / "r.csv")
    dicom = _push(
        export.folder,
        *_node(pacs),
        "--tls-ca",
        certificates.other_ca,
        "--retries",
        "0",
    )
    assert dicom.exit_code == 1 and "does not verify" in " ".join(dicom.output.split())


@needs_orthanc
@needs_openssl
def test_cstore_over_dicom_tls_stores_every_file(pacs, export, certificates, tmp_path):
    report = tmp_path / "report.csv"
    result = _push(
        export.folder,
        *_node(pacs),
        "--tls-ca",
        certificates.ca,
        "--tls-cert",
        certificates.client_cert,
        "--tls-key",
        certificates.client_key,
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    assert "(TLS)" in result.output and (pd.read_csv(report).status == "stored").all()
    assert all(pacs.instance_id(uid) for uid in _uids(export.files))


@needs_orthanc
@needs_openssl
def test_a_plain_client_to_a_tls_node_is_told_so(pacs, export):
    result = _push(
        export.folder, "--host", "127.0.0.1", "--port", pacs.dicom_port, "--called-aet", "SECURE", "--retries", "0"
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "the node speaks TLS on this port" in text


def test_credentials_are_refused_where_they_would_leak(tmp_path, export):
    loose = _credentials_file(tmp_path, mode=0o644)
    with pytest.raises(SpectInputError, match="readable by others.*chmod 600"):
        load_credentials(loose)
    in_url = _push(export.folder, "--stow", f"https://{USER}:{PASSWORD}@pacs.example/dicom-web/studies")
    assert in_url.exit_code == 2 and "holds a user name or password" in " ".join(in_url.output.split())
    assert PASSWORD not in in_url.output
    tight = _credentials_file(tmp_path, mode=0o600)
    assert stat.S_IMODE(tight.stat().st_mode) == 0o600
    credentials = load_credentials(tight)
    assert PASSWORD not in repr(credentials) and credentials.redact(f"x {PASSWORD} y") == "x *** y"
    token = load_credentials(environ={"SPECT_PACS_TOKEN": "t0ken"})
    assert token.header == {"Authorization": "Bearer t0ken"}
    with pytest.raises(ArgumentError, match="both a user name and a password"):
        Credentials(user=USER)
