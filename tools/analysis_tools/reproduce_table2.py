#!/usr/bin/env python
"""Reproduce the paper's Table II: train and test the four SegFormer variants,
plus the native-scale config as an extra row "beyond the paper".

    python tools/analysis_tools/reproduce_table2.py --data-root data/allidb \
        [--work-dir work_dirs/table2] [--pretrained mit_b0] [--seeds 0 1 2] \
        [--cfg-options train_cfg.max_iters=...] [--variants CONFIG ...] \
        [--no-otsu] [--force]

Writes WORK_DIR/table2.md and WORK_DIR/table2.csv (paper's numbers beside ours,
0-1 units; lymphoblast IoU and Dice, per-blast precision/recall/F1; mean ± std
over seeds). A run already tested in WORK_DIR is reused unless --force.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from allidb_mmseg.cli import command

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@command
def main(argv=None) -> int:
    from benchmarks import table2
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default=os.environ.get(
        'ALLIDB_DATA_ROOT', 'data/allidb'),
        help='dataset root (default: $ALLIDB_DATA_ROOT or data/allidb)')
    p.add_argument('--work-dir', default='work_dirs/table2')
    p.add_argument('--configs-dir', default=osp.join(REPO, 'configs'))
    p.add_argument('--pretrained', default=os.environ.get('ALLIDB_PRETRAINED'),
                   help='MiT weights: a file, mmseg\'s URL or mit_b0..mit_b5 '
                   '(default: $ALLIDB_PRETRAINED)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='train each variant once per seed; the table shows '
                   'mean ± std (default: 0)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='applied to all four configs')
    p.add_argument('--variants', nargs='+', metavar='CONFIG',
                   help='only these variants (config names, e.g. '
                   'segformer_allidb_128_aug, segformer_allidb_native_aug); '
                   'the others show "-"')
    p.add_argument('--no-otsu', action='store_true',
                   help='leave out the Otsu baseline row')
    p.add_argument('--force', action='store_true',
                   help='retrain every variant and overwrite the tables')
    args = p.parse_args(argv)

    variants = table2.select_variants(args.variants)
    table2.preflight(args.data_root, args.work_dir, args.force)

    from tqdm import tqdm
    bar = tqdm(total=len(variants), desc='Table II', unit='variant')

    def on_step(msg: str, variant_done: bool) -> None:
        tqdm.write(msg)
        if variant_done:
            bar.update(1)

    try:
        out = table2.reproduce(
            args.data_root, args.work_dir, configs_dir=args.configs_dir,
            cfg_options=args.cfg_options, pretrained=args.pretrained,
            force=args.force, otsu=not args.no_otsu, variants=variants,
            seeds=args.seeds, on_step=on_step)
    finally:
        bar.close()
    print()
    print(table2.to_markdown(out['rows']))
    print(f'written: {out["markdown"]}, {out["csv"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
