"""What tools/analysis_tools/benchmark.py and benchmark_scale.py run for a config: the
checks, the data, the run and its JSON; the tools parse the flags and print."""
from __future__ import annotations

import os.path as osp
import sys
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import tqdm

from allidb_mmseg.engine.config import load_config
from allidb_mmseg.inference.tiling import TileSettings
from allidb_mmseg.models.checkpoint import read_checkpoint
from allidb_mmseg.utils import AllidbError, atomic_write_json, first_line, refuse_existing
from benchmarks.speed.deployment import run_deployment
from benchmarks.speed.run import SPLITS, choose_split, run_benchmark
from benchmarks.speed.scale import run_scale_benchmark, scale_table

__all__ = ['speed_benchmark', 'deployment_benchmark', 'scale_benchmark']


def _progress() -> tqdm.tqdm:
    return tqdm.tqdm(unit='step', file=sys.stderr, dynamic_ncols=True)


def speed_benchmark(config: str, checkpoint: Optional[str] = None, *,
                    data_root: Optional[str] = None, split: Optional[str] = None,
                    device: Optional[str] = None, iters: Optional[int] = None, warmup: int = 1,
                    infer_scale: Optional[float] = None, batch_size: Optional[int] = None,
                    pipeline_samples: Optional[int] = None, threads: Optional[int] = None,
                    quick: bool = False, out: Optional[str] = None, force: bool = False,
                    train_options: Sequence[str] = (), loader_workers: Sequence[int] = ()
                    ) -> tuple[dict, str]:
    """Sections (a)-(c) of a config (:func:`~benchmarks.speed.run.run_benchmark`),
    written as JSON; ``train_options`` and ``loader_workers`` as there.

    Returns:
        The result and the JSON's path (default ``<work_dir>/benchmark.json``).

    Raises:
        AllidbError: a bad option, checkpoint or data root, before any work.
    """
    if checkpoint:
        read_checkpoint(checkpoint)
    if iters is not None and iters < 1:
        raise AllidbError(config, '--iters must be >= 1')
    if threads is not None and threads < 1:
        raise AllidbError(config, '--threads must be >= 1')
    from benchmarks.speed.training import TRAIN_OPTIONS
    unknown = [o for o in train_options if o not in TRAIN_OPTIONS]
    if unknown:
        raise AllidbError('--train-options', f'unknown {", ".join(unknown)} '
                          f'(choose from {", ".join(TRAIN_OPTIONS)})')
    if any(w < 0 for w in loader_workers):
        raise AllidbError('--loader-workers', 'worker counts must be >= 0')
    if infer_scale is not None and not 0 < infer_scale <= 4:
        raise AllidbError(config, '--infer-scale must be in (0, 4]')
    cfg = load_config(config, data_root=data_root)
    data_root = data_root or cfg.get('data_root')
    if not data_root or not osp.isdir(data_root):
        raise AllidbError(str(data_root), 'data root is not a directory (pass --data-root)')
    if not choose_split(data_root, split)[1]:
        raise AllidbError(data_root, 'no image/mask pairs in '
                          f'img_dir/{{{split or "/".join(SPLITS)}}} and ann_dir/')
    out = out or osp.join(cfg.work_dir, 'benchmark.json')
    refuse_existing(out, force)
    import torch  # after the checks: they are quick, torch is not
    if device and device.startswith('cuda') and not torch.cuda.is_available():
        raise AllidbError(config, f'--device {device}: CUDA is not available')
    if threads:
        torch.set_num_threads(threads)
    warnings.filterwarnings('ignore', category=UserWarning)
    with _progress() as bar:
        try:
            result = run_benchmark(
                cfg, checkpoint=checkpoint, data_root=data_root, split=split, device=device,
                iters=iters, warmup=warmup, infer_scale=infer_scale, batch_size=batch_size,
                pipeline_samples=pipeline_samples, quick=quick,
                train_options=tuple(train_options), loader_workers=tuple(loader_workers),
                bar=bar)
        except (FileNotFoundError, ValueError) as e:
            bar.close()
            msg = first_line(e)
            raise AllidbError(msg if ': ' in msg else f'{config}: {msg}') from e
    atomic_write_json(out, result)
    return result, out


