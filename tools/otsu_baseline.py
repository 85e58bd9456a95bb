#!/usr/bin/env python
"""Otsu-threshold baseline on one split; IoU as mmseg's IoUMetric computes it.

    python tools/otsu_baseline.py DATA_ROOT [--split test] [--out JSON] [--force]
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from allidb_mmseg.baselines import evaluate_otsu  # noqa: E402


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
        print(f'error: {args.data_root}: data root is not a directory',
              file=sys.stderr)
        return 2
    if osp.exists(out) and not args.force:
        print(f'error: {out}: exists (use --force to overwrite)',
              file=sys.stderr)
        return 2
    try:
        report = evaluate_otsu(args.data_root, args.split)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.tmp', 'w') as f:
        json.dump(report, f, indent=2)
    os.replace(out + '.tmp', out)
    m = report['metrics']
    print(f'Otsu baseline, {report["num_images"]} {args.split} images: '
          f'lymphoblast IoU {m["IoU.lymphoblast"]:.2f} %, '
          f'mIoU {m["mIoU"]:.2f} %, mAcc {m["mAcc"]:.2f} % -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
