"""``train``: a run folder from a manifest, with checkpoints, a loss log, TensorBoard and sample grids."""

from __future__ import annotations

import csv
import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError, SpectError
from ..manifest import load_manifest, load_slices, manifest_source, select_split
from ..progress import progress_bar
from ..vocabulary import SLICE_SHAPE
from . import checkpoint
from .conditions import ConditionSpace
from .config import GanConfig
from .model import LOSS_NAMES, FastGAN, TrainingSet
from .run_folder import RunFolder
from .threads import configure_threads

LOSS_COLUMNS = ("epoch", "step", *LOSS_NAMES, "images_per_s", "seconds")
GRID_COLUMNS = 8
# Every variable, for --resume, is written at each kept epoch and otherwise at most this often. Written and synced
# every epoch (29 MB for the paper preset) it cost an H100 about 0.15 s an epoch, where an epoch of data set B
# trains in 0.25 s (B's 1000 epochs: about 8.5 min, 5.6 without). A killed run loses at most this much training.
LAST_CHECKPOINT_SECONDS = 60.0


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    config: GanConfig
    epochs_done: int
    steps: int
    seconds: float
    stopped_by_budget: bool
    note: str | None = None  # said when resume fell back to the previous checkpoint


def training_set(manifest: pd.DataFrame, levels, sides: bool = False) -> tuple[TrainingSet, ConditionSpace]:
    """The manifest's slices at ``levels`` (those the manifest has), max-normalised, with their conditions (and
    with ``sides`` the side of each defect in them)."""
    rows = manifest[manifest["level"].isin(levels)]
    if rows.empty:
        raise SchemaError(manifest_source(manifest), f"the manifest has no slices at {', '.join(levels)}")
    space = ConditionSpace.from_levels(rows["level"], sides)
    if sides:  # a defect without its side cannot be conditioned on it; name the slices before any loading
        unsided = [
            side not in space.side_options(pattern) for pattern, side in zip(rows["pattern"], rows["side"].astype(str))
        ]
        if any(unsided):
            first = rows[unsided].iloc[0]
            raise SchemaError(
                manifest_source(manifest),
                f"the side condition needs each defect's side (L or R) and each normal slice's none; {sum(unsided)} "
                f"slice(s) do not have it (first: {first['slice_id']}, {first['pattern']} with side "
                f"{first['side']}); correct the labels' side column, or train without --side-condition",
            )
    store = load_slices(rows, root=manifest.attrs.get("root"))
    data = TrainingSet.from_arrays(
        store.slices, store.below, store.above, rows["level"], rows["pattern"], space, rows["side"]
    )
    return data, space


