"""``generate``: slices for requested conditions from a run's checkpoint, as :class:`~spect_toolkit.samples.Samples`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError
from ..manifest import load_manifest
from ..samples import Samples
from ..vocabulary import SLICE_SHAPE
from . import checkpoint
from .conditions import ConditionSpace
from .model import FastGAN
from .run_folder import RunFolder


def load_generator(
    run_dir: str | Path, epoch: int | str | None = None, average_from: int | None = None
) -> tuple[FastGAN, int]:
    """The run's generator at ``epoch`` (default: the latest saved epoch; ``"best"``: the one ``select-epoch``
    chose), with EMA weights where the run kept them.

    ``average_from``: the generator's weights (its running averages and its normalisation statistics with them)
    averaged over every checkpoint saved from that epoch to ``epoch``, each alike, where the running average weighs
    the latest steps most (docs/gan.md)."""
    run = RunFolder(run_dir)
    if epoch == "best":
        epoch = run.selected_epoch()
    elif isinstance(epoch, str):
        if not epoch.isdigit():
            raise ArgumentError(f"epoch must be a number or 'best', got {epoch!r}")
        epoch = int(epoch)
    config = run.load_config()
    saved = run.saved_epochs()
    if not saved:
        raise SchemaError(run.root, "the run has no epoch checkpoints yet")
    epoch = saved[-1] if epoch is None else epoch
    if epoch not in saved:
        raise SchemaError(run.root, f"no checkpoint for epoch {epoch}; saved: {', '.join(map(str, saved))}")
    gan = FastGAN(config, ConditionSpace(config.levels, config.side_condition))
    first = epoch if average_from is None else average_from  # one checkpoint is its own average
    if first > epoch:
        raise ArgumentError(f"average_from ({average_from}) comes after the epoch sampled ({epoch})")
    if first not in saved:
        listed = ", ".join(map(str, saved))
        raise SchemaError(run.root, f"no checkpoint for epoch {first} to average from; saved: {listed}")
    groups = gan.generator_state()
    stored = [checkpoint.read(run.epoch_checkpoint(e)) for e in saved if first <= e <= epoch]
    checkpoint.assign(checkpoint.averaged(stored, tuple(groups)), groups)
    sample_from_average(gan)
    return gan, epoch


def sample_from_average(gan: FastGAN) -> None:
    """Put the generator's running average (where the run kept one) in place of its weights: what is sampled."""
    for variable, average in zip(gan.generator.trainable_variables, gan.ema):
        variable.assign(average)


def condition_counts(
    space: ConditionSpace, per_condition: int | None = None, like: str | Path | pd.DataFrame | None = None
) -> list[tuple[str, str, int]]:
    """How many slices to make per (level, pattern): ``per_condition`` each, or as many as ``like`` has.

    With ``like``, every pattern gets as many slices as the manifest has of it. Slices at levels the run was not
    trained on are made at the run's own levels, spread evenly: data set B (cortex only) makes all of them at
    COR, as the paper generated "the same number of images as the real ones" for both data sets.
    """
    if (per_condition is None) == (like is None):
        raise ArgumentError("give either a number per condition or a manifest to match")
    if like is None:
        return [(level, pattern, per_condition) for level, pattern in space.conditions]
    manifest = like if isinstance(like, pd.DataFrame) else load_manifest(like)
    counts = manifest.groupby(["level", "pattern"]).size()
    per_pattern = manifest.groupby("pattern").size()
    rows = []
    for pattern in dict.fromkeys(p for _, p in space.conditions):
        at_own = {level: int(counts.get((level, pattern), 0)) for level in space.levels}
        elsewhere = int(per_pattern.get(pattern, 0)) - sum(at_own.values())
        share, extra = divmod(elsewhere, len(space.levels))
        for i, level in enumerate(space.levels):
            rows.append((level, pattern, at_own[level] + share + (i < extra)))
    order = {c: i for i, c in enumerate(space.conditions)}
    return sorted(rows, key=lambda r: order[(r[0], r[1])])


def side_counts(
    space: ConditionSpace, counts: list[tuple[str, str, int]], like: pd.DataFrame | None = None
) -> list[tuple[str, str, str, int]]:
    """``counts`` per (level, pattern, side): a defect's slices shared between left and right as ``like``'s slices
    of that level and pattern are (of that pattern where the level has none, else evenly); ``none`` without
    sides or for normal slices."""
    rows = []
    for level, pattern, n in counts:
        options = space.side_options(pattern)
        if len(options) == 1:
            rows.append((level, pattern, options[0], n))
            continue
        left_share = 0.5
        if like is not None:
            same = like[like["pattern"] == pattern]
            at_level = same[same["level"] == level]
            same = at_level if len(at_level) else same
            left_share = float((same["side"] == "L").mean()) if len(same) else 0.5
        left = int(round(n * left_share))
        rows += [(level, pattern, "L", left), (level, pattern, "R", n - left)]
    return rows


def generate(
    run_dir: str | Path,
    per_condition: int | None = None,
    like=None,
    seed: int = 0,
    epoch: int | str | None = None,
    average_from: int | None = None,
) -> Samples:
    gan, epoch = load_generator(run_dir, epoch, average_from)
    return sample(gan, epoch, per_condition, like, seed, average_from)


def sample(
    gan: FastGAN,
    epoch: int | None,
    per_condition: int | None = None,
    like=None,
    seed: int = 0,
    average_from: int | None = None,
) -> Samples:
    """Slices from a loaded generator (as :func:`load_generator` gives it), per condition or like a manifest;
    ``average_from`` only records what the generator was averaged over."""
    if like is not None and not isinstance(like, pd.DataFrame):
        like = load_manifest(like)
    counts = side_counts(gan.space, condition_counts(gan.space, per_condition, like), like)
    names = np.array([count[:3] for count in counts], dtype=str).reshape(-1, 3)  # level, pattern, side
    levels, patterns, sides = np.repeat(names, [count[3] for count in counts], axis=0).T
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((len(levels), gan.config.latent_dim)).astype(np.float32)
    images = (
        gan.generate(z, gan.space.vectors(levels, patterns, sides))
        if len(levels)
        else np.zeros((0, *SLICE_SHAPE), np.float32)
    )
    if gan.config.mirror_generated:  # as in training (step.mirror_generated), p = 1/2
        flip = (rng.random(len(levels)) < 0.5) & gan.space.mirror_keeps_condition(patterns)
        images[flip] = images[flip][:, :, ::-1]
    return Samples(
        images=images.astype(np.float32),
        level=levels,
        pattern=patterns,
        side=sides if gan.space.sides else None,
        seed=seed,
        config_hash=gan.config.hash,
        epoch=epoch,
        averaged_from=average_from,
    )
