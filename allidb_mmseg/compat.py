"""Every workaround this package needs for its pinned stack, in one place.

Imported first by every subpackage that touches mmseg, so that it runs before mmseg is
imported anywhere. Each fix is applied only when its upstream cause is present.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types
from typing import Any

__all__ = ['ext_stub_installed', 'install_mmcv_ext_stub',
           'allow_mmengine_checkpoints', 'apply']

# albumentations asks its package registry for a newer version at import;
# offline machines would wait on it.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

_STUB_FLAG = '__allidb_mmseg_stub__'


# (a) mmcv._ext --------------------------------------------------------------
# Upstream cause: mmsegmentation 1.2.2 imports ``mmcv.ops`` unconditionally, and
# every ``mmcv.ops`` module loads the compiled ``mmcv._ext``, which mmcv-lite
# (the only mmcv with wheels) lacks. SegFormer never calls a compiled op, so a
# stub that fails loudly *when an op is called* is enough.

def _stub_getattr(name: str) -> Any:
    """A stand-in for one compiled mmcv op; calling it explains what to do."""
    if name.startswith('__'):
        raise AttributeError(name)

    def missing_op(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'mmcv op {name!r} needs the compiled mmcv extension, '
            'but only mmcv-lite is installed. SegFormer does not need it; '
            'for other models install full mmcv==2.1.0 '
            '(MMCV_WITH_OPS=1 pip install mmcv==2.1.0 --no-build-isolation).')

    missing_op.__name__ = name
    return missing_op


def ext_stub_installed() -> bool:
    """Whether ``mmcv._ext`` is currently our stub."""
    return getattr(sys.modules.get('mmcv._ext'), _STUB_FLAG, False)


def install_mmcv_ext_stub() -> bool:
    """Register a stub ``mmcv._ext`` unless the real one imports.

    Returns True if the stub is (now) in place. Its ``__spec__`` has no loader,
    so mmengine's ``mmcv_full_available()`` still reports False.
    """
    if ext_stub_installed():
        return True
    try:
        importlib.import_module('mmcv._ext')
    except ImportError:
        stub = types.ModuleType('mmcv._ext')
        stub.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
        stub.__getattr__ = _stub_getattr  # type: ignore[attr-defined]
        setattr(stub, _STUB_FLAG, True)
        sys.modules['mmcv._ext'] = stub
        return True
    return False


# (b) checkpoint loading ---------------------------------------------------
# Upstream cause: torch>=2.6 defaults ``torch.load(weights_only=True)``, which
# mmengine 0.10.7 does not pass, and its checkpoints pickle HistoryBuffer and
# numpy arrays/scalars/dtypes: loading them raises UnpicklingError. Rather than
# turning the protection off, we allowlist exactly those types. HistoryBuffer
# also pickles ``builtins.getattr(HistoryBuffer, 'mean')``; a general getattr
# would let a crafted file reach any attribute, so under that name we
# allowlist one that resolves only the statistics methods.

def _history_buffer_getattr(obj: Any, name: str) -> Any:
    from mmengine.logging import HistoryBuffer

    # mmengine fills ``_statistics_methods`` only when the first HistoryBuffer
    # is built, which a fresh inference process has not done yet.
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    import pickle
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        'HistoryBuffer statistics methods are allowed')


def allow_mmengine_checkpoints() -> bool:
    """Allowlist mmengine's checkpoint contents for ``weights_only`` loading.

    Returns False on a torch without ``add_safe_globals`` (torch<2.4), where
    ``torch.load`` was not restricted by default anyway.
    """
    import torch.serialization as ts

    add = getattr(ts, 'add_safe_globals', None)
    if add is None:
        return False
    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy<2
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
    dtype_classes = [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
        np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)]
    add([HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar,
         *dtype_classes, (_history_buffer_getattr, 'builtins.getattr')])
    return True


def apply() -> None:
    """Apply every workaround whose upstream cause is present."""
    install_mmcv_ext_stub()
    allow_mmengine_checkpoints()


apply()
