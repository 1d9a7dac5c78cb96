"""A throw-away Orthanc on loopback (own configuration, storage and ports) for the tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Certificates:
    """A test CA, a server certificate it signed (for 127.0.0.1 and localhost), a client certificate, and a second
    CA that signed nothing the server uses (the 'unknown CA')."""

    ca: Path
    server_cert: Path
    server_key: Path

    client_cert: Path
    client_key: Path
    other_ca: Path

    @classmethod
    def make(cls, folder: Path) -> Certificates:
        folder.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

        for name in ("ca", "other_ca"):
            openssl(
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN=spect test {name}",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.crt",
            )
        (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for name, cn in (("server", "127.0.0.1"), ("client", "SPECT_TOOLKIT")):
            openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                f"/CN={cn}",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
            )
            openssl(
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                f"{name}.crt",
                "-extfile",
                "san.cnf",
            )
        return cls(
            folder / "ca.crt",
            folder / "server.crt",
            folder / "server.key",
            folder / "client.crt",
            folder / "client.key",
            folder / "other_ca.crt",
        )


class TlsTerminator:
    """HTTPS in front of a plain HTTP port, as a hospital's reverse proxy puts it in front of its PACS (Debian's
    Orthanc 1.10 crashes on HTTPS requests of its own, so the tests terminate TLS here)."""

    def __init__(self, target_port: int, certificates: Certificates):
        import ssl
        import threading

        self.target_port, self.port = target_port, free_port()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certificates.server_cert), str(certificates.server_key))
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import ssl
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                secure = self.context.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):  # a client that does not trust us: its handshake fails, as it should
                client.close()
                continue
            try:
                backend = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server behind is not up yet: this request fails, the proxy goes on
                secure.close()
                continue
            for source, sink in ((secure, backend), (backend, secure)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


class TemporaryOrthanc:
    """``with TemporaryOrthanc() as pacs:`` starts Orthanc (Debian package ``orthanc``, DICOMweb plugin from
    ``orthanc-dicomweb`` when installed) and removes its storage on exit."""

    def __init__(
        self,
        aet: str = "ORTHANC",
        start_timeout_s: float = 30.0,
        certificates: Certificates | None = None,
        users: dict[str, str] | None = None,
    ):
        """``certificates``: HTTPS and DICOM TLS with them; ``users``: HTTP basic authentication for these."""
        self.certificates, self.users = certificates, users
        self.binary = shutil.which("Orthanc")
        if self.binary is None:
            raise FileNotFoundError("Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb)")
        self.aet, self.start_timeout_s = aet, start_timeout_s
        self.http_port, self.dicom_port = free_port(), free_port()
        self.has_dicomweb = DICOMWEB_PLUGIN.exists()

    @property
    def url(self) -> str:
        if self.certificates:
            return f"https://127.0.0.1:{self._https.port}"
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def stow_url(self) -> str:
        return f"{self.url}/dicom-web/studies"

    def __enter__(self) -> TemporaryOrthanc:
        self._folder = tempfile.TemporaryDirectory(prefix="orthanc-")
        root = Path(self._folder.name)
        config = {
            "Name": "spect-toolkit-test",
            "StorageDirectory": str(root / "db"),
            "IndexDirectory": str(root / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomCheckCalledAet": True,
            "StorageCompression": False,
            "LimitFindResults": 0,
            "Plugins": [str(DICOMWEB_PLUGIN)] if self.has_dicomweb else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        if self.users:
            config.update(AuthenticationEnabled=True, RegisteredUsers=self.users)
        if self.certificates:
            c = self.certificates
            self._https = TlsTerminator(self.http_port, c)
            config.update(
                DicomTlsEnabled=True,
                DicomTlsCertificate=str(c.server_cert),
                DicomTlsPrivateKey=str(c.server_key),
                DicomTlsTrustedCertificates=str(c.ca),
                DicomTlsRemoteCertificateRequired=False,
            )
        (root / "orthanc.json").write_text(json.dumps(config))
        self._log = open(root / "orthanc.log", "w")
        # DCMTK (Orthanc's DICOM layer) answers each C-STORE without Nagle's delay only when asked to.
        env = {**os.environ, "TCP_NODELAY": "1"}
        self._process = subprocess.Popen(
            [self.binary, str(root / "orthanc.json")], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.2)
        log = (root / "orthanc.log").read_text()[-2000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"Orthanc did not start within {self.start_timeout_s:.0f} s; its log ends:\n{log}")

    def __exit__(self, *exc) -> None:
        if self.certificates:
            self._https.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._log.close()
        self._folder.cleanup()

    def _open(self, request: urllib.request.Request) -> bytes:
        import base64
        import ssl

        if self.users:
            user, password = next(iter(self.users.items()))
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        context = ssl.create_default_context(cafile=str(self.certificates.ca)) if self.certificates else None
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.read()

    def get(self, path: str) -> bytes:
        return self._open(urllib.request.Request(self.url + path))

    def post(self, path: str, body: bytes) -> bytes:
        return self._open(urllib.request.Request(self.url + path, data=body, method="POST"))

    def instance_id(self, sop_instance_uid: str) -> str | None:
        """Orthanc's id of the instance with this SOP Instance UID, or None when Orthanc does not hold it."""
        hits = json.loads(self.post("/tools/lookup", sop_instance_uid.encode()))
        return next((h["ID"] for h in hits if h.get("Type") == "Instance"), None)
