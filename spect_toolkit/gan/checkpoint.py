"""Checkpoints as plain ``.npz`` files of every variable, written atomically (temporary file, then rename), so the
last checkpoint is always whole even when the process is killed while writing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import SchemaError


def save(path: Path, groups: dict[str, list], epoch: int) -> None:
    arrays = {f"{group}/{i:04d}": np.asarray(v) for group, variables in groups.items() for i, v in enumerate(variables)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, epoch=np.int64(epoch), **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load(path: Path, groups: dict[str, list]) -> int:
    """Assign the stored values to ``groups``' variables (shapes checked); returns the checkpoint's epoch."""
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise SchemaError(path, f"cannot read checkpoint: {exc}") from None
    with data:
        for group, variables in groups.items():
            stored = sorted(k for k in data.files if k.startswith(group + "/"))
            if len(stored) != len(variables):
                raise SchemaError(
                    path,
                    f"checkpoint holds {len(stored)} {group} variables, the model has "
                    f"{len(variables)}: was it written with another configuration?",
                )
            for key, variable in zip(stored, variables):
                value = data[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise SchemaError(path, f"{key} has shape {value.shape}, the model expects {variable.shape}")
                variable.assign(value)
        return int(data["epoch"])
