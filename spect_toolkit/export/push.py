"""Sending an export to a PACS: C-STORE (pynetdicom) to a DICOM node, or STOW-RS to a DICOMweb server.

A file counts as stored only when the peer confirmed it: a C-STORE response with a success or warning status,
or its SOP Instance UID in the STOW-RS response's Referenced SOP Sequence. Association and connection failures
are retried; everything else is reported per file and never raised past the batch.
"""

from __future__ import annotations

import csv
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..progress import progress_bar
from .secure import PASSWORD_ENV, TOKEN_ENV, USER_ENV, Credentials, refuse_secrets_in_url, tls_failure

STORED, FAILED, IGNORED = "stored", "not stored", "ignored"


@dataclass
class PushRecord:
    path: Path
    sop_instance_uid: str
    status: str = FAILED
    detail: str = "not sent"


@dataclass
class PushReport:
    destination: str
    records: list[PushRecord] = field(default_factory=list)

    @property
    def stored(self) -> list[PushRecord]:
        return [r for r in self.records if r.status == STORED]

    @property
    def failed(self) -> list[PushRecord]:
        return [r for r in self.records if r.status == FAILED]

    @property
    def ignored(self) -> list[PushRecord]:
        """Files that are not DICOM (notes, a report): listed, not sent, not a failure."""
        return [r for r in self.records if r.status == IGNORED]

    @property
    def ok(self) -> bool:
        return len(self.records) > len(self.ignored) and not self.failed

    def write_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "sop_instance_uid", "status", "detail"])
            writer.writerows([str(r.path), r.sop_instance_uid, r.status, r.detail] for r in self.records)


def default_report_path(source: str | Path) -> Path:
    """``<folder>.push_report.csv`` beside the pushed folder (or file): outside it, so that pushing the folder
    again does not send the report as one more file."""
    source = Path(source).resolve()
    return source.with_name(source.name + ".push_report.csv")


def dicom_files(source: str | Path | list) -> list[Path]:
    """The DICOM files under a folder (DICOMDIR itself left out), or the given files, in a stable order."""
    if isinstance(source, (list, tuple)):
        return [Path(p) for p in source]
    source = Path(source)
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.is_file() and p.name != "DICOMDIR" and not p.name.startswith("."))


def _read(path: Path, pixels: bool = True) -> tuple[pydicom.Dataset | None, PushRecord]:
    """The dataset (``None`` when it cannot be sent) and the file's record: to send, ignored, or failed."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
        return ds, PushRecord(path, str(ds.SOPInstanceUID), FAILED, "")
    except InvalidDicomError as exc:
        if path.suffix.lower() == ".dcm":  # named as DICOM: a broken file, not a stray note
            return None, PushRecord(path, "", FAILED, f"unreadable: {exc}")
        return None, PushRecord(path, "", IGNORED, "not a DICOM file (no DICM preamble)")
    except (OSError, AttributeError, ValueError, EOFError) as exc:
        return None, PushRecord(path, "", FAILED, f"unreadable: {exc}")


def files_to_resend(report: str | Path) -> list[Path]:
    """The files a previous push did not confirm (status other than stored or ignored), from its report CSV."""
    import pandas as pd

    from ..errors import SchemaError

    try:
        table = pd.read_csv(report, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise SchemaError(report, f"not a readable push report: {exc}") from None
    if not {"path", "status"} <= set(table.columns):
        raise SchemaError(report, "a push report needs the columns path and status")
    return [Path(p) for p in table.loc[~table.status.isin([STORED, IGNORED]), "path"]]


# ---- C-STORE ---------------------------------------------------------------------------------------------------
def push_cstore(
    source,
    host: str,
    port: int,
    called_aet: str,
    calling_aet: str = "SPECT_TOOLKIT",
    retries: int = 3,
    retry_wait_s: float = 1.0,
    timeout_s: float = 30.0,
    show_progress: bool = False,
    tls: ssl.SSLContext | None = None,
) -> PushReport:
    """C-STORE every file of ``source``; one association, re-opened (up to ``retries`` times) when it fails.

    With ``tls`` (see :func:`~spect_toolkit.export.secure.tls_context`) the association runs over TLS (DICOM TLS,
    PS3.15), the node's certificate verified for ``host``."""
    report = PushReport(f"{called_aet}@{host}:{port}" + (" (TLS)" if tls else ""))
    datasets = _read_all(dicom_files(source), report)
    pending = [i for i, d in enumerate(datasets) if d is not None]
    unreachable = _unresolvable(host) or (_tls_handshake(host, port, tls, timeout_s) if tls else None)
    link = _Link(_application_entity(calling_aet, timeout_s, datasets), host, port, called_aet, retries, retry_wait_s)
    link.tls = tls
    with progress_bar(f"C-STORE to {report.destination}", total=len(datasets), enabled=show_progress) as advance:
        advance(len(datasets) - len(pending))
        while pending:
            failure = unreachable or link.ensure_open()
            if failure:  # nothing more can reach this peer: every file left is reported with the reason
                for i in pending:
                    report.records[i].detail = failure
                advance(len(pending))
                break
            i = pending[0]
            if _store_one(link, datasets[i], report.records[i]) == RESEND:
                continue
            pending.pop(0)
            advance(1)
        link.release()
    return report


