"""Model parts registered in mmseg.registry.MODELS."""
from .fused_mit import (FusedEfficientMultiheadAttention,
                        FusedMixVisionTransformer, set_fused_attention)

__all__ = ['FusedEfficientMultiheadAttention', 'FusedMixVisionTransformer',
           'set_fused_attention']
