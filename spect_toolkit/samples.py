"""``samples.npz``: generated slices with their conditions, the hand-over between the GAN, export and evaluation.

Arrays: ``images`` (n, 64, 64) float32 in [0, 1]; ``level`` and ``pattern`` (n,) strings; ``seed`` (scalar int);
``config_hash`` (scalar string); optional ``epoch`` (scalar int, the checkpoint used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SchemaError
from .vocabulary import LEVELS, PATTERNS, SLICE_SHAPE


@dataclass(frozen=True)
class Samples:
    images: np.ndarray
    level: np.ndarray
    pattern: np.ndarray
    seed: int
    config_hash: str
    epoch: int | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3 or self.images.shape[1:] != SLICE_SHAPE:
            raise SchemaError(
                None, f"samples need images of shape (n, {SLICE_SHAPE[0]}, {SLICE_SHAPE[1]}), got {self.images.shape}"
            )
        if len(self.level) != n or len(self.pattern) != n:
            raise SchemaError(None, f"{n} images but {len(self.level)} levels and {len(self.pattern)} patterns")
        for name, values, allowed in (("level", self.level, LEVELS), ("pattern", self.pattern, PATTERNS)):
            bad = sorted(set(map(str, values)) - set(allowed))
            if bad:
                raise SchemaError(None, f"unknown {name}(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
        if n and not np.isfinite(self.images).all():
            bad = int((~np.isfinite(self.images)).any(axis=(1, 2)).sum())
            raise SchemaError(None, f"{bad} sample image(s) hold NaN or infinite values")
        if n and (float(self.images.min()) < 0.0 or float(self.images.max()) > 1.0):
            raise SchemaError(None, "sample images must lie in [0, 1]")

    def save(self, path: str | Path) -> None:
        extra = {} if self.epoch is None else {"epoch": np.int64(self.epoch)}
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
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SchemaError(path, f"not a samples .npz file: {exc}") from None
    missing = [k for k in ("images", "level", "pattern", "seed", "config_hash") if k not in data.files]
    if missing:
        raise SchemaError(path, f"samples file lacks {', '.join(missing)}")
    try:
        return Samples(
            images=data["images"].astype(np.float32),
            level=data["level"].astype(str),
            pattern=data["pattern"].astype(str),
            seed=int(data["seed"]),
            config_hash=str(data["config_hash"]),
            epoch=int(data["epoch"]) if "epoch" in data.files else None,
        )
    except SchemaError as exc:
        raise SchemaError(path, exc.problem) from None
