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
from pathlib import Path

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryOrthanc:
    """``with TemporaryOrthanc() as pacs:`` starts Orthanc (Debian package ``orthanc``, DICOMweb plugin from
    ``orthanc-dicomweb`` when installed) and removes its storage on exit."""

    def __init__(self, aet: str = "ORTHANC", start_timeout_s: float = 30.0):
        self.binary = shutil.which("Orthanc")
        if self.binary is None:
            raise FileNotFoundError("Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb)")
        self.aet, self.start_timeout_s = aet, start_timeout_s
        self.http_port, self.dicom_port = free_port(), free_port()
        self.has_dicomweb = DICOMWEB_PLUGIN.exists()

    @property
    def url(self) -> str:
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
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._log.close()
        self._folder.cleanup()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.read()

    def post(self, path: str, body: bytes) -> bytes:
        request = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def instance_id(self, sop_instance_uid: str) -> str | None:
        """Orthanc's id of the instance with this SOP Instance UID, or None when Orthanc does not hold it."""
        hits = json.loads(self.post("/tools/lookup", sop_instance_uid.encode()))
        return next((h["ID"] for h in hits if h.get("Type") == "Instance"), None)
