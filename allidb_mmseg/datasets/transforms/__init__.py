"""Data transforms registered in mmseg.registry.TRANSFORMS."""
from .cache import CachedCompose
from .fast_loading import LoadImageFromFileFast
from .other_white_cells import LabelOtherWhiteCells
from .seeded_albu import SeededAlbu
from .stain import MGGStainJitter, StainNormalize
from .working_scale import RescaleToWorkingScale

__all__ = ['CachedCompose', 'LabelOtherWhiteCells', 'LoadImageFromFileFast', 'MGGStainJitter',
           'RescaleToWorkingScale', 'SeededAlbu', 'StainNormalize']
