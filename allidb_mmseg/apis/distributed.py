"""Folder inference in several processes (``tools/dist_infer.sh``, torchrun).

Output names are planned once over all inputs, as one process would; input
``i`` goes to rank ``i % world_size``. Every rank writes its share's masks,
overlays and sink files, and its report rows under ``OUT/.dist_infer/``; rank 0
waits for all, merges the rows into input order and writes the reports, the
review page and the one COCO file: byte for byte what ``tools/infer.py`` writes
in one process. The ranks meet at three barriers of a gloo process group (also
on GPUs: only the barriers use it); across nodes, ``OUT`` must be shared.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

from ..utils import AllidbError, atomic_write_json
from .batch import InputItem, plan_names, run_batch
from ..products.report import ImageRow, write_reports
from ..products.sinks import CocoSink, ImageSink

__all__ = ['RANK_DIR', 'shard', 'rank_file', 'merge_rank_reports',
           'default_threads', 'is_rank_zero', 'run_distributed']

RANK_DIR = '.dist_infer'
# A rank that finishes early waits this long at the last barrier for the
# others (shards differ by at most one image each).
BARRIER_TIMEOUT = timedelta(hours=24)


def shard(n: int, rank: int, world: int) -> list[int]:
    """Indices of ``n`` inputs that ``rank`` of ``world`` processes takes."""
    return list(range(rank, n, world))


def rank_file(out_dir: Path, rank: int, world: int, suffix: str) -> Path:
    """A rank's own file: its report rows (``.csv``, ``.json``) or COCO entries."""
    return Path(out_dir) / RANK_DIR / f'rank{rank}-of-{world}{suffix}'


class _RankSink:
    """A sink seen from one rank: it takes the rank's images; rank 0 closes it after the merge."""

    def __init__(self, sink: ImageSink) -> None:
        self.sink = sink

    def __getattr__(self, name: str) -> Any:  # outputs, add, wants_outlines
        return getattr(self.sink, name)

    def close(self, rows: Sequence[ImageRow], settings: dict) -> None:
        pass


def merge_rank_reports(out_dir: Path, n: int, world: int
                       ) -> tuple[list[ImageRow], dict[str, Any]]:
    """Read every rank's rows and write the run's report.csv/report.json;
    return the rows, in input order, and the settings.

    Raises:
        AllidbError: a rank's file is missing or does not hold its share
            (a rank failed, or ``OUT`` is not shared between nodes).
    """
    per_rank: list[list[ImageRow]] = []
    settings: dict[str, Any] = {}
    for rank in range(world):
        path = rank_file(out_dir, rank, world, '.json')
        if not path.is_file():
            raise AllidbError(path, f'rank {rank} wrote no report (did it '
                              'fail? with several nodes, OUT must be on a '
                              'shared file system)')
        doc = json.loads(path.read_text(encoding='utf-8'))
        rows = [ImageRow(**r) for r in doc['images']]
        expected = len(shard(n, rank, world))
        if len(rows) != expected:
            raise AllidbError(path, f'holds {len(rows)} rows, expected {expected} '
                              '(interrupted?)')
        per_rank.append(rows)
        settings = settings or doc['settings']
    merged = [per_rank[i % world][i // world] for i in range(n)]
    write_reports(merged, Path(out_dir) / 'report.csv',
                  Path(out_dir) / 'report.json', settings)
    return merged, settings


def default_threads() -> int:
    """CPU threads per process: the cores shared by this node's processes."""
    local = int(os.environ.get('LOCAL_WORLD_SIZE', '1') or 1)
    return max(1, (os.cpu_count() or 1) // max(1, local))


def is_rank_zero() -> bool:
    """True in the process that speaks for a torchrun launch (and outside
    one)."""
    return os.environ.get('RANK', '0') == '0'


def run_distributed(model: Any, items: list[InputItem], out_dir: str | os.PathLike,
                    progress: bool = True, sinks: Sequence[ImageSink] = (),
                    **batch_kwargs: Any) -> list[ImageRow]:
    """This rank's share of :func:`~allidb_mmseg.apis.run_batch`; rank 0 merges.

    Call it in every process of a torchrun launch, after each has checked
    for existing outputs. ``sinks`` and the other keyword arguments
    (``min_area``, ``rule``, ``on_fail``, ``settings``) are :func:`run_batch`'s.

    Returns:
        On rank 0 all rows, in input order; on the other ranks their own.
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', timeout=BARRIER_TIMEOUT)
    rank, world = dist.get_rank(), dist.get_world_size()
    out_dir = Path(out_dir)
    names = plan_names([it.file for it in items])
    mine = shard(len(items), rank, world)
    dist.barrier()  # every rank has checked the outputs before any writes
    rows = run_batch(model, [items[i] for i in mine], out_dir,
                     progress=progress and rank == 0,
                     names=[names[i] for i in mine],
                     reports=(rank_file(out_dir, rank, world, '.csv'),
                              rank_file(out_dir, rank, world, '.json')),
                     sinks=[_RankSink(s) for s in sinks], **batch_kwargs)
    for sink in sinks:
        if isinstance(sink, CocoSink):
            atomic_write_json(rank_file(out_dir, rank, world, '.coco.json'), sink.entries)
    dist.barrier()
    if rank == 0:
        rows, settings = merge_rank_reports(out_dir, len(items), world)
        for sink in sinks:
            if isinstance(sink, CocoSink):  # every rank's images; close() numbers them
                sink.entries = [e for r in range(world) for e in json.loads(
                    rank_file(out_dir, r, world, '.coco.json').read_text())]
            sink.close(rows, settings)
        shutil.rmtree(out_dir / RANK_DIR, ignore_errors=True)
    dist.barrier()  # the merged report exists when any rank returns
    dist.destroy_process_group()
    return rows
