"""Small helpers every part of the package and every tool share.

Light on purpose (numpy and the standard library; cv2 only when an image is
written or shrunk): tools import it before anything heavy.
"""
from . import errors, fileio, images
from .errors import *  # noqa: F401,F403
from .fileio import *  # noqa: F401,F403
from .images import *  # noqa: F401,F403

__all__ = errors.__all__ + fileio.__all__ + images.__all__
