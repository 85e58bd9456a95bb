#!/usr/bin/env python
"""Evaluate a checkpoint on the test split: aAcc, mIoU, mAcc, mDice, per class.

    python tools/test.py CONFIG CHECKPOINT [--data-root DIR] [--work-dir DIR]
        [--show-dir DIR] [--out JSON] [--force] [--cfg-options k=v ...]

Metrics are printed and saved as JSON (default WORK_DIR/test_metrics.json).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import allidb_mmseg  # noqa: E402,F401  (before mmseg: registers and patches)

from allidb_mmseg import runner_setup  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file (trusted: it is '
                   'unpickled)')
    p.add_argument('--show-dir', help='write prediction overlays here')
    p.add_argument('--out', help='metrics JSON path '
                   '(default: WORK_DIR/test_metrics.json)')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing metrics JSON')
    runner_setup.add_runner_args(p, work_dir_holds='logs and the metrics JSON')
    return runner_setup.parse_runner_args(p, argv)


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