RESEND = "resend"


def _read_all(files: list[Path], report: PushReport) -> list:
    """Each file's dataset (``None`` where unreadable, with the reason in its record)."""
    datasets = []
    for path in files:
        ds, record = _read(path)
        report.records.append(record)
        datasets.append(ds)
    return datasets


def _unresolvable(host: str) -> str | None:
    """Why ``host`` cannot be looked up, or ``None``: a typo in a host name is one clear line, not a traceback."""
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        return f"host name {host!r} does not resolve ({exc})"
    return None


def _application_entity(calling_aet: str, timeout_s: float, datasets: list):
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    for sop_class, syntax in sorted({(str(d.SOPClassUID), d.file_meta.TransferSyntaxUID) for d in datasets if d}):
        ae.add_requested_context(
            sop_class, list(dict.fromkeys([syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian]))
        )
    return ae


class _Link:
    """One association to the peer, opened on demand and re-opened after a failure, ``retries`` times at most."""

    def __init__(self, ae, host: str, port: int, called_aet: str, retries: int, retry_wait_s: float):
        self.ae, self.host, self.port, self.called_aet = ae, host, port, called_aet
        self.retries, self.retry_wait_s, self.attempts, self.association = retries, retry_wait_s, 0, None
        self.tls: ssl.SSLContext | None = None

    def ensure_open(self) -> str | None:
        """Open the association if needed; the reason when it cannot be opened (retries spent or pointless)."""
        while self.association is None or not self.association.is_established:
            tls_args = (self.tls, self.host) if self.tls else None
            self.association = self.ae.associate(self.host, self.port, ae_title=self.called_aet, tls_args=tls_args)
            if self.association.rejected_contexts and not self.association.accepted_contexts:
                # The peer took the connection but accepts none of our SOP classes: retrying cannot help.
                refused = ", ".join(
                    f"{c.abstract_syntax} ({c.abstract_syntax.name})" for c in self.association.rejected_contexts
                )
                return f"peer rejected SOP class {refused}"
            if self.association.is_established:
                _no_delay(self.association)
                return None
            if not self.lost():
                failure = _association_failure(self.association, self.host, self.port)
                if not self.tls and _speaks_tls(self.host, self.port):
                    failure += "; the node speaks TLS on this port: push with --tls-ca (DICOM TLS)"
                return f"{failure} (after {self.attempts} attempts)"
        return None

    def lost(self) -> bool:
        """Count a failed or dropped association; whether another attempt is allowed (after a pause)."""
        self.attempts += 1
        if self.attempts > self.retries:
            return False
        time.sleep(self.retry_wait_s * self.attempts)
        return True

    def release(self) -> None:
        if self.association is not None and self.association.is_established:
            self.association.release()


def _store_one(link: _Link, ds, record: PushRecord) -> str | None:
    """C-STORE one dataset and record the peer's answer; ``RESEND`` when the association dropped and may be retried."""
    from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

    association = link.association
    if not _context_accepted(association, ds):
        record.detail = f"peer rejected SOP class {ds.SOPClassUID} ({ds.SOPClassUID.name})"
        return None
    response = association.send_c_store(ds)
    if not response:  # no response: the association dropped; re-open and send this file again
        association.abort()
        if link.lost():
            return RESEND
        record.detail = "association lost and retries exhausted"
        return None
    code = int(response.Status)
    category = code_to_category(code)
    if category in (STATUS_SUCCESS, STATUS_WARNING):
        record.status = STORED
        record.detail = "success" if category == STATUS_SUCCESS else f"stored with warning 0x{code:04X}"
    else:
        comment = getattr(response, "ErrorComment", "")
        record.detail = f"peer refused: status 0x{code:04X} {comment}".strip()
    return None


def _association_failure(association, host: str, port: int) -> str:
    if association.is_rejected:
        return f"association rejected by {host}:{port} (check the called and calling AE titles)"
    # pynetdicom reports a refused TCP connection as an aborted association, with nothing received
    return f"no DICOM association with {host}:{port}: nothing listening, or the peer aborted it"


def _tls_handshake(host: str, port: int, context: ssl.SSLContext, timeout_s: float) -> str | None:
    """Why a TLS connection to the node fails (certificate, protocol), or ``None``: checked once before the
    associations, since no retry can mend a certificate."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return None
    except ssl.SSLError as exc:
        return tls_failure(exc, f"{host}:{port}")
    except OSError:  # nothing listening: the association attempts say so, with their retries
        return None


def _speaks_tls(host: str, port: int) -> bool:
    """Whether the node answers a TLS handshake (to explain a plain association it aborted)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(raw):
            return True
    except (OSError, ssl.SSLError):
        return False


