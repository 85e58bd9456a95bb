"""The dataset class and data transforms, registered in mmseg's registries."""
from .. import compat  # noqa: F401,I001  (before mmseg is imported)
from .allidb import ALLIDBDataset
from .transforms import CachedCompose, LoadImageFromFileFast, RescaleToWorkingScale

__all__ = ['ALLIDBDataset', 'CachedCompose', 'LoadImageFromFileFast', 'RescaleToWorkingScale']
