"""Reading images and slides, writing masks: the ground floor (imports only ``utils``)."""
from .image_io import LARGE_IMAGE_PIXELS, ImageReadError, read_image, to_bgr8
from .slides import is_slide, open_slide

__all__ = ['LARGE_IMAGE_PIXELS', 'ImageReadError', 'read_image', 'to_bgr8',
           'is_slide', 'open_slide']
