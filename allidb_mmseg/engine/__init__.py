"""Training-loop parts registered in mmseg's registries.

- ``TrainingCurvesHook`` and ``PretrainedWeightsNoticeHook`` (HOOKS),
- ``DeviceAwareDDP`` (MODEL_WRAPPERS): DDP that also runs on CPU/gloo,
- ``PerClassIoUMetric`` (METRICS): IoUMetric that also returns per-class values.

They live here, not in our tools, so the configs behave the same when run by
MMSegmentation's own tools through ``custom_imports``.
"""
from .ddp import DeviceAwareDDP
from .hooks import PretrainedWeightsNoticeHook, TrainingCurvesHook
from .metrics import PerClassIoUMetric

__all__ = ['DeviceAwareDDP', 'PerClassIoUMetric',
           'PretrainedWeightsNoticeHook', 'TrainingCurvesHook']
