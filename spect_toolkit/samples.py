"""``samples.npz``: generated slices with their conditions, the hand-over between the GAN, export and evaluation.

Arrays: ``images`` (n, 64, 64) float32 in [0, 1]; ``level`` and ``pattern`` (n,) strings; ``seed`` (scalar int);
``config_hash`` (scalar string); optional ``epoch`` (scalar int, the checkpoint used), ``averaged_from`` (scalar
int: the generator's weights were averaged over the checkpoints from this epoch to ``epoch``) and ``side`` ((n,)
strings, L, R or none: the side each slice was asked for, from a model conditioned on the side).
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SchemaError
from .vocabulary import LEVELS, PATTERNS, SIDES, SLICE_SHAPE


@dataclass(frozen=True)
class Samples:
    images: np.ndarray
    level: np.ndarray
    pattern: np.ndarray
    seed: int
    config_hash: str
    epoch: int | None = None
    averaged_from: int | None = None
    side: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.shape[1:] != SLICE_SHAPE:
            raise SchemaError(
                None, f"samples need images of shape (n, {SLICE_SHAPE[0]}, {SLICE_SHAPE[1]}), got {self.images.shape}"
            )
        n = len(self.images)
        if len(self.level) != n or len(self.pattern) != n:
            raise SchemaError(None, f"{n} images but {len(self.level)} levels and {len(self.pattern)} patterns")
        if self.side is not None and len(self.side) != n:
            raise SchemaError(None, f"{n} images but {len(self.side)} sides")
        checked = [("level", self.level, LEVELS), ("pattern", self.pattern, PATTERNS)]
        if self.side is not None:
            checked.append(("side", self.side, SIDES))
        for name, values, allowed in checked:
            bad = sorted(set(map(str, values)) - set(allowed))
            if bad:
                raise SchemaError(None, f"unknown {name}(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
        if self.side is not None:
            mismatched = (np.asarray(self.side) == "none") != (np.asarray(self.pattern) == "normal")
            if mismatched.any():
                first = int(np.flatnonzero(mismatched)[0])
                raise SchemaError(
                    None,
                    f"{int(mismatched.sum())} slice(s) whose side does not fit the pattern (first: "
                    f"{self.pattern[first]} with side {self.side[first]}): a defect has side L or R, a normal "
                    "slice none",
                )
        if n and not np.isfinite(self.images).all():
            bad = int((~np.isfinite(self.images)).any(axis=(1, 2)).sum())
            raise SchemaError(None, f"{bad} sample image(s) hold NaN or infinite values")
        if self.averaged_from is not None and (self.epoch is None or self.averaged_from > self.epoch):
            raise SchemaError(None, f"averaged from epoch {self.averaged_from}, which is not before epoch {self.epoch}")
        if n and (float(self.images.min()) < 0.0 or float(self.images.max()) > 1.0):
            raise SchemaError(None, "sample images must lie in [0, 1]")

    def save(self, path: str | Path) -> None:
        optional = {"epoch": self.epoch, "averaged_from": self.averaged_from}
        extra = {name: np.int64(value) for name, value in optional.items() if value is not None}
        if self.side is not None:
            extra["side"] = self.side.astype(str)
        np.savez_compressed(
            path,
            images=self.images.astype(np.float32),
            level=self.level.astype(str),
            pattern=self.pattern.astype(str),
            seed=np.int64(self.seed),
            config_hash=np.str_(self.config_hash),
            **extra,
        )


def load_samples(path: str | Path) -> Samples:
    """Read and check a ``samples.npz``; every way it can be malformed is a :class:`SchemaError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(path, "no such samples file")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":  # an .npz is a zip archive; a .npy or a text file renamed is not
        kind = "a single .npy array" if magic.startswith(b"\x93NUM") else "not a zip archive"
        raise SchemaError(path, f"not a samples .npz file ({kind}); write it with spect generate")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise SchemaError(path, "holds Python objects (pickled arrays), which the toolkit never reads") from None
        raise SchemaError(path, f"damaged samples file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise SchemaError(path, f"damaged samples file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in ("images", "level", "pattern", "seed", "config_hash") if k not in arrays]
    if missing:
        raise SchemaError(path, f"samples file lacks {', '.join(missing)}")
    images = arrays["images"]
    if images.dtype.kind not in "fiu":
        raise SchemaError(path, f"images must be numbers, got {images.dtype}")
    for name in ("seed", "epoch", "averaged_from"):
        if name in arrays and (arrays[name].shape != () or arrays[name].dtype.kind not in "iu"):
            raise SchemaError(
                path, f"{name} must be one integer, got {arrays[name].dtype} of shape {arrays[name].shape}"
            )
    for name in ("level", "pattern", "config_hash", "side"):
        if name in arrays and arrays[name].dtype.kind not in "U":
            raise SchemaError(path, f"{name} must be text, got {arrays[name].dtype}")
    try:
        return Samples(
            images=images.astype(np.float32),
            level=arrays["level"].astype(str),
            pattern=arrays["pattern"].astype(str),
            seed=int(arrays["seed"]),
            config_hash=str(arrays["config_hash"]),
            epoch=int(arrays["epoch"]) if "epoch" in arrays else None,
            averaged_from=int(arrays["averaged_from"]) if "averaged_from" in arrays else None,
            side=arrays["side"].astype(str) if "side" in arrays else None,
        )
    except SchemaError as exc:
        raise SchemaError(path, exc.problem) from None
