"""Train a SegFormer ALL-IDB config (MMSegmentation's flags plus a few of ours).

``allidb-train``, or ``python tools/train.py``.
"""
from __future__ import annotations

import argparse
import os

from . import command
from .runner_args import add_runner_args, parse_runner_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file')
    p.add_argument('--pretrained', default=os.environ.get('ALLIDB_PRETRAINED'),
                   help='MiT weights: a local file in mmseg layout, mmseg\'s '
                   'URL or a short name mit_b0..mit_b5 (downloaded once) '
                   '(default: $ALLIDB_PRETRAINED; none = from scratch)')
    p.add_argument('--resume', nargs='?', const='auto', default=None,
                   metavar='CKPT', help='resume from CKPT, or without a value '
                   'from the latest checkpoint in the work dir')
    p.add_argument('--force', action='store_true',
                   help='train into a work dir that holds checkpoints of an '
                   'earlier run (they are overwritten)')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA only)')
    add_runner_args(p, work_dir_holds='logs and checkpoints')
    return parse_runner_args(p, argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..engine.config import prepare_train_config  # lazy: torch
    from ..engine.runner import train  # lazy: torch

    cfg = prepare_train_config(
        args.config, cfg_options=args.cfg_options,
        data_root=args.data_root, work_dir=args.work_dir,
        pretrained=args.pretrained, resume=args.resume, amp=args.amp,
        launcher=args.launcher, force=args.force,
        check_data_pairs=not args.skip_data_check)
    result = train(cfg)
    if result['main_process']:
        print(f'\ntrained {result["last_iter"]} iterations; '
              f'work dir: {result["work_dir"]}')
        if result['best_checkpoint']:
            print(f'best checkpoint (val mIoU {result["best_mIoU"]}): '
                  f'{result["best_checkpoint"]}')
        print(f'curves: {result["curves"]}')
    return 0
