"""Labelled slice manifests: the schema, loading with checks, the slice store, and ingest that writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SchemaError
from .schema import CONDITIONS, LABELS, LANDMARKS, MANIFEST, PATTERNS, SIDES

__all__ = ["MANIFEST", "LABELS", "LANDMARKS", "PATTERNS", "CONDITIONS", "SIDES", "load_manifest", "load_slices",
           "load_table", "SliceSet", "STORE_NAME", "patient_split", "select_split", "SPLITS", "HOLDOUT_FRACTION"]

STORE_NAME = "slices.npy"
SPLITS = ("all", "train", "holdout")
HOLDOUT_FRACTION = 0.2


def load_table(path: str | Path, schema) -> pd.DataFrame:
    """Read a CSV or Parquet table and check it against ``schema``; errors name the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(path, f"no such {schema.name} file")
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return schema.validate(table, path)


def load_manifest(path: str | Path) -> pd.DataFrame:
    """Load ``manifest.parquet`` (or ``.csv``), check its schema, and remember its folder for :func:`load_slices`."""
    manifest = load_table(path, MANIFEST)
    manifest.attrs["root"] = str(Path(path).resolve().parent)
    return manifest


@dataclass(frozen=True)
class SliceSet:
    """Slices ``(n, 64, 64)`` float32 in physical units, with their inferior and superior neighbours."""

    slices: np.ndarray
    below: np.ndarray
    above: np.ndarray


def load_slices(manifest: pd.DataFrame, root: str | Path | None = None, mmap: bool = True) -> SliceSet:
    """The slices of ``manifest``'s rows (in row order) from the slice store beside it."""
    root = Path(root or manifest.attrs.get("root", "."))
    store_path = root / STORE_NAME
    if not store_path.exists():
        raise SchemaError(store_path, "slice store missing beside the manifest")
    store = np.load(store_path, mmap_mode="r" if mmap else None)
    index = manifest["store_index"].to_numpy(dtype=np.int64)
    if len(index) and (index.min() < 0 or index.max() >= len(store)):
        raise SchemaError(store_path, f"manifest points at store rows up to {index.max()}, store has {len(store)}")
    picked = np.asarray(store[index], dtype=np.float32)
    return SliceSet(slices=picked[:, 1], below=picked[:, 0], above=picked[:, 2])


def patient_split(manifest: pd.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION) -> pd.Series:
    """``train`` or ``holdout`` per row, by patient (both scans and every slice of a patient on one side).

    The patient keys are keyed hashes, so taking the lowest keys is a random draw that is the same on every
    run and machine; ``round(fraction * patients)`` patients (at least one when there are two or more) are held out.
    """
    patients = sorted(manifest["patient_key"].unique())
    n_holdout = int(round(holdout_fraction * len(patients)))
    if len(patients) >= 2:
        n_holdout = min(max(n_holdout, 1), len(patients) - 1)
    holdout = set(patients[:n_holdout])
    return manifest["patient_key"].map(lambda key: "holdout" if key in holdout else "train").rename("split")


def select_split(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``split`` (``all``, ``train`` or ``holdout``), keeping the manifest's folder."""
    if split not in SPLITS:
        raise SchemaError(manifest.attrs.get("root"), f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    rows = manifest if split == "all" else manifest[patient_split(manifest) == split]
    rows = rows.copy()
    rows.attrs.update(manifest.attrs)
    return rows
