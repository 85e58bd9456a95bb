"""Model parts registered in mmseg.registry.MODELS."""
from .. import compat  # noqa: F401,I001  (before mmseg is imported)
from .background_subclass_head import BackgroundSubclassHead, merge_into_background
from .fused_head import FusedSegformerHead, set_fused_head
from .fused_mit import (FusedEfficientMultiheadAttention,
                        FusedMixVisionTransformer, set_fused_attention)

__all__ = ['BackgroundSubclassHead', 'FusedSegformerHead', 'FusedEfficientMultiheadAttention',
           'FusedMixVisionTransformer', 'merge_into_background', 'set_fused_attention', 'set_fused_head']