def _no_delay(association) -> None:
    """Send each small C-STORE at once: with Nagle's algorithm on, every request waits for the peer's delayed
    ACK (about 40 ms on Linux), which caps a push at a few dozen files per second."""
    try:
        association.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # pynetdicom internals moved: slower, still correct
        pass


def _context_accepted(association, ds) -> bool:
    return any(c.abstract_syntax == ds.SOPClassUID for c in association.accepted_contexts)


# ---- STOW-RS ---------------------------------------------------------------------------------------------------
def push_stow(
    source,
    url: str,
    retries: int = 3,
    retry_wait_s: float = 1.0,
    timeout_s: float = 60.0,
    files_per_request: int = 50,
    show_progress: bool = False,
    tls: ssl.SSLContext | None = None,
    credentials: Credentials | None = None,
) -> PushReport:
    """STOW-RS (PS3.18 10.5) of every file in requests of ``files_per_request`` instances; over HTTPS the server's
    certificate is verified with ``tls`` (default: the system's CAs), ``credentials`` authenticate each request."""
    refuse_secrets_in_url(url)
    credentials = credentials or Credentials()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls or ssl.create_default_context()))
    files = dicom_files(source)
    report = PushReport(url)
    for path in files:  # the header gives the UID; the bytes sent are read from the file when its batch goes
        report.records.append(_read(path, pixels=False)[1])
    readable = [r for r in report.records if r.sop_instance_uid]
    with progress_bar(f"STOW-RS to {url}", total=len(files), enabled=show_progress) as advance:
        advance(len(files) - len(readable))
        for start in range(0, len(readable), files_per_request):
            batch = readable[start : start + files_per_request]
            _stow_batch(batch, url, retries, retry_wait_s, timeout_s, opener, credentials)
            advance(len(batch))
    return report


def _stow_batch(
    batch: list[PushRecord], url: str, retries: int, retry_wait_s: float, timeout_s: float, opener, credentials
) -> None:
    boundary = uuid.uuid4().hex
    parts = [
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + r.path.read_bytes() + b"\r\n"
        for r in batch
    ]
    body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
            **credentials.header,
        },
    )
    for attempt in range(1, retries + 2):
        try:
            with opener.open(request, timeout=timeout_s) as response:
                _apply_stow_response(batch, response.status, response.read())
            return
        except urllib.error.HTTPError as exc:  # 4xx: the server looked and refused; 5xx: worth another try
            if exc.code in (401, 403):
                refused = "refused the credentials" if credentials.header else "needs credentials"
                for record in batch:
                    record.detail = (
                        f"HTTP {exc.code} {exc.reason}: the server {refused} "
                        f"({USER_ENV}/{PASSWORD_ENV}, {TOKEN_ENV} or --credentials)"
                    )
                return
            if exc.code < 500 or attempt > retries:
                _apply_stow_response(batch, exc.code, exc.read())
                return
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            cause = getattr(exc, "reason", exc)
            if isinstance(cause, ssl.SSLError):  # a certificate or protocol problem: no retry mends it
                for record in batch:
                    record.detail = tls_failure(cause, urlsplit(url).netloc)
                return
            reason = f"connection failed: {credentials.redact(str(cause))}"
            if attempt > retries:
                break
        time.sleep(retry_wait_s * attempt)
    for record in batch:
        record.detail = f"{reason} (after {retries + 1} attempts)"


def _apply_stow_response(batch: list[PushRecord], http_status: int, body: bytes) -> None:
    """Mark as stored exactly the instances the server lists in its Referenced SOP Sequence (0008,1199)."""
    try:
        content = json.loads(body or b"{}")
    except json.JSONDecodeError:
        content = {}
    content = content[0] if isinstance(content, list) and content else content
    stored = (
        {item.get("00081155", {}).get("Value", [""])[0] for item in content.get("00081199", {}).get("Value", [])}
        if isinstance(content, dict)
        else set()
    )
    failed = (
        {
            item.get("00081155", {}).get("Value", [""])[0]: item.get("00081197", {}).get("Value", [""])[0]
            for item in content.get("00081198", {}).get("Value", [])
        }
        if isinstance(content, dict)
        else {}
    )
    for record in batch:
        if record.sop_instance_uid in stored:
            record.status, record.detail = STORED, f"HTTP {http_status}"
        elif record.sop_instance_uid in failed:
            record.detail = f"server refused (HTTP {http_status}, failure reason {failed[record.sop_instance_uid]})"
        else:
            record.detail = f"not confirmed by the server (HTTP {http_status})"