def deployment_benchmark(config: str, checkpoint: Optional[str], *,
                         data_root: Optional[str] = None, split: Optional[str] = None,
                         iters: Optional[int] = None, warmup: int = 1,
                         threads: Optional[int] = None, fields: int = 4, quick: bool = False,
                         out: Optional[str] = None, force: bool = False,
                         forward_only: bool = False, session_variants: bool = False
                         ) -> tuple[dict, str]:
    """Section (d), ``--deployment`` (:func:`~benchmarks.speed.deployment.run_deployment`)
    on a labelled split, written as JSON; ``forward_only`` and
    ``session_variants`` as there.

    Returns:
        The result (with ``split`` and ``num_images``) and the JSON's path
        (default ``<work_dir>/benchmark_deployment.json``).

    Raises:
        AllidbError: no checkpoint, a bad one, or no labelled images.
    """
    if not checkpoint:
        raise AllidbError(config, '--deployment needs a CHECKPOINT')
    read_checkpoint(checkpoint)
    cfg = load_config(config, data_root=data_root)
    data_root = data_root or cfg.get('data_root')
    chosen, pairs = choose_split(data_root or '', split)
    if not pairs:
        raise AllidbError(str(data_root), 'no image/mask pairs in img_dir/'
                          f'{{{split or "/".join(SPLITS)}}} (pass --data-root)')
    calib = choose_split(data_root, 'train')[1] or pairs
    out = out or osp.join(cfg.work_dir, 'benchmark_deployment.json')
    refuse_existing(out, force)
    sizes = dict(sizes=((64, 64), (72, 96)), field_size=(320, 240)) if quick else {}
    warnings.filterwarnings('ignore')
    with _progress() as bar:
        result = run_deployment(
            config, checkpoint, pairs, [i for i, _ in calib[:16]],
            iters=iters or (1 if quick else 5), warmup=warmup, threads=threads,
            num_fields=1 if quick else fields, forward_only=forward_only,
            session_variants=session_variants, bar=bar, **sizes)
    result.update(split=chosen, num_images=len(pairs))
    atomic_write_json(out, result)
    return result, out


def scale_benchmark(config: str, checkpoint: Optional[str] = None, *,
                    cfg_options: Optional[dict] = None,
                    cache: str = 'work_dirs/benchmark_scale/inputs',
                    cases: Optional[Sequence[str]] = None, device: str = 'cpu',
                    threads: Optional[int] = None, blast_fraction: Optional[float] = None,
                    quick: bool = False, progress: bool = True, out: Optional[str] = None,
                    force: bool = False, log: Callable[[str], None] = print
                    ) -> tuple[dict, Path]:
    """:func:`~benchmarks.speed.scale.run_scale_benchmark` for a tiled config, its
    JSON rewritten after every case (``log`` gets each case's table row).

    Returns:
        The result and the JSON's path (default
        ``work_dirs/benchmark_scale/<config>[_quick].json``).

    Raises:
        AllidbError: a bad option, a config that does not tile, or a failed case.
    """
    from mmengine import Config

    if checkpoint:
        read_checkpoint(checkpoint)
    if not Path(config).is_file():
        raise AllidbError(config, 'no such file')
    if blast_fraction is not None and not 0 < blast_fraction < 1:
        raise AllidbError('--blast-fraction', f'must be in (0, 1), got {blast_fraction}')
    if threads is not None and threads < 1:
        raise AllidbError('--threads', f'must be at least 1, got {threads}')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(cfg_options or {})
    if TileSettings.from_config(cfg) is None:
        raise AllidbError(config, "does not tile (model.test_cfg.mode is not 'slide'); a "
                          'whole-image config cannot read a slide region by region')
    if device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise AllidbError('--device', f'{device}: CUDA is not available')
    stem = osp.splitext(osp.basename(config))[0]
    path = Path(out or f'work_dirs/benchmark_scale/{stem}{"_quick" if quick else ""}.json')
    refuse_existing(path, force)

    def on_case(partial: dict) -> None:
        atomic_write_json(path, partial)
        log(scale_table(partial).splitlines()[-1])

    try:
        result = run_scale_benchmark(
            config, checkpoint, Path(cache), path.parent / f'{stem}_outputs',
            cfg_options=cfg_options or {}, device=device, threads=threads, quick=quick,
            cases=cases, progress=progress, blast_fraction=blast_fraction, log=log,
            on_case=on_case)
    except RuntimeError as e:
        raise AllidbError(*first_line(e).split(': ', 1)) from e
    atomic_write_json(path, result)
    return result, path
