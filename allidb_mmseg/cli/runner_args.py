"""The command-line flags that allidb-train and allidb-test share with mmseg's tools."""
from __future__ import annotations

import argparse
import os
from typing import Optional

__all__ = ['add_runner_args', 'parse_runner_args']


def add_runner_args(parser: argparse.ArgumentParser, work_dir_holds: str) -> None:
    """Add mmseg's ``--work-dir``, ``--data-root``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank``, and our ``--skip-data-check``; ``work_dir_holds`` (what the work dir
    receives) goes into the help text."""
    from mmengine.config import DictAction  # the training stack, not a light install

    parser.add_argument('--work-dir', help=f'where {work_dir_holds} go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--data-root', help='dataset root (default: the '
                        'config, i.e. $ALLIDB_DATA_ROOT or data/allidb)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--skip-data-check', action='store_true',
                        help='do not check every image/mask pair before the '
                        'run (sizes, mask values); for huge sets')


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Parse, and pass ``--local-rank`` (older launchers) on as LOCAL_RANK."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