def train(
    manifest: str | Path | pd.DataFrame,
    run_dir: str | Path,
    config: GanConfig | None = None,
    resume: bool = False,
    time_budget_minutes: float | None = None,
    show_progress: bool = False,
    mode: str = "auto",
) -> TrainResult:
    """Train (or, with ``resume``, continue) a conditional FastGAN on ``manifest``'s slices in ``run_dir``."""
    run = RunFolder(run_dir)
    last = run.last_checkpoint
    resumed, note = None, None
    if resume:
        resumed, note = _resume_point(run)
        stored = run.load_config()
        config = dataclasses.replace(stored, epochs=config.epochs if config else stored.epochs)
        if config.epochs <= resumed.epoch:
            raise ArgumentError(
                f"{run.root}: the run has done {resumed.epoch} epochs; give --epochs more than that to continue"
            )
    elif last.exists():
        raise SchemaError(run.root, "this folder already holds a run; pass --resume or choose another folder")
    config = config or GanConfig()
    table = manifest if isinstance(manifest, pd.DataFrame) else load_manifest(manifest)
    data, space = training_set(select_split(table, config.split), config.levels, config.side_condition)
    config = dataclasses.replace(config, levels=space.levels)

    if keras.backend.backend() == "tensorflow":
        configure_threads(config.batch_size)  # before TensorFlow's first op, or not at all
    gan = FastGAN(config, space, data, mode=mode)
    start_epoch = checkpoint.assign(resumed, gan.state()) if resumed else 0
    run.save_config(config)  # only now: a resume that cannot load leaves the run folder as it was
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    log = _LossLog(run.losses, keep_through=start_epoch)
    tensorboard = _TensorBoard(run.tensorboard)
    fixed_z = np.random.default_rng(config.seed).standard_normal((GRID_COLUMNS, config.latent_dim)).astype(np.float32)

    began, epoch, stopped = time.perf_counter(), start_epoch, False
    last_saved = began
    budget = None if time_budget_minutes is None else 60.0 * time_budget_minutes
    deadline = None if budget is None else time.time() + budget
    with progress_bar(
        f"train {config.preset}", total=config.epochs, enabled=show_progress, deadline=deadline
    ) as advance:
        advance(start_epoch)
        for epoch in range(start_epoch + 1, config.epochs + 1):
            t0, losses, remaining = time.perf_counter(), np.zeros(len(LOSS_NAMES)), steps_per_epoch
            gan.set_learning_rate(*config.learning_rates_at(epoch))
            while remaining:
                count = min(config.steps_per_call, remaining)
                values = gan.train_steps(count)
                if not np.isfinite(values).all():
                    step = gan.steps_done
                    raise TrainingDiverged(
                        f"{run.root}: a loss became NaN or infinite in epoch {epoch}, steps {step - count + 1} to "
                        f"{step} ({dict(zip(LOSS_NAMES, values.round(4).tolist()))}); nothing of this epoch was "
                        f"saved, checkpoints/last.npz holds epoch {epoch - 1}"
                    )
                losses += values * count
                remaining -= count
            seconds = time.perf_counter() - t0
            row = dict(
                zip(LOSS_NAMES, losses / steps_per_epoch),
                epoch=epoch,
                step=gan.steps_done,
                images_per_s=steps_per_epoch * config.batch_size / seconds,
                seconds=seconds,
            )
            log.append(row)
            tensorboard.scalars(row)
            stopped = budget is not None and time.perf_counter() - began + seconds > budget and epoch < config.epochs
            kept = epoch % config.checkpoint_every == 0 or epoch == config.epochs or stopped
            if kept:
                checkpoint.save(run.epoch_checkpoint(epoch), gan.generator_state(), epoch)
                grid = _sample_grid(gan, space, fixed_z)
                tensorboard.image(_save_grid_png(grid, space, run.sample_grid(epoch), epoch), epoch)
            if kept or time.perf_counter() - last_saved >= LAST_CHECKPOINT_SECONDS:
                checkpoint.save(last, gan.state(), epoch, keep_previous=True)
                last_saved = time.perf_counter()
            advance(1, info=f"{row['images_per_s']:.0f} img/s")  # losses: losses.csv, TensorBoard
            if stopped:
                break
    tensorboard.close()
    return TrainResult(run.root, config, epoch, gan.steps_done, time.perf_counter() - began, stopped, note)


class TrainingDiverged(SpectError):
    """Training produced a non-finite loss; the run folder keeps the last good epoch."""


def _resume_point(run: RunFolder) -> tuple[checkpoint.Checkpoint, str | None]:
    """The checkpoint to resume from: ``last.npz``, or the one it replaced when it is damaged (with a note)."""
    if not run.last_checkpoint.exists() and not checkpoint.previous(run.last_checkpoint).exists():
        raise SchemaError(run.root, "nothing to resume: no checkpoints/last.npz")
    try:
        return checkpoint.read(run.last_checkpoint), None
    except SchemaError as damaged:
        fallback = checkpoint.previous(run.last_checkpoint)
        if not fallback.exists():
            raise
        ckpt = checkpoint.read(fallback)
        note = f"{damaged}; resuming from {fallback.name} (epoch {ckpt.epoch}) instead"
        warnings.warn(note, stacklevel=3)
        return ckpt, note


