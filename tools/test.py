#!/usr/bin/env python
"""Evaluate a checkpoint on the test split: aAcc, mIoU, mAcc, mDice, per class.

    python tools/test.py CONFIG CHECKPOINT [--data-root DIR] [--work-dir DIR]
        [--show-dir DIR] [--out JSON] [--force] [--cfg-options k=v ...]

Metrics are printed and saved as JSON (default WORK_DIR/test_metrics.json).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import allidb_mmseg  # noqa: E402,F401  (before mmseg: registers and patches)
from mmengine.config import DictAction  # noqa: E402

from allidb_mmseg import runner_setup  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file (trusted: it is '
                   'unpickled)')
    p.add_argument('--work-dir', help='where logs and the metrics JSON go '
                   '(default: work_dirs/<config name>)')
    p.add_argument('--data-root', help='dataset root (default: the config, '
                   'i.e. $ALLIDB_DATA_ROOT or data/allidb)')
    p.add_argument('--show-dir', help='write prediction overlays here')
    p.add_argument('--out', help='metrics JSON path '
                   '(default: WORK_DIR/test_metrics.json)')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing metrics JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                   default='none', help='job launcher')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = runner_setup.load_config(
            args.config, cfg_options=args.cfg_options,
            data_root=args.data_root, work_dir=args.work_dir,
            launcher=args.launcher)
        report = runner_setup.test(cfg, args.checkpoint,
                                   show_dir=args.show_dir, out=args.out,
                                   force=args.force)
    except runner_setup.UsageError as e:
        return runner_setup.report_usage_error(e)
    from mmengine.dist import is_main_process
    if is_main_process():
        print(f'\n{report["num_images"]} test images, '
              f'checkpoint {args.checkpoint}')
        print(runner_setup.format_metrics(report))
        print(f'metrics saved: {report["path"]}')
        if args.show_dir:
            print(f'overlays: {args.show_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
