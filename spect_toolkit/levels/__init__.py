"""CER / BG / COR slice selection on the canonical AC-PC grid, each slice with its craniocaudal neighbours."""

from ..vocabulary import LEVELS, parse_levels
from .selection import LevelSlice, level_slices

__all__ = ["LevelSlice", "level_slices", "parse_levels", "LEVELS"]
