"""Pretrained MiT weights from a file, mmseg's official URL, or a short name.

``--pretrained`` and ``ALLIDB_PRETRAINED`` accept a local file (mmseg key
layout; Hugging Face checkpoints convert with
``tools/model_converters/hf_mit2mmseg.py``), a short name ``mit_b0`` ..
``mit_b5`` (mmseg's official ImageNet weights) or an ``http(s)://`` URL. A URL
is downloaded once into torch hub's cache (``$TORCH_HOME/hub/checkpoints``),
the folder mmengine and torchvision use; a file already there (or in
mmengine's older ``$TORCH_HOME/checkpoints``) is used as it is.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional
from urllib.parse import urlparse

from ..utils import AllidbError, first_line

__all__ = ['MIT_URLS', 'resolve_pretrained', 'hub_checkpoint_path']

_MMSEG_PRETRAIN = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
# mmseg's official MiT ImageNet weights (mmseg key layout), as mmseg's own
# SegFormer configs name them.
MIT_URLS = {
    'mit_b0': _MMSEG_PRETRAIN + 'mit_b0_20220624-7e0fe6dd.pth',
    'mit_b1': _MMSEG_PRETRAIN + 'mit_b1_20220624-02e5a6a1.pth',
    'mit_b2': _MMSEG_PRETRAIN + 'mit_b2_20220624-66e8bf70.pth',
    'mit_b3': _MMSEG_PRETRAIN + 'mit_b3_20220624-13b1141c.pth',
    'mit_b4': _MMSEG_PRETRAIN + 'mit_b4_20220624-d588d980.pth',
    'mit_b5': _MMSEG_PRETRAIN + 'mit_b5_20220624-658746d9.pth',
}


def hub_checkpoint_path(url: str) -> str:
    """Where torch hub keeps the download of ``url``."""
    import torch.hub

    name = osp.basename(urlparse(url).path)
    return osp.join(torch.hub.get_dir(), 'checkpoints', name)


def _cached(url: str) -> Optional[str]:
    """A copy of ``url`` already in torch hub's or mmengine's cache."""
    import torch.hub

    hub = hub_checkpoint_path(url)
    # mmengine's load_from_http keeps downloads in $TORCH_HOME/checkpoints.
    mmengine = osp.join(osp.dirname(torch.hub.get_dir()), 'checkpoints', osp.basename(hub))
    return next((p for p in (hub, mmengine) if osp.isfile(p)), None)


def _download(url: str) -> str:
    import torch.hub

    dest = hub_checkpoint_path(url)
    os.makedirs(osp.dirname(dest), exist_ok=True)
    tmp = f'{dest}.{os.getpid()}.part'
    try:
        torch.hub.download_url_to_file(url, tmp, progress=True)
        os.replace(tmp, dest)
    except Exception as e:  # URLError, HTTPError, timeouts, disk full
        if osp.exists(tmp):
            os.remove(tmp)
        raise AllidbError(url, f'cannot download ({first_line(e)}); download '
                          f'it yourself and put it at {dest}, or pass '
                          '--pretrained PATH') from e
    return dest


def resolve_pretrained(spec: str) -> str:
    """A local checkpoint file for ``spec``: the path itself, else the file
    (downloaded into the hub cache if needed) of ``mit_b0`` .. ``mit_b5`` or a URL.

    Raises:
        AllidbError: not a file, short name or URL, or the download failed.
    """
    if osp.isfile(spec):
        return spec
    url = MIT_URLS.get(spec.lower(), spec)
    if urlparse(url).scheme in ('http', 'https'):
        return _cached(url) or _download(url)
    raise AllidbError(spec, 'pretrained weights file not found (give a local '
                      'file, an http(s) URL, or a short name: '
                      + ', '.join(MIT_URLS) + ')')
