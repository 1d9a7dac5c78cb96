"""The report's figures (matplotlib, returned as PNG bytes): whiskers (paper Fig. 5), mean and SD maps (Fig. 6),
examples (Fig. 4), the memorisation audit."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..vocabulary import LEVELS, PATTERNS
from .measures import normalise

LABELS = {"mc": "mean count in brain (MC)", "sd": "pixel SD in brain", "lr": "left / right ratio (LR)"}


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def subplots(rows: int, cols: int, figsize: tuple[float, float]):
    """A figure and its (rows, cols) axes, drawn without pyplot: no global state, no backend to choose."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, squeeze=False)


def group_label(name: str, width: int = 16) -> str:
    """A group's name as a tick label: broken after its ``+``s into lines of about ``width`` characters, so that
    a variant's long name stays under its own box."""
    lines = [""]
    for part in name.split("+"):
        piece = part if not lines[-1] else "+" + part
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def whiskers(table: pd.DataFrame, groups: list[str], measures=("mc", "sd", "lr")) -> bytes:
    fig, axes = subplots(len(measures), len(PATTERNS), figsize=(3.2 * len(PATTERNS), 2.8 * len(measures)))
    for r, measure in enumerate(measures):
        for c, pattern in enumerate(PATTERNS):
            ax = axes[r, c]
            data = [table.loc[(table.group == g) & (table.pattern == pattern), measure].dropna() for g in groups]
            ax.boxplot(data, whis=(0, 100), widths=0.6)  # whiskers at min and max, as the paper's plots
            ax.set_xticks(range(1, len(groups) + 1), [group_label(g) for g in groups], fontsize=8)
            ax.set_title(f"{pattern}", fontsize=9)
            if c == 0:
                ax.set_ylabel(LABELS[measure], fontsize=8)
    fig.tight_layout()
    return png(fig)


def maps(images_by_group: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """Pixel-wise mean and SD of max-normalised slices per level and pattern (rows), group (columns), with colour
    bars; a level a group does not model is marked as such."""
    groups = list(images_by_group)
    cells = sorted(
        {(str(lv), str(pt)) for _, levels, patterns in images_by_group.values() for lv, pt in zip(levels, patterns)},
        key=lambda c: (LEVELS.index(c[0]), PATTERNS.index(c[1])),
    )
    fig, axes = subplots(len(cells), 2 * len(groups), figsize=(1.6 * 2 * len(groups) + 0.9, 1.55 * len(cells) + 0.5))
    shown = {}
    for r, (level, pattern) in enumerate(cells):
        for g, group in enumerate(groups):
            images, levels, patterns = images_by_group[group]
            chosen = (levels == level) & (patterns == pattern)
            for k, vmax in enumerate((1.0, 0.3)):
                ax = axes[r, k * len(groups) + g]
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{'SD' if k else 'mean'}: {group}", fontsize=8)
                if not chosen.any():
                    note = "level not modelled" if level not in set(levels) else "no slices"
                    ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=6, transform=ax.transAxes, color="0.4")
                    continue
                stack = normalise(images[chosen])
                shown[k] = ax.imshow(
                    stack.std(0) if k else stack.mean(0), cmap="magma" if k else "gray", vmin=0, vmax=vmax
                )
        axes[r, 0].set_ylabel(f"{level}\n{pattern}", fontsize=8)
    for k, label in ((0, "mean, fraction of slice max"), (1, "SD, fraction of slice max")):
        if k in shown:  # under its own columns, where it covers no image and no other bar's label
            columns = axes[:, k * len(groups) : (k + 1) * len(groups)].ravel().tolist()
            bar = fig.colorbar(shown[k], ax=columns, location="bottom", fraction=0.02, pad=0.015, aspect=25)
            bar.set_label(label, fontsize=7)
            bar.ax.tick_params(labelsize=6)
    fig.suptitle(
        "pixel-wise mean and SD of slices normalised to their maximum; patient's left on the image's right",
        fontsize=8,
        y=0.91,
    )
    return png(fig)


