"""Keyed pseudonyms: identifiers leave ingest only as HMAC-SHA256 digests under a key kept beside, never inside,
the outputs. The same key gives the same pseudonyms, so later exports from the same archive line up."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(path: str | Path) -> bytes:
    """Read the key file, or create it (owner-readable only) with a fresh random key."""
    path = Path(path)
    if path.exists():
        text = path.read_text().strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{path}: key file must hold one hex string") from None
        if len(key) < 16:
            raise ValueError(f"{path}: key is {len(key)} bytes, at least 16 are needed")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


class Pseudonymizer:
    """``pseudonym("patient", "12345")`` -> ``"P-3f9a..."``; one key, stable digests, one prefix per kind."""

    PREFIX = {"patient": "P", "study": "S", "accession": "A", "series": "R"}

    def __init__(self, key: bytes | None = None):
        self._key = key if key is not None else secrets.token_bytes(KEY_BYTES)

    def __call__(self, kind: str, value: str) -> str:
        if kind not in self.PREFIX:
            raise ValueError(f"unknown identifier kind {kind!r}")
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{self.PREFIX[kind]}-{digest[:16]}"
