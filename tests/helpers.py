"""Small data, tiny models and tool runners the tests share (import as ``helpers``).

Fixtures built on these are in ``conftest.py``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Iterator

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ['segformer_allidb_128', 'segformer_allidb_128_aug',
           'segformer_allidb_256', 'segformer_allidb_256_aug']

# A MiT small enough to train in seconds on a CPU.
TINY_MIT = dict(
    type='MixVisionTransformer', in_channels=3, embed_dims=8, num_stages=4,
    num_layers=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], patch_sizes=[7, 3, 3, 3],
    sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3), mlp_ratio=2,
    qkv_bias=True, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0)

# A stand-alone inference config around TINY_MIT: 64x64 input, a test_pipeline.
TINY_CONFIG = '''
custom_imports = dict(imports=['allidb_mmseg.datasets', 'allidb_mmseg.models'],
                      allow_failed_imports=False)
default_scope = 'mmseg'
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=(64, 64)),
    backbone={backbone!r},
    decode_head=dict(type='SegformerHead', in_channels=[8, 8, 8, 8], in_index=[0, 1, 2, 3],
                     channels=8, dropout_ratio=0.1, num_classes=2,
                     norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='Resize', scale=(64, 64), keep_ratio=False),
                  dict(type='PackSegInputs')]
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(64, 64), keep_ratio=False),
                 dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
'''


def write_tiny_config(path: Path) -> Path:
    """:data:`TINY_CONFIG` as a file."""
    path.write_text(TINY_CONFIG.format(backbone=TINY_MIT))
    return path


def tiny_config_file(path: Path, base: str = 'segformer_allidb_128',
                     max_iters: int = 2) -> Path:
    """A user config that inherits one of ours and shrinks the model (for CLIs)."""
    backbone = {k: v for k, v in TINY_MIT.items() if k != 'type'}
    path.write_text(
        f"_base_ = [{str(REPO / 'configs' / (base + '.py'))!r}]\n"
        f"model = dict(backbone=dict(**{backbone!r}),\n"
        "             decode_head=dict(in_channels=[8, 8, 8, 8], channels=16))\n"
        "train_dataloader = dict(batch_size=2, num_workers=0,\n"
        "                        persistent_workers=False)\n"
        "val_dataloader = dict(num_workers=0, persistent_workers=False)\n"
        "test_dataloader = dict(num_workers=0, persistent_workers=False)\n"
        f"train_cfg = dict(max_iters={max_iters}, val_interval={max_iters})\n"
        f"default_hooks = dict(checkpoint=dict(interval={max_iters}),\n"
        "                     logger=dict(interval=1))\n")
    return path


def small_options(max_iters: int = 2, tiny: bool = False) -> dict:
    """cfg-options for a few iterations, batch 2, no worker processes."""
    opts = {
        'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': max_iters,
        'default_hooks.logger.interval': 1,
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'val_dataloader.num_workers': 0, 'test_dataloader.num_workers': 0,
        'env_cfg.cudnn_benchmark': False,
    }
    if tiny:
        # Tiny sizes, but the configs' own backbone type (fused MiT).
        opts.update({f'model.backbone.{k}': v for k, v in TINY_MIT.items()
                     if k != 'type'})
        opts['model.decode_head.in_channels'] = [8, 8, 8, 8]
        opts['model.decode_head.channels'] = 16
    return opts


def write_random_seg_root(root: Path, splits: dict[str, int], size: int = 32,
                          seed: int = 0) -> Path:
    """mmseg layout (img_dir/SPLIT/*.png, ann_dir/SPLIT/*.png) of blob images."""
    rng = np.random.default_rng(seed)
    for split, n in splits.items():
        (root / 'img_dir' / split).mkdir(parents=True, exist_ok=True)
        (root / 'ann_dir' / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            mask = np.zeros((size, size), np.uint8)
            cx, cy = rng.integers(6, size - 6, 2)
            cv2.circle(mask, (int(cx), int(cy)), int(rng.integers(3, 6)), 1, -1)
            img = np.full((size, size, 3), 200, np.uint8)
            img[mask == 1] = (150, 40, 90)
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / 'img_dir' / split / f'im{i:03d}.png'), img)
            cv2.imwrite(str(root / 'ann_dir' / split / f'im{i:03d}.png'), mask)
    return root


def jpg_seg_root(root: Path, splits: dict[str, int], size: int = 32) -> Path:
    """:func:`write_random_seg_root` with JPEG images, as ALL-IDB ships them."""
    write_random_seg_root(root, splits, size=size)
    for png in root.glob('img_dir/*/*.png'):
        cv2.imwrite(str(png.with_suffix('.jpg')), cv2.imread(str(png)))
        png.unlink()
    return root


def open_rims(n: int, side: int = 480, radius: int = 30, solid: int = 0) -> np.ndarray:
    """``n`` pale-centred red cells whose rims are open (a 30 degree gap), as in
    BCCD-like smears: hole filling cannot close them, and the red-cell ruler
    reads the rims' thickness, not the cells. The first ``solid`` of them are
    whole discs instead."""
    rng = np.random.default_rng(0)
    img = np.full((side, side, 3), (200, 190, 235), np.uint8)
    for k in range(n):
        centre = tuple(int(v) for v in rng.integers(radius, side - radius, 2))
        angle = int(rng.integers(0, 360))  # drawn for every cell: the same fields as before
        if k < solid:
            cv2.circle(img, centre, radius, (150, 110, 190), -1)
        else:
            cv2.ellipse(img, centre, (radius, radius), angle, 30, 360, (150, 110, 190), 8)
    return img


def blob_image(h: int = 90, w: int = 130, seed: int = 0) -> np.ndarray:
    """A pale BGR field with one purple disc."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 215, np.uint8)
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, (160, 50, 100), -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def blobby_checkpoint(cfg_path: Path, ckpt_path: Path, images: list[Path],
                      fraction: float = 0.2, seed: int = 0) -> Path:
    """A tiny untrained SegFormer (:data:`TINY_CONFIG`) whose blast bias is
    set so that about ``fraction`` of ``images`` is predicted blast.

    Its random features make smooth random blobs: shapes with holes and
    several parts, and blast counts that differ between images, which is
    what the exports and the review page must handle. Seconds, no training.
    """
    import torch

    from allidb_mmseg.apis import load_model, segment

    write_tiny_config(cfg_path)
    torch.manual_seed(seed)
    model = load_model(str(cfg_path), None, 'cpu')
    probs = np.concatenate([segment(model, str(f), return_prob=True)[1].ravel()
                            for f in images]).astype(np.float64)
    q = float(np.clip(np.quantile(probs, 1 - fraction), 1e-4, 1 - 1e-4))
    with torch.no_grad():
        model.decode_head.conv_seg.bias[1] -= float(np.log(q / (1 - q)))
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt_path)
    return ckpt_path


def run_py(code: str, *, cwd: Path | None = None, timeout: int = 600
           ) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter (for import-order checks)."""
    return subprocess.run([sys.executable, '-c', code], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)


def tool_path(name: str) -> Path:
    """``tools/<name>.py``; ``name`` may hold a folder (``analysis_tools/x``)."""
    return REPO / 'tools' / f'{name}.py'


def load_tool(name: str) -> ModuleType:
    """Import a tool as a module, to call its ``main(argv)`` in this process
    (fast: the package is already imported here)."""
    spec = importlib.util.spec_from_file_location(
        'tool_' + name.replace('/', '_'), tool_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_tool(name: str, *args: object) -> subprocess.CompletedProcess:
    """``main(args)`` of a tool in this process, stdout/stderr captured."""
    mod = load_tool(name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = mod.main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    return subprocess.CompletedProcess(name, rc, out.getvalue(), err.getvalue())


def run_tool(name: str, *args: object, cwd: Path | None = None,
             timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """A tool as a user runs it: ``python tools/<name>.py ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, str(tool_path(name)), *map(str, args)],
                          cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def write_pyramid_tiff(path: Path, img: np.ndarray, mpp: float | None = None,
                       factors: tuple[int, ...] = (1, 2), tile: int = 128,
                       compression: str = 'zlib', aperio: bool = False) -> Path:
    """A tiled pyramidal TIFF of a BGR image, as a slide scanner writes one.

    Level k holds ``img[::f, ::f]`` for ``f = factors[k]``, so its pixels are
    known exactly (with a lossless compression). Plain TIFFs keep the levels
    in SubIFDs (OME-TIFF layout, read by tiffslide); ``aperio=True`` writes
    an Aperio-style file (one IFD per level and Aperio's description, read by
    OpenSlide).
    """
    import tifffile

    rgb = np.ascontiguousarray(img[..., ::-1])
    res = {} if mpp is None else dict(resolution=(1e4 / mpp, 1e4 / mpp),
                                      resolutionunit='CENTIMETER')
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k, f in enumerate(factors):
            level = np.ascontiguousarray(rgb[::f, ::f])
            kw = dict(tile=(tile, tile), photometric='rgb', compression=compression)
            if aperio:
                h, w = level.shape[:2]
                desc = f'Aperio Image Library v10.0.0\n{w}x{h} (256x256)'
                if mpp is not None:
                    desc += f'|AppMag = 20|MPP = {mpp}'
                tif.write(level, description=desc, metadata=None, **kw)
            elif k == 0:
                tif.write(level, subifds=len(factors) - 1, **kw, **res)
            else:
                tif.write(level, subfiletype=1, **kw)
    return path


NOBODY = 65534


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written while the block runs.

    Mode 0555; and since permission bits do not stop root, a root process
    runs the block with the effective uid of 'nobody'. Everything the block
    reads must then be world-readable (the ``open_tmp`` fixture).
    """
    import encodings.utf_8_sig  # noqa: F401  (the interpreter's own files
    # may not be readable by 'nobody': load what tools import lazily first)
    folder.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.seteuid(NOBODY)
        yield
    finally:
        if as_root:
            os.seteuid(0)
        folder.chmod(0o755)


def one_line_error(stderr: str) -> str:
    """The only line of ``stderr`` that starts with 'error: ' (asserted)."""
    assert 'Traceback' not in stderr, stderr[-2000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith('error: ')]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` RGB pixels
    (its one IDAT chunk holds a single row)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data)))

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
            + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))


GLASS, RED_CELL, NUCLEUS = (225, 230, 240), (150, 140, 215), (150, 50, 90)  # BGR


def white_cell_field(rbc: int = 40) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Glass with red cells, three round nuclei, a three-lobed neutrophil and
    platelets; returns the image and the four white cells' centres."""
    img = np.full((600, 800, 3), GLASS, np.uint8)
    rng = np.random.default_rng(0)
    for x, y in rng.integers(0, [800, 600], size=(60, 2)):
        cv2.circle(img, (int(x), int(y)), rbc // 2, RED_CELL, -1)
    cells = [(150, 150), (600, 120), (400, 450)]
    for x, y in cells:
        cv2.circle(img, (x, y), int(0.8 * rbc), NUCLEUS, -1)
    for dx, dy in ((-22, 0), (6, -16), (10, 18)):  # lobes ~0.2 rbc apart
        cv2.circle(img, (650 + dx, 420 + dy), rbc // 3, NUCLEUS, -1)
    for x, y in ((300, 300), (320, 305), (700, 250)):  # platelets
        cv2.circle(img, (x, y), 3, NUCLEUS, -1)
    return img, cells + [(650, 420)]
