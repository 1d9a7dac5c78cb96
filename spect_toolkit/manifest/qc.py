"""QC montages: every used volume as one row of its selected slices, a page per 20 volumes, for a quick skim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

VOLUMES_PER_PAGE = 20


def _mosaic(manifest: pd.DataFrame, store: np.ndarray, series: list[str]) -> tuple[np.ndarray, list[pd.DataFrame]]:
    """One row of 64x64 tiles per volume, each volume scaled to its own maximum."""
    groups = [manifest[manifest.series_key == key] for key in series]
    width = max(len(g) for g in groups)
    mosaic = np.zeros((64 * len(groups), 64 * width), np.float32)
    for r, rows in enumerate(groups):
        tiles = store[rows.store_index.to_numpy(), 1]
        tiles = tiles / max(float(tiles.max()), 1e-6)
        for c, tile in enumerate(tiles):
            mosaic[64 * r : 64 * (r + 1), 64 * c : 64 * (c + 1)] = tile
    return mosaic, groups


def write_qc_pages(manifest: pd.DataFrame, store: np.ndarray, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    series = list(dict.fromkeys(manifest.series_key))
    pages = []
    for page, start in enumerate(range(0, len(series), VOLUMES_PER_PAGE), start=1):
        mosaic, groups = _mosaic(manifest, store, series[start : start + VOLUMES_PER_PAGE])
        height, width = mosaic.shape
        fig = Figure(figsize=(width / 64 * 1.0 + 2.4, height / 64 * 1.0 + 0.4), facecolor="black")
        ax = fig.add_axes([2.4 / (width / 64 + 2.4), 0.0, 1 - 2.4 / (width / 64 + 2.4), height / (height + 25.6)])
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        for c, (_, row) in enumerate(groups[0].iterrows()):
            ax.text(64 * c + 32, -4, f"{row.level} {row.z_mm:+.0f} mm", color="white", fontsize=7, ha="center")
        # radiological view: the patient's right on the image's left (marked on the first tile)
        ax.text(2, 8, "R", color="yellow", fontsize=6, ha="left", va="center")
        ax.text(61, 8, "L", color="yellow", fontsize=6, ha="right", va="center")
        for r, rows in enumerate(groups):
            first = rows.iloc[0]
            flagged = first.qc_flag != "ok"
            label = f"{first.series_key[:10]} {first.condition}\n{first.pattern} {first.side}"
            ax.text(
                -6,
                64 * r + 32,
                label + (f"\nQC: {first.qc_flag[:40]}" if flagged else ""),
                fontsize=6,
                color="orange" if flagged else "white",
                ha="right",
                va="center",
            )
        fig.suptitle(
            "each row: one volume's selected slices, z in mm from the AC-PC plane; scaled to the volume's maximum; "
            "R = patient's right",
            color="white",
            fontsize=6,
            y=0.999,
        )
        path = folder / f"qc_{page:03d}.png"
        fig.savefig(path, dpi=80, facecolor="black", bbox_inches="tight", pad_inches=0.05)
        pages.append(path)
    return pages
