"""Reading labelled slice manifests and their slice store, with checks; the patient split."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError
from ..vocabulary import PATTERNS, SLICE_SHAPE, SPLIT_NAMES
from .schema import MANIFEST

STORE_NAME = "slices.npy"
SPLITS = ("all", *SPLIT_NAMES)
HOLDOUT_FRACTION = 0.2


def load_table(path: str | Path, schema) -> pd.DataFrame:
    """Read a CSV or Parquet table and check it against ``schema``; errors name the file and the problem.

    CSV files as spreadsheets write them are read: UTF-8 (with or without a byte-order mark), UTF-16 with a
    byte-order mark, or Windows-1252/Latin-1; separated by commas, semicolons or tabs.
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError(path, f"no such {schema.name} file")
    if path.suffix == ".parquet":
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise SchemaError(path, f"not a readable Parquet {schema.name} table: {exc}") from None
    else:
        table = _read_csv(path, schema)
    return schema.validate(table, path)


CSV_SEPARATORS = (",", ";", "\t")


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """The text and the encoding it was read in."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16"
    if b"\x00" in data:
        raise SchemaError(path, "binary data (NUL bytes) where a CSV table was expected")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise SchemaError(path, "text in an unknown encoding")  # pragma: no cover - latin-1 decodes every byte


def _read_csv(path: Path, schema) -> pd.DataFrame:
    import io

    text, _ = _decode(path.read_bytes(), path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SchemaError(path, f"the {schema.name} file is empty")
    header = lines[0]
    # the separator is the one that splits the header into the schema's column names
    counts = {
        sep: sum(name in [c.strip() for c in header.split(sep)] for name in schema.names) for sep in CSV_SEPARATORS
    }
    separator = max(counts, key=counts.get)
    if counts[separator] == 0:
        shown = header if len(header) <= 80 else header[:77] + "..."
        raise SchemaError(
            path,
            f"first line {shown!r} names none of the {schema.name} columns "
            f"({', '.join(schema.names)}) with a comma, semicolon or tab between them",
        )
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise SchemaError(path, f"not a readable CSV {schema.name} table: {exc}") from None
    return table.rename(columns=str.strip)


def load_manifest(path: str | Path) -> pd.DataFrame:
    """Load ``manifest.parquet`` (or ``.csv``), check its schema, and remember its folder for :func:`load_slices`."""
    manifest = load_table(path, MANIFEST)
    manifest.attrs["root"] = str(Path(path).resolve().parent)
    manifest.attrs["path"] = str(Path(path).resolve())
    return manifest


def manifest_source(manifest: pd.DataFrame) -> str | None:
    """What an error about the manifest names: the file it was read from, else the folder its slices are in."""
    return manifest.attrs.get("path", manifest.attrs.get("root"))


@dataclass(frozen=True)
class SliceSet:
    """Slices ``(n, 64, 64)`` float32 in physical units, with their inferior and superior neighbours."""

    slices: np.ndarray
    below: np.ndarray
    above: np.ndarray


def store_digest(store: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of a slice store's values (shape and type included)."""
    array = np.ascontiguousarray(store, dtype=np.float32)
    digest = hashlib.sha256(repr(array.shape).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()[:16]


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten store is hashed anew
    return store_digest(np.load(path, mmap_mode="r"))


def load_slices(manifest: pd.DataFrame, root: str | Path | None = None, mmap: bool = True) -> SliceSet:
    """The slices of ``manifest``'s rows (in row order) from the slice store beside it.

    The store must be the one written with the manifest (its digest is in every row); a store left by another
    ingest, or a manifest from an interrupted one, is refused rather than read as the wrong slices.
    """
    root = Path(root or manifest.attrs.get("root", "."))
    store_path = root / STORE_NAME
    if not store_path.exists():
        raise SchemaError(store_path, "slice store missing beside the manifest")
    try:
        store = np.load(store_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SchemaError(store_path, f"unreadable slice store: {exc}") from None
    if store.ndim != 4 or store.shape[1:] != (3, *SLICE_SHAPE) or store.dtype != np.float32:
        raise SchemaError(
            store_path,
            f"slice store of shape {store.shape} and type {store.dtype}; expected "
            f"(n, 3, {SLICE_SHAPE[0]}, {SLICE_SHAPE[1]}) float32",
        )
    expected = set(manifest["store_digest"].unique()) if len(manifest) else set()
    if expected:
        stat = store_path.stat()
        found = _file_digest(str(store_path), stat.st_size, stat.st_mtime_ns)
        if expected != {found}:
            raise SchemaError(
                store_path,
                f"this slice store (digest {found}) was not written with the manifest "
                f"(digest {', '.join(sorted(expected))}): an interrupted or a second "
                "ingest into the same folder? Run the ingest again",
            )
    index = manifest["store_index"].to_numpy(dtype=np.int64)
    if len(index) and (index.min() < 0 or index.max() >= len(store)):
        raise SchemaError(store_path, f"manifest points at store rows up to {index.max()}, store has {len(store)}")
    picked = np.asarray(store[index], dtype=np.float32)
    finite = np.isfinite(picked).all(axis=(1, 2, 3))
    if not finite.all():
        bad = manifest["slice_id"].to_numpy()[~finite]
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise SchemaError(store_path, f"{len(bad)} slice(s) hold NaN or infinite values: {', '.join(bad[:5])}{more}")
    return SliceSet(slices=picked[:, 1], below=picked[:, 0], above=picked[:, 2])


def write_atomically(path: Path, write) -> None:
    """``write(partial)`` to a hidden file beside ``path``, then rename it: ``path`` is whole or not there."""
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    write(partial)
    os.replace(partial, path)


def write_subset(manifest: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``manifest``'s rows with a slice store of their own (those rows alone) to ``folder``; returns the new
    ``manifest.parquet``.

    A subset travels without the whole ingest's store: a GPU machine that trains on 938 slices needs 46 MB, not
    the store of every slice of the cohort. Rows, their order and the patient keys (so the split) are kept;
    ``store_index`` and ``store_digest`` point at the new store, ``volume_path`` still at the aligned volumes.
    """
    root = Path(manifest.attrs.get("root", "."))
    folder = Path(folder)
    if (folder / STORE_NAME).resolve() == (root / STORE_NAME).resolve():
        raise ArgumentError(f"{folder}: the subset would overwrite the store it is read from")
    picked = load_slices(manifest, root)
    store = np.stack([picked.below, picked.slices, picked.above], axis=1)
    subset = manifest.reset_index(drop=True).copy()
    subset["store_index"] = np.arange(len(subset), dtype=np.int64)
    subset["store_digest"] = store_digest(store)
    subset["volume_path"] = [
        os.path.relpath(root / path, folder.resolve()) for path in subset["volume_path"].astype(str)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.parquet"
    subset = MANIFEST.validate(subset, path)
    write_atomically(folder / STORE_NAME, lambda partial: np.save(partial, store))
    write_atomically(path, lambda partial: subset.to_parquet(partial, index=False))
    return path


def _holdout_count(patients: int, holdout_fraction: float) -> int:
    """``round(fraction * patients)``, at least one and not every patient when there are two or more."""
    n_holdout = int(round(holdout_fraction * patients))
    if patients >= 2:
        n_holdout = min(max(n_holdout, 1), patients - 1)
    return n_holdout


def _sides(manifest: pd.DataFrame, holdout: set[str]) -> pd.Series:
    return manifest["patient_key"].map(lambda key: "holdout" if key in holdout else "train").rename("split")


def patient_split(manifest: pd.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION) -> pd.Series:
    """``train`` or ``holdout`` per row, by patient (both scans and every slice of a patient on one side).

    A manifest with a ``split`` column (written by :func:`stratified_split`) keeps that split. Otherwise the
    patient keys decide: they are keyed hashes, so taking the lowest keys is a random draw that is the same on
    every run and machine; ``round(fraction * patients)`` patients (at least one when there are two or more) are
    held out.
    """
    if "split" in manifest.columns:
        if manifest["split"].isna().any():
            raise SchemaError(
                manifest_source(manifest),
                f"manifest column 'split' is empty in {int(manifest['split'].isna().sum())} row(s); "
                "give every row train or holdout, or drop the column to split by patient key",
            )
        split = manifest["split"].astype(str)
        torn = split.groupby(manifest["patient_key"]).nunique()
        if (torn > 1).any():
            raise SchemaError(
                manifest_source(manifest),
                f"manifest column 'split' puts patient {torn.index[torn > 1][0]} on both sides; "
                "every slice of a patient belongs to one",
            )
        return split.rename("split")
    patients = sorted(manifest["patient_key"].unique())
    holdout = set(patients[: _holdout_count(len(patients), holdout_fraction)])
    return _sides(manifest, holdout)


def patient_strata(manifest: pd.DataFrame) -> pd.Series:
    """Each patient's stratum, ``pattern/side``, indexed by patient key: the worse of the patient's scans
    (bilateral over unilateral over normal) and the side labelled with it."""
    rank = manifest["pattern"].astype(str).map({p: i for i, p in enumerate(PATTERNS)})
    worst = manifest.assign(rank=rank).sort_values(["rank", "side"], ascending=[False, True])
    first = worst.groupby("patient_key", sort=True).head(1).set_index("patient_key")
    return (first["pattern"].astype(str) + "/" + first["side"].astype(str)).sort_index().rename("stratum")


def stratified_split(
    manifest: pd.DataFrame, holdout_fraction: float = HOLDOUT_FRACTION, seed: int | Sequence[int] | None = None
) -> pd.Series:
    """``train`` or ``holdout`` per row, with the held-out patients drawn in proportion from every pattern and
    side (:func:`patient_strata`); as many as :func:`patient_split` holds out.

    A random draw of 18 patients can hold out four right-sided unilateral defects of five where the training
    patients have two of three on the left; the two real samples then differ in left/right ratio by
    themselves, and no generator of the training slices can match the held-out ones. Patients are ordered by
    stratum and, within it, by key (a keyed hash: random, the same on every machine), or with a ``seed`` in an
    order drawn from it, and every ``1 / fraction``-th is held out, so each stratum gives its share, give or
    take one patient. Write the result into the manifest as its ``split`` column; every stage then uses it.
    """
    strata = patient_strata(manifest)
    if seed is not None:  # a seeded shuffle first; the stable sort below keeps it within each stratum
        strata = strata.iloc[np.random.default_rng(seed).permutation(len(strata))]
    order = strata.sort_values(kind="stable").index  # by stratum, then key (the index's order) or the seed's
    share = _holdout_count(len(order), holdout_fraction) / max(len(order), 1)
    # position i is held out where the running count round(i * share) steps up: evenly spaced, exact in total
    steps = np.diff(np.floor(np.arange(len(order) + 1) * share + 0.5)) > 0
    return _sides(manifest, set(order[steps]))


def select_split(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of ``split`` (``all``, ``train`` or ``holdout``), keeping the manifest's folder."""
    if split not in SPLITS:
        raise ArgumentError(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    rows = manifest if split == "all" else manifest[patient_split(manifest) == split]
    rows = rows.copy()
    rows.attrs.update(manifest.attrs)
    return rows
