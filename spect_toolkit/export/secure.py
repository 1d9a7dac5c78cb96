"""What a hospital PACS requires of a sender: TLS with the site's certificate authority (DICOM TLS, PS3.15 secure
transport, and HTTPS for DICOMweb), and credentials for DICOMweb that never appear on a command line, in a
report, a log or an error message.

Credentials come from the environment (``SPECT_PACS_USER`` and ``SPECT_PACS_PASSWORD``, or ``SPECT_PACS_TOKEN``)
or from a credentials file readable by its owner alone (``user=``, ``password=`` or ``token=`` lines). A URL with
a user name or password in it is refused, since it would end up in shell history and in the push report.
"""

from __future__ import annotations

import base64
import os
import ssl
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ArgumentError, SpectInputError

USER_ENV, PASSWORD_ENV, TOKEN_ENV = "SPECT_PACS_USER", "SPECT_PACS_PASSWORD", "SPECT_PACS_TOKEN"


@dataclass(frozen=True)
class Credentials:
    """HTTP basic authentication or a bearer token; ``repr`` never shows the secret."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.token and (self.user or self.password):
            raise ArgumentError("give either a bearer token or a user name and password, not both")
        if bool(self.user) != bool(self.password):
            raise ArgumentError("basic authentication needs both a user name and a password")

    @property
    def header(self) -> dict[str, str]:
        """The ``Authorization`` header (empty without credentials)."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.user:
            pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every string that must never be written anywhere, for redaction."""
        values = [v for v in (self.password, self.token) if v]
        if self.user and self.password:
            values.append(base64.b64encode(f"{self.user}:{self.password}".encode()).decode())
        return tuple(values)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def load_credentials(path: str | Path | None = None, environ: dict | None = None) -> Credentials:
    """Credentials from ``path`` (a file only its owner may read) or else from the environment; none if neither."""
    environ = os.environ if environ is None else environ
    if path is None:
        token = environ.get(TOKEN_ENV)
        user, password = environ.get(USER_ENV), environ.get(PASSWORD_ENV)
        return Credentials(user or None, password or None, token or None)
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SpectInputError(path, f"cannot read the credentials file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SpectInputError(
            path, f"credentials file is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in ("user", "password", "token"):
            raise SpectInputError(path, f"line {number}: expected user=, password= or token= (value not shown)")
        values[key.strip()] = value.strip()
    return Credentials(values.get("user"), values.get("password"), values.get("token"))


def refuse_secrets_in_url(url: str) -> None:
    """A user name or password inside a URL would be written to shell history and reports: refused."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ArgumentError(
            "the URL holds a user name or password; give credentials in the environment "
            f"({USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV}) or with --credentials FILE instead"
        )


def tls_context(
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    insecure: bool = False,
) -> ssl.SSLContext:
    """A client TLS context that verifies the server against ``ca_file`` (else the system's CAs), with an optional
    client certificate and key for mutual TLS. ``insecure`` turns verification off, with a warning."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        if cert_file is not None:
            context.load_cert_chain(str(cert_file), None if key_file is None else str(key_file))
    except (OSError, ssl.SSLError) as exc:
        source = cert_file if cert_file is not None and ca_file is None else ca_file
        raise SpectInputError(source, f"cannot use this certificate or key file: {exc}") from None
    if key_file is not None and cert_file is None:
        raise ArgumentError("a client key needs its certificate (--tls-cert)")
    if insecure:
        warnings.warn("TLS certificate verification is OFF (--insecure): the server is not authenticated", stacklevel=2)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_failure(exc: BaseException, what: str) -> str:
    """One line on why a TLS connection to ``what`` failed, in the words a site's IT department uses."""
    reason = getattr(exc, "reason", None) or str(exc)
    text = str(getattr(exc, "verify_message", "") or reason)
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        detail = getattr(exc, "verify_message", "") or "unknown reason"
        return f"TLS: the certificate of {what} does not verify ({detail}); give the site's CA with --tls-ca"
    if "WRONG_VERSION_NUMBER" in str(exc) or "wrong version number" in str(exc).lower():
        return f"TLS: {what} does not speak TLS on this port (a plain DICOM or HTTP port?)"
    return f"TLS with {what} failed: {text}"
