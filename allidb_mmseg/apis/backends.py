"""Choose and open an inference backend: torch (config + checkpoint) or onnxruntime.

Both give models that :func:`~allidb_mmseg.apis.segment` and
:func:`~allidb_mmseg.apis.run_batch` accept; torch is imported only when its
backend is opened.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..deployment.runtime import OnnxSegmentor
from ..inference.model import load_model
from ..inference.tta import enable_tta
from ..utils import AllidbError, one_line_errors

__all__ = ['BACKENDS', 'ModelArgs', 'model_backend', 'split_model_args',
           'open_model']

BACKENDS = ('torch', 'onnxruntime')


@dataclass
class ModelArgs:
    """The model part of a command line, and the inputs after it."""

    backend: str
    files: list[str]          # [config, checkpoint] or [model.onnx]
    inputs: list[str]

    def settings(self) -> dict[str, Any]:
        """The model as report.json records it."""
        if self.backend == 'torch':
            return dict(config=self.files[0], checkpoint=self.files[1])
        return dict(model=self.files[0])


def model_backend(model: str, backend: Optional[str] = None) -> str:
    """The backend of ``model`` (a config or an exported ``.onnx``):
    ``backend`` when given, else onnxruntime for a ``.onnx``, torch otherwise.

    Raises:
        AllidbError: ``backend`` cannot run ``model``.
    """
    is_onnx = model.lower().endswith('.onnx')
    backend = backend or ('onnxruntime' if is_onnx else 'torch')
    if backend == 'torch' and is_onnx:
        raise AllidbError(model, 'an ONNX model runs with --backend '
                          'onnxruntime, not torch')
    if backend == 'onnxruntime' and model.lower().endswith('.py'):
        raise AllidbError(model, '--backend onnxruntime needs an exported '
                          'model (tools/deployment/export_onnx.py), not a config')
    return backend


def split_model_args(positionals: list[str], backend: Optional[str] = None
                     ) -> ModelArgs:
    """Read ``CONFIG CHECKPOINT INPUTS...`` or ``MODEL.onnx INPUTS...``
    (the backend: :func:`model_backend` of the first).

    Raises:
        AllidbError: the arguments do not fit the backend, or no input is given.
    """
    if not positionals:
        raise AllidbError('arguments', 'give CONFIG CHECKPOINT INPUTS... or '
                          'MODEL.onnx INPUTS...')
    backend = model_backend(positionals[0], backend)
    n = 1 if backend == 'onnxruntime' else 2
    files, inputs = positionals[:n], positionals[n:]
    if not inputs:
        usage = 'MODEL.onnx INPUTS...' if n == 1 else 'CONFIG CHECKPOINT INPUTS...'
        raise AllidbError('arguments', f'no input images given ({usage})')
    return ModelArgs(backend, files, inputs)


def open_model(args: ModelArgs, device: Optional[str] = None,
               tta: Optional[str] = None, threads: Optional[int] = None,
               local_rank: Optional[int] = None) -> tuple[Any, str]:
    """Load the model of ``args``; returns it and the device it runs on.

    Args:
        args: from :func:`split_model_args`.
        device: ``cpu``, ``cuda`` or ``cuda:N``; default: torch takes CUDA
            when available, onnxruntime the CPU.
        tta: test-time augmentation mode (``'d4'``, ``'flips'``) or None.
        threads: CPU threads (torch intra-op, or onnxruntime intra-op).
        local_rank: this process's GPU index under a distributed launch
            (then onnxruntime's threads do not spin: the cores are shared).

    Raises:
        AllidbError: the model cannot be loaded.
    """
    onnx = args.backend == 'onnxruntime'
    if not onnx:
        import torch

        if threads:
            torch.set_num_threads(threads)
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise AllidbError(f'--device {device}', 'no CUDA device is available '
                              '(use --device cpu)')
    device = device or 'cpu'
    if device == 'cuda' and local_rank is not None:
        device = f'cuda:{local_rank}'
    if onnx:
        return OnnxSegmentor(args.files[0], device=device, threads=threads,
                             tta=tta, spinning=local_rank is None), device
    config, checkpoint = args.files
    with one_line_errors(checkpoint, f'cannot load model with {config}'):
        model = load_model(config, checkpoint, device=device)
    return enable_tta(model, tta), device

