"""Checkpoints as plain ``.npz`` files of every variable, written atomically (temporary file, then rename), so the
last checkpoint is always whole even when the process is killed while writing. A checkpoint is read and checked
whole (readable, every variable present with its shape, finite) before any variable is assigned, so a damaged
file never leaves a model half loaded."""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SchemaError


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    epoch: int
    arrays: dict[str, np.ndarray]


def previous(path: Path) -> Path:
    """Where :func:`save` keeps the checkpoint it replaces (``last.npz`` -> ``last.previous.npz``)."""
    return path.with_name(path.stem + ".previous" + path.suffix)


def save(path: Path, groups: dict[str, list], epoch: int, keep_previous: bool = False) -> None:
    """Write every variable of ``groups`` to ``path``; with ``keep_previous`` the old file becomes
    :func:`previous`, a fallback should the new one ever be damaged."""
    arrays = {f"{group}/{i:04d}": _value(v) for group, variables in groups.items() for i, v in enumerate(variables)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, epoch=np.int64(epoch), **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    if keep_previous and path.exists():
        os.replace(path, previous(path))
    os.replace(tmp, path)


def _value(variable) -> np.ndarray:
    """A variable's value as an array: a Keras or TensorFlow variable's ``numpy()``, or the array itself."""
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)


def read(path: Path) -> Checkpoint:
    """Every array of a checkpoint, checked readable and finite; :class:`SchemaError` naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(path, "checkpoint missing")
    if path.stat().st_size == 0:
        raise SchemaError(path, "checkpoint is an empty file (0 bytes): the run was killed while creating it?")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise SchemaError(path, f"damaged checkpoint, not a readable .npz ({type(exc).__name__}: {exc})") from None
    if "epoch" not in arrays:
        raise SchemaError(path, "not a checkpoint of this toolkit: no epoch recorded")
    for key, value in arrays.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise SchemaError(path, f"checkpoint variable {key} holds NaN or infinite values")
    return Checkpoint(path, int(arrays.pop("epoch")), arrays)


def assign(checkpoint: Checkpoint, groups: dict[str, list]) -> int:
    """Assign a checkpoint's values to ``groups``' variables after checking every count and shape; its epoch."""
    plan = []
    for group, variables in groups.items():
        stored = sorted(k for k in checkpoint.arrays if k.startswith(group + "/"))
        if len(stored) != len(variables):
            raise SchemaError(
                checkpoint.path,
                f"checkpoint holds {len(stored)} {group} variables, the model has "
                f"{len(variables)}: was it written with another configuration?",
            )
        for key, variable in zip(stored, variables):
            value = checkpoint.arrays[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise SchemaError(checkpoint.path, f"{key} has shape {value.shape}, the model expects {variable.shape}")
            plan.append((variable, value))
    for variable, value in plan:
        variable.assign(value)
    return checkpoint.epoch


def averaged(checkpoints: list[Checkpoint], groups: tuple[str, ...]) -> Checkpoint:
    """The mean of ``groups``' floating-point arrays over ``checkpoints`` (the weights of one run at several
    epochs: Izmailov et al.'s stochastic weight averaging, here over saved checkpoints); every other array and
    the epoch are the last checkpoint's. The checkpoints must hold the same arrays with the same shapes."""
    if not checkpoints:
        raise ValueError("no checkpoints to average")
    last = checkpoints[-1]
    keys = sorted(k for k in last.arrays if k.split("/")[0] in groups and last.arrays[k].dtype.kind == "f")
    for other in checkpoints[:-1]:
        for key in keys:
            if key not in other.arrays or other.arrays[key].shape != last.arrays[key].shape:
                raise SchemaError(
                    other.path, f"{key} does not match {last.path.name}'s: not the same run's checkpoints?"
                )
    arrays = dict(last.arrays)
    for key in keys:
        mean = np.mean([c.arrays[key].astype(np.float64) for c in checkpoints], axis=0)
        arrays[key] = mean.astype(last.arrays[key].dtype)
    return Checkpoint(last.path, last.epoch, arrays)


def load(path: Path, groups: dict[str, list]) -> int:
    """Read ``path`` and assign its values to ``groups``' variables; returns the checkpoint's epoch."""
    return assign(read(path), groups)
