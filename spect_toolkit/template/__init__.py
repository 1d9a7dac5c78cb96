"""The toolkit's AC-PC space, its grids, the anatomy that ships with it and the perfusion template."""

from .space import (
    AC_SLICE,
    ANATOMY_GRID,
    CANONICAL_GRID,
    CANONICAL_SPACING_MM,
    LEVEL_CENTRES_MM,
    LEVEL_HALF_WIDTH_MM,
    TERRITORIES,
    Anatomy,
    Grid,
    acpc_to_mni_ras,
    brain_mask_canonical,
    fwhm_to_sigma,
    landmarks_acpc,
    load_anatomy,
    perfusion_template,
    resample_to_grid,
)

__all__ = [
    "AC_SLICE",
    "ANATOMY_GRID",
    "CANONICAL_GRID",
    "CANONICAL_SPACING_MM",
    "LEVEL_CENTRES_MM",
    "LEVEL_HALF_WIDTH_MM",
    "TERRITORIES",
    "Anatomy",
    "Grid",
    "acpc_to_mni_ras",
    "brain_mask_canonical",
    "fwhm_to_sigma",
    "landmarks_acpc",
    "load_anatomy",
    "perfusion_template",
    "resample_to_grid",
]
