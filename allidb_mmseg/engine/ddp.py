"""Distributed training on CPU (gloo) as well as on GPUs: the DDP wrapper and
the process group a CPU-only ``torchrun`` needs."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
# mmengine's Runner looks the wrapper type up with the root registry's
# ``get``, which does not search mmseg's child registry; register it there.
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that adapts itself to a CPU-only model.

    Why: mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which
    torch's DDP rejects for a module on CPU, and SyncBN (mmseg's SegFormer
    norm) raises under CPU DDP because it needs CUDA. For a CPU module this
    drops ``device_ids`` and reverts SyncBN to BN; on CUDA it changes nothing.
    """

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        param = next(module.parameters(), None)
        if param is None or not param.is_cuda:
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, **kwargs)


def init_cpu_distributed(launcher: str) -> bool:
    """Start a gloo process group for a CPU-only ``torchrun`` launch.

    Why: mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails
    on a CPU-only torch. When the group already exists, mmengine skips its own
    init. Returns True if a group was started here.
    """
    import torch.distributed as dist

    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    dist.init_process_group(backend='gloo')
    return True


def finish_distributed() -> bool:
    """End a run's process group, if there is one; True on the main process.

    Why: a gloo group left to the interpreter's shutdown can abort the process
    (SIGABRT, "terminate called without an active exception") after the work
    is done, and torchrun then reports the whole run as failed. The ranks meet
    at a barrier first, so none tears down while another still saves.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return True
    main = dist.get_rank() == 0
    dist.barrier()
    dist.destroy_process_group()
    return main
