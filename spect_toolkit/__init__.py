"""spect-toolkit: synthetic brain perfusion SPECT research, from hospital DICOM export to evaluated GAN slices."""

__version__ = "0.2.0"
