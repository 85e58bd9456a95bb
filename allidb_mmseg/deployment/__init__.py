"""Deployment: an ONNX export of the segmentor and a runtime without torch.

``export_onnx`` (torch, mmseg) writes ``model.onnx`` and its JSON sidecar; the
runtime (:class:`OnnxSegmentor`) needs only onnxruntime, OpenCV and numpy.
Importing this package imports neither torch nor onnxruntime.
"""
from ..utils.lazy import lazy_attributes
from .sidecar import DeploySpec, read_sidecar, sidecar_path, write_sidecar
from .runtime import OnnxSegmentor, load_onnx_model

__all__ = ['DeploySpec', 'read_sidecar', 'sidecar_path', 'write_sidecar',
           'OnnxSegmentor', 'load_onnx_model', 'export_onnx', 'quantize_int8']

__getattr__ = lazy_attributes(__name__, {'export_onnx': 'export', 'quantize_int8': 'quantize'})