def examples(groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], per_cell: int = 3, seed: int = 0) -> bytes:
    """Rows: level x pattern; columns: ``per_cell`` slices of each group."""
    rng = np.random.default_rng(seed)
    names = list(groups)
    cells = sorted(
        {(lv, pt) for _, levels, patterns in groups.values() for lv, pt in zip(levels, patterns)},
        key=lambda c: (LEVELS.index(c[0]), PATTERNS.index(c[1])),
    )
    fig, axes = subplots(
        len(cells), per_cell * len(names), figsize=(0.95 * per_cell * len(names), 1.0 * len(cells) + 0.3)
    )
    for r, (level, pattern) in enumerate(cells):
        for g, name in enumerate(names):
            images, levels, patterns = groups[name]
            index = np.flatnonzero((levels == level) & (patterns == pattern))
            picked = rng.choice(index, min(per_cell, len(index)), replace=False) if len(index) else []
            for k in range(per_cell):
                ax = axes[r, g * per_cell + k]
                ax.set_xticks([]), ax.set_yticks([])
                if k < len(picked):
                    ax.imshow(normalise(images[picked[k]][None])[0], cmap="gray", vmin=0, vmax=1)
                elif k == 0:  # say why the cell is empty instead of leaving white boxes
                    note = "level not\nmodelled" if level not in set(levels) else "none"
                    ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=6, color="0.4", transform=ax.transAxes)
                if r == 0 and k == 0:  # wrapped to the group's columns: a long variant name would widen the figure
                    ax.set_title(group_label(name, width=int(11 * per_cell)), fontsize=8, loc="left")
        axes[r, 0].set_ylabel(f"{level}\n{pattern}", fontsize=7)
    fig.tight_layout(pad=0.2)
    return png(fig)


def memorisation(audit: dict, synthetic: np.ndarray, train: np.ndarray, name: str, pairs: int = 6) -> bytes:
    fig = Figure(figsize=(9, 3.6))
    ax = fig.add_axes([0.06, 0.15, 0.36, 0.75])
    bins = np.linspace(0, max(audit["synthetic_distance"].max(), audit["holdout_distance"].max()), 40)
    ax.hist(audit["holdout_distance"], bins, alpha=0.6, density=True, label="held-out real")
    ax.hist(audit["synthetic_distance"], bins, alpha=0.6, density=True, label=name)
    ax.axvline(audit["threshold"], color="k", ls="--", lw=1, label="1st percentile, real")
    ax.set_xlabel("distance to nearest training slice", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.legend(fontsize=7)
    closest = np.argsort(audit["synthetic_distance"])[:pairs]
    for k, i in enumerate(closest):
        for row, image in enumerate((synthetic[i], train[audit["synthetic_nearest"][i]])):
            sub = fig.add_axes([0.46 + k * 0.09, 0.52 - row * 0.42, 0.085, 0.38])
            sub.imshow(normalise(image[None])[0], cmap="gray", vmin=0, vmax=1)
            sub.set_xticks([]), sub.set_yticks([])
            if k == 0:
                sub.set_ylabel("synthetic" if row == 0 else "nearest train", fontsize=7)
            if row == 0:
                sub.set_title(f"d={audit['synthetic_distance'][i]:.2f}", fontsize=7)
    return png(fig)


def over_epochs(runs: dict[str, pd.DataFrame]) -> bytes:
    """Each run's measures over its epochs (tables of :func:`~.trajectory.measures_over_epochs`): Frechet
    distance, two-sample AUC with its 95 % interval, and the paper's MC and LR P values per pattern, with
    P = 0.05 marked (above the line: not told from real)."""
    fig, axes = subplots(2, 2, figsize=(11, 7.5))
    (frechet, auc), (mc, lr) = axes
    styles = dict(zip(PATTERNS, ("-", "--", ":")))
    for i, (name, table) in enumerate(runs.items()):
        colour = f"C{i}"
        frechet.plot(table.epoch, table.frechet_distance, color=colour, label=name)
        auc.plot(table.epoch, table.two_sample_auc, color=colour, label=name)
        auc.fill_between(table.epoch, table.auc_low, table.auc_high, color=colour, alpha=0.2, linewidth=0)
        for ax, measure in ((mc, "mc"), (lr, "lr")):
            for pattern, style in styles.items():
                ax.plot(
                    table.epoch,
                    table[f"{measure}_p_{pattern}"].clip(lower=1e-16),
                    color=colour,
                    linestyle=style,
                )
    frechet.set(ylabel="Frechet distance to real", yscale="log")
    auc.set(ylabel="two-sample AUC (0.5: indistinguishable)", ylim=(0.45, 1.02))
    for ax, measure in ((mc, "MC"), (lr, "LR")):
        ax.set(ylabel=f"{measure}: Dunnett P against real", yscale="log", ylim=(1e-16, 2))
        ax.axhline(0.05, color="grey", linewidth=0.8)
        for pattern, style in styles.items():  # the runs' colours are keyed in the panels above
            ax.plot([], [], color="black", linestyle=style, label=pattern)
    for ax in axes.ravel():
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return png(fig)