def _sample_grid(gan: FastGAN, space: ConditionSpace, z: np.ndarray) -> np.ndarray:
    """(conditions, columns, 64, 64) images in [0, 1] from the same latent vectors for every condition; with
    sides, a defect's columns alternate left and right."""
    conditions = space.conditions
    levels, patterns = (np.repeat(names, len(z)) for names in zip(*conditions))
    sides = []
    for _, pattern in conditions:
        options = space.side_options(pattern)
        sides += [options[column % len(options)] for column in range(len(z))]
    vectors = space.vectors(levels, patterns, sides)
    images = gan.generate(np.tile(z, (len(conditions), 1)), vectors)
    return images.reshape(len(conditions), len(z), *SLICE_SHAPE)


def _save_grid_png(grid: np.ndarray, space: ConditionSpace, path: Path, epoch: int) -> bytes:
    """The grid as one image, a row per (level, pattern): one axes rather than one per slice, which took matplotlib
    most of a second at every kept epoch. Returns the PNG written."""
    from io import BytesIO

    from matplotlib.figure import Figure

    rows, cols = grid.shape[:2]
    size = SLICE_SHAPE[0] + 1  # a one-pixel white gap between slices
    mosaic = np.ones((rows * size - 1, cols * size - 1), np.float32)
    for r in range(rows):
        for c in range(cols):
            mosaic[r * size : r * size + SLICE_SHAPE[0], c * size : c * size + SLICE_SHAPE[1]] = grid[r, c]
    width, label, title = cols * 0.8, 0.6, 0.3  # inches: the slices, the row labels, the title
    height = width * rows / cols
    fig = Figure(figsize=(width + label, height + title))
    axes = fig.add_axes((label / (width + label), 0.0, width / (width + label), height / (height + title)))
    axes.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([r * size + SLICE_SHAPE[0] / 2 for r in range(rows)])

    def label(level: str, pattern: str) -> str:
        options = space.side_options(pattern)
        return f"{level}\n{pattern}" + (f"\n{', '.join(options)}, ..." if len(options) > 1 else "")

    axes.set_yticklabels([label(*condition) for condition in space.conditions], fontsize=6)
    axes.tick_params(length=0)
    fig.suptitle(f"epoch {epoch} (patient's left on the image's right)", fontsize=7, y=1 - 0.1 / (height + title))
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    png = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return png


class _LossLog:
    """``losses.csv``, one row per epoch; on resume, rows after the resumed checkpoint are dropped."""

    def __init__(self, path: Path, keep_through: int):
        self.path = path
        kept = []
        if keep_through and path.exists():
            with open(path, newline="") as handle:
                kept = [r for r in csv.DictReader(handle) if int(r["epoch"]) <= keep_through]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, LOSS_COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def append(self, row: dict) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, LOSS_COLUMNS).writerow({k: row[k] for k in LOSS_COLUMNS})


class _TensorBoard:
    """Event files for TensorBoard, written by the ``tensorboard`` package's own writer where it is installed (it
    comes with TensorFlow); nothing without it (losses.csv and the sample grids hold the same).

    Not with ``tf.summary``: its ops, run between the epochs in the training process, changed the training's
    arithmetic from the second epoch on, by Python's hash seed (two runs of one seed parted; docs/gan.md). This
    writer is plain Python and protocol buffers and touches no TensorFlow runtime."""

    def __init__(self, folder: Path):
        self.writer = None
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            return
        self.event, self.summary = event_pb2.Event, summary_pb2.Summary
        self.writer = EventFileWriter(str(folder))

    def _write(self, step: int, values: list) -> None:
        self.writer.add_event(self.event(wall_time=time.time(), step=step, summary=self.summary(value=values)))

    def scalars(self, row: dict) -> None:
        if self.writer is None:
            return
        names = (*LOSS_NAMES, "images_per_s")
        self._write(row["epoch"], [self.summary.Value(tag=name, simple_value=float(row[name])) for name in names])

    def image(self, png: bytes, epoch: int) -> None:
        """The sample grid as saved (the PNG's bytes), under the tag ``samples``."""
        if self.writer is None:
            return
        width, height = (int.from_bytes(png[offset : offset + 4], "big") for offset in (16, 20))  # IHDR
        image = self.summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
        self._write(epoch, [self.summary.Value(tag="samples", image=image)])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
