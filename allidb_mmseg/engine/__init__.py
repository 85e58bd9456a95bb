"""Training-loop parts registered in mmseg's registries, and the runner helpers.

The hooks (HOOKS) and ``DeviceAwareDDP`` (MODEL_WRAPPERS: DDP that also runs
on CPU/gloo) live here, not in our tools, so the configs behave the same when
run by MMSegmentation's own tools through ``custom_imports``.
"""
from .. import compat  # noqa: F401,I001  (before mmseg is imported)
from .ddp import DeviceAwareDDP
from .hooks import PretrainedWeightsNoticeHook, SafeCheckpointHook, TrainingCurvesHook
from .review_hook import ReviewPageHook
from .stain_reference_hook import StainReferenceHook

__all__ = ['DeviceAwareDDP', 'PretrainedWeightsNoticeHook',
           'SafeCheckpointHook', 'TrainingCurvesHook', 'ReviewPageHook',
           'StainReferenceHook']
