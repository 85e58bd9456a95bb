"""Deployment: an ONNX export of the segmentor and a runtime without torch.

``export_onnx`` (torch, mmseg) writes ``model.onnx`` and its JSON sidecar
(``model.json``: what inference needs besides the network). The runtime
(:class:`OnnxSegmentor`) needs only onnxruntime, OpenCV and numpy, and is what
``tools/infer.py model.onnx ...`` uses; importing this package imports neither
torch nor onnxruntime.
"""
from ..utils.lazy import lazy_attributes
from .sidecar import DeploySpec, read_sidecar, sidecar_path, write_sidecar
from .runtime import OnnxSegmentor, load_onnx_model

__all__ = ['DeploySpec', 'read_sidecar', 'sidecar_path', 'write_sidecar',
           'OnnxSegmentor', 'load_onnx_model', 'export_onnx', 'quantize_int8']

__getattr__ = lazy_attributes(__name__, {'export_onnx': 'export',
                                         'quantize_int8': 'quantize'})
