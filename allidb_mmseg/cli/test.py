"""Evaluate a checkpoint on the test split: aAcc, mIoU, mAcc, mDice, per class.

``allidb-test``, or ``python tools/test.py``.
"""
from __future__ import annotations

import argparse
import os

from ..evaluation.summary import format_metrics
from . import command
from .runner_args import add_runner_args, parse_runner_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file (trusted: it is unpickled)')
    p.add_argument('--show-dir', help='write a review page here: index.html, '
                   'each prediction against its label (true/false positives, '
                   'false negatives) with its IoU')
    p.add_argument('--out', help='metrics JSON path (default: WORK_DIR/test_metrics.json)')
    p.add_argument('--force', action='store_true', help='overwrite an existing metrics JSON')
    p.add_argument('--tta', action='store_const', const='d4',
                   help='test-time augmentation: average the predictions of '
                   'the 8 flips and 90-degree rotations (8x the network time)')
    add_runner_args(p, work_dir_holds='logs and the metrics JSON')
    return parse_runner_args(p, argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..engine.config import load_config  # lazy: torch
    from ..engine.runner import test  # lazy: torch

    cfg = load_config(args.config, cfg_options=args.cfg_options,
                      data_root=args.data_root, work_dir=args.work_dir,
                      launcher=args.launcher)
    report = test(cfg, args.checkpoint, show_dir=args.show_dir, out=args.out,
                  force=args.force, tta=args.tta,
                  check_data_pairs=not args.skip_data_check)
    if report['main_process']:
        print(f'\n{report["num_images"]} test images, checkpoint {args.checkpoint}')
        print(format_metrics(report))
        print(f'metrics saved: {report["path"]}')
        if args.show_dir:
            print(f'review page: {os.path.join(args.show_dir, "index.html")}')
    return 0
