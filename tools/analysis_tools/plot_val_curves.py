#!/usr/bin/env python
"""Plot validation metrics against iteration for several training runs.

    python tools/analysis_tools/plot_val_curves.py WORK_DIR [WORK_DIR ...]
        --out curves.png [--labels A B ...] [--metrics IoU.lymphoblast blast_F1]
        [--title TEXT] [--force]

Each WORK_DIR is a tools/train.py work dir (its */vis_data/scalars.json).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, refuse_existing


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dirs', nargs='+')
    p.add_argument('--out', required=True, help='PNG to write')
    p.add_argument('--labels', nargs='+', help='one per work dir (default: names)')
    p.add_argument('--metrics', nargs='+', default=['IoU.lymphoblast', 'blast_F1'])
    p.add_argument('--title', default='')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    args = p.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    if len(labels) != len(args.work_dirs):
        raise AllidbError('--labels', f'{len(labels)} labels for '
                          f'{len(args.work_dirs)} work dirs')
    refuse_existing(args.out, args.force)
    from benchmarks.val_curves import plot_val_curves, read_val_scalars

    runs = {lab: read_val_scalars(d) for lab, d in zip(labels, args.work_dirs)}
    plot_val_curves(runs, args.metrics, args.out, args.title)
    for lab, rows in runs.items():
        last = rows[-1]
        print(f'{lab}: ' + ', '.join(f'{m} {last.get(m)}' for m in args.metrics)
              + f' at iteration {last["step"]}')
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
