#!/usr/bin/env python
"""Otsu-threshold baseline on one split; IoU as mmseg's IoUMetric computes it.

    python tools/analysis_tools/otsu_baseline.py DATA_ROOT [--split test] [--out JSON] [--force]
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, atomic_write_json, refuse_existing


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data_root', help='dataset root (img_dir/, ann_dir/)')
    p.add_argument('--split', default='test')
    p.add_argument('--out', help='metrics JSON '
                   '(default: work_dirs/otsu_baseline/<split>.json)')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing JSON')
    args = p.parse_args(argv)
    out = args.out or osp.join('work_dirs', 'otsu_baseline',
                               f'{args.split}.json')
    if not osp.isdir(args.data_root):
        raise AllidbError(args.data_root, 'data root is not a directory')
    refuse_existing(out, args.force)
    from benchmarks.otsu import evaluate_otsu
    try:
        report = evaluate_otsu(args.data_root, args.split)
    except ValueError as e:  # an unreadable image or mask
        raise AllidbError(str(e)) from e
    atomic_write_json(out, report)
    m, d = report['metrics'], report['detection']
    print(f'Otsu baseline, {report["num_images"]} {args.split} images: '
          f'lymphoblast IoU {m["IoU.lymphoblast"]:.2f} %, '
          f'mIoU {m["mIoU"]:.2f} %, mAcc {m["mAcc"]:.2f} %; blasts: precision '
          f'{d["blast_precision"]:.3f}, recall {d["blast_recall"]:.3f}, '
          f'F1 {d["blast_F1"]:.3f} -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
