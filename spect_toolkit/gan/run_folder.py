"""The run folder, owned here alone: what ``spect train`` writes and ``generate``, ``select-epoch`` and the
evaluation read.

    config.json             the configuration (with its hash)
    losses.csv              one row per epoch
    checkpoints/last.npz    every variable, for --resume
    checkpoints/epoch_NNNN.npz  the generator (and its EMA) at kept epochs
    samples/epoch_NNNN.png  a sample grid per kept epoch
    tensorboard/            scalars and sample images
    selected_epoch.json     the epoch chosen by a measured criterion (spect select-epoch)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SchemaError
from .config import GanConfig

_EPOCH_FILE = re.compile(r"epoch_(\d+)\.npz$")


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def losses(self) -> Path:
        return self.root / "losses.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.npz"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def selection(self) -> Path:
        return self.root / "selected_epoch.json"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.npz"

    def sample_grid(self, epoch: int) -> Path:
        return self.root / "samples" / f"epoch_{epoch:04d}.png"

    def saved_epochs(self) -> list[int]:
        """Epochs with a generator checkpoint, ascending."""
        return sorted(
            int(m.group(1)) for p in self.checkpoints.glob("epoch_*.npz") if (m := _EPOCH_FILE.search(p.name))
        )

    def load_config(self) -> GanConfig:
        return GanConfig.load(self.config_path)

    def save_config(self, config: GanConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config.save(self.config_path)

    def selected_epoch(self) -> int:
        """The epoch ``spect select-epoch`` recorded."""
        if not self.selection.exists():
            raise SchemaError(self.root, "no epoch selected yet: run spect select-epoch first")
        try:
            return int(json.loads(self.selection.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SchemaError(self.selection, f"unreadable epoch selection: {exc}") from None

    def save_selection(self, selection: dict) -> None:
        self.selection.write_text(json.dumps(selection, indent=2) + "\n")
