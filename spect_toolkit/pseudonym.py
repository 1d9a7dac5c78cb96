"""Keyed pseudonyms: identifiers leave ingest only as HMAC-SHA256 digests under a key kept apart from the outputs.

One key serves a project: ``spect scan``, ``spect ingest`` and ``spect demo`` take it from ``--key``, else from the
``SPECT_TOOLKIT_KEY`` environment variable, else from the user's configuration folder
(``$XDG_CONFIG_HOME/spect-toolkit/pseudonym.key``, by default ``~/.config/spect-toolkit/pseudonym.key``). The same key
gives the same pseudonyms, so the index, the ingest report and the manifest of one export line up, and so do
later exports from the same archive. A key is never written inside the export being read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from .errors import ArgumentError, SpectInputError

KEY_BYTES = 32
KEY_ENV = "SPECT_TOOLKIT_KEY"


def default_key_path() -> Path:
    """Where the project key lives when no ``--key`` is given (see the module notes)."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "spect-toolkit" / "pseudonym.key"


def key_path_for(key: str | Path | None, reading: str | Path | None = None) -> Path:
    """``key`` or the default key path; refused when it lies inside ``reading`` (the export being read), where it
    would travel with the data it protects."""
    path = Path(key).expanduser() if key is not None else default_key_path()
    if reading is not None:
        source = Path(reading).resolve()
        if path.resolve() == source or source in path.resolve().parents:
            raise ArgumentError(
                f"pseudonym key {path} lies inside the export being read ({source}); "
                "keep it elsewhere (--key or the SPECT_TOOLKIT_KEY environment variable)"
            )
    return path


def load_or_create_key(path: str | Path) -> bytes:
    """Read the key file, or create it (owner-readable only) with a fresh random key."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return _read_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex() + "\n")
        return key
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpectInputError(path, f"cannot read the pseudonym key: {exc}") from None
    if not text:  # a concurrent creator may not have written it yet
        time.sleep(0.2)
        text = path.read_text().strip()
    if not text:
        raise SpectInputError(
            path,
            "the pseudonym key file is empty; restore it from your backup (a new key "
            "would give every series a new pseudonym)",
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise SpectInputError(path, "pseudonym key file must hold one hex string") from None
    if len(key) < 16:
        raise SpectInputError(path, f"pseudonym key is {len(key)} bytes, at least 16 are needed")
    return key


def project_pseudonymizer(key: str | Path | None = None, reading: str | Path | None = None) -> Pseudonymizer:
    """The pseudonymizer of the project key (``key`` or the default), created on first use."""
    return Pseudonymizer(load_or_create_key(key_path_for(key, reading)))


class Pseudonymizer:
    """``pseudonym("patient", "12345")`` -> ``"P-3f9a..."``; one key, stable digests, one prefix per kind."""

    PREFIX = {"patient": "P", "study": "S", "accession": "A", "series": "R"}

    def __init__(self, key: bytes | None = None):
        self._key = key if key is not None else secrets.token_bytes(KEY_BYTES)

    def __call__(self, kind: str, value: str) -> str:
        if kind not in self.PREFIX:
            raise ArgumentError(f"unknown identifier kind {kind!r}")
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{self.PREFIX[kind]}-{digest[:16]}"
