"""Data transforms registered in mmseg.registry.TRANSFORMS."""
from .cache import CachedCompose
from .fast_loading import LoadImageFromFileFast
from .stain import MGGStainJitter, StainNormalize

__all__ = ['CachedCompose', 'LoadImageFromFileFast', 'MGGStainJitter',
           'StainNormalize']
