"""Synthetic ALL-IDB1-like smear fields with CVAT COCO 1.0 annotations.

ALL-IDB may not be redistributed, so the demo and the tests use these instead:
``render_field`` draws one May-Grunwald-Giemsa-like field, ``make_synthetic`` writes a set
in CVAT's COCO export layout with exact ground-truth masks and ALL-IDB1-style centre files.
"""
from ..converters.cvat_coco import cvat_coco, polygons_to_mask
from .field import render_field
from .stain_profiles import STAIN_PROFILES, StainProfile, get_stain_profile
from .writer import make_synthetic

__all__ = ['make_synthetic', 'render_field', 'polygons_to_mask', 'cvat_coco',
           'STAIN_PROFILES', 'StainProfile', 'get_stain_profile']
