"""DICOM input: index an export (:func:`scan`) and read SPECT series with correct geometry (:func:`read_volume`)."""

from .reader import describe_series, read_header, read_volume
from .scan import SERIES_INDEX, scan
from .volume import SeriesInfo, Volume

__all__ = ["scan", "read_volume", "read_header", "describe_series", "Volume", "SeriesInfo", "SERIES_INDEX"]
