"""Data transforms registered in mmseg.registry.TRANSFORMS."""
from .cache import CachedCompose
from .fast_loading import LoadImageFromFileFast
from .working_scale import RescaleToWorkingScale

__all__ = ['CachedCompose', 'LoadImageFromFileFast', 'RescaleToWorkingScale']
