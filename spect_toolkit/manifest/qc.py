"""QC montages: every used volume as one row of its selected slices, a page per 20 volumes, for a quick skim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

VOLUMES_PER_PAGE = 20


def write_qc_pages(manifest: pd.DataFrame, store: np.ndarray, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    series = list(dict.fromkeys(manifest.series_key))
    pages = []
    for page, start in enumerate(range(0, len(series), VOLUMES_PER_PAGE), start=1):
        chunk = series[start:start + VOLUMES_PER_PAGE]
        per_volume = max(int((manifest.series_key == s).sum()) for s in chunk)
        fig, axes = plt.subplots(len(chunk), per_volume, figsize=(1.1 * per_volume + 2.2, 1.1 * len(chunk)),
                                 squeeze=False, facecolor="black")
        for r, key in enumerate(chunk):
            rows = manifest[manifest.series_key == key]
            first = rows.iloc[0]
            peak = float(store[rows.store_index.to_numpy(), 1].max()) or 1.0
            for c in range(per_volume):
                ax = axes[r, c]
                ax.set_axis_off()
                if c < len(rows):
                    row = rows.iloc[c]
                    ax.imshow(store[row.store_index, 1], cmap="gray", vmin=0, vmax=peak)
                    if r == 0:
                        ax.set_title(f"{row.level} {row.z_mm:+.0f}", color="white", fontsize=7)
            flag = "" if first.qc_flag == "ok" else f"  QC: {first.qc_flag}"
            axes[r, 0].text(-0.1, 0.5, f"{key[:10]} {first.condition}\n{first.pattern} {first.side}{flag}",
                            transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=6,
                            color="white" if not flag else "orange")
        fig.subplots_adjust(left=0.2, right=0.99, top=0.95, bottom=0.01, wspace=0.02, hspace=0.05)
        path = folder / f"qc_{page:03d}.png"
        fig.savefig(path, dpi=80, facecolor="black")
        plt.close(fig)
        pages.append(path)
    return pages
