"""Data transforms registered in mmseg.registry.TRANSFORMS."""
from .cache import CachedCompose
from .fast_loading import LoadImageFromFileFast

__all__ = ['CachedCompose', 'LoadImageFromFileFast']
