"""Build the small anatomy files that ship inside ``spect_toolkit/template/data``.

Run once by a maintainer (needs nilearn and nibabel, which the toolkit itself does not need at run time)::

    python scripts/build_template.py PATH/TO/ArterialAtlas_level2_MNI.nii.gz

Sources:
- grey/white matter probability maps of the MNI ICBM152 2009a symmetric template, as carried inside the nilearn
  wheel (Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
  Institute, McGill University; use, copying and redistribution allowed with the notice kept);
- the level-2 arterial territory atlas of Liu et al., Sci Data 10:74 (2023), (c) 2021 The Johns Hopkins
  University, CC BY-SA 4.0.

Both are resampled once into the toolkit's AC-PC space (see ``spect_toolkit.template``) on a 2 mm grid and
stored as uint8 in one compressed ``.npz``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spect_toolkit.template import ANATOMY_GRID, acpc_to_mni_ras  # noqa: E402


def _sample(image: nib.Nifti1Image, ras_points: np.ndarray, order: int) -> np.ndarray:
    inverse = np.linalg.inv(image.affine)
    ijk = ras_points @ inverse[:3, :3].T + inverse[:3, 3]
    data = np.asarray(image.dataobj)
    return ndimage.map_coordinates(data, ijk.T, order=order, mode="constant", cval=0)


def main(territory_atlas: str) -> None:
    import nilearn

    mni_dir = Path(os.path.dirname(nilearn.__file__)) / "datasets" / "data"
    grid = ANATOMY_GRID
    lps = grid.world_points()  # (z, y, x, 3) in AC-PC LPS mm
    ras = acpc_to_mni_ras(lps.reshape(-1, 3))
    out = {}
    for name in ("gm", "wm"):
        img = nib.load(mni_dir / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
        values = _sample(img, ras, order=1).astype(np.float32)
        scale = 255.0 / float(np.asarray(img.dataobj).max())
        out[name] = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8).reshape(grid.shape)
    labels = _sample(nib.load(territory_atlas), ras, order=0)
    out["territories"] = labels.astype(np.uint8).reshape(grid.shape)
    target = Path(__file__).resolve().parents[1] / "spect_toolkit" / "template" / "data" / "anatomy_acpc_2mm.npz"
    np.savez_compressed(target, **out)
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/arterial_territories/ArterialAtlas_level2_MNI.nii.gz")
