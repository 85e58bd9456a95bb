#!/usr/bin/env python
"""Compare the native-scale model with 128_aug and Otsu on ALL-IDB1-size fields.

    python tools/analysis_tools/native_accuracy.py [--work-dir work_dirs/native_accuracy]
        [--seeds 0 1 2] [--methods native 128_aug] [--native-iters 1200]
        [--aug128-iters 2400] [--lr 6e-4]
        [--size 2592 1944] [--train 40] [--val 4] [--test 20] [--data-seed 0]
        [--data-root DIR] [--prepare-data] [--no-figures] [--force]

Builds synthetic fields (half of each split healthy), trains both models from
scratch per seed at the stated budget, tests them and Otsu with the same
scoring (mIoU, lymphoblast IoU, per-blast precision/recall/F1, count MAE,
ALL-vs-healthy accuracy), and writes WORK_DIR/accuracy.md, accuracy.json,
comparison.png and example.png. Finished runs are reused (add seeds later, or
run seeds in parallel processes on one work dir); --force retrains.
Run it with one torch thread (OMP_NUM_THREADS=1) so CPU times compare.
"""
from __future__ import annotations

import argparse
import dataclasses
import os.path as osp
import sys

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    from benchmarks.native_accuracy import DEFAULT_LR, DEFAULT_METHODS, DatasetSpec

    iters = {m.name: m.iters for m in DEFAULT_METHODS}
    spec = DatasetSpec()
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work-dir', default='work_dirs/native_accuracy')
    p.add_argument('--data-root', help='the synthetic set (default: WORK_DIR/data; '
                   'made if missing)')
    p.add_argument('--configs-dir', default=osp.join(REPO, 'configs'))
    p.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='training seeds; the table shows mean ± std')
    p.add_argument('--methods', nargs='+', choices=sorted(iters), default=sorted(iters),
                   help='train/test only these (the table shows what is done)')
    p.add_argument('--native-iters', type=int, default=iters['native'])
    p.add_argument('--aug128-iters', type=int, default=iters['128_aug'])
    p.add_argument('--lr', type=float, default=DEFAULT_LR)
    p.add_argument('--size', type=int, nargs=2, default=list(spec.size),
                   metavar=('W', 'H'))
    p.add_argument('--train', type=int, default=spec.train)
    p.add_argument('--val', type=int, default=spec.val)
    p.add_argument('--test', type=int, default=spec.test)
    p.add_argument('--data-seed', type=int, default=spec.seed)
    p.add_argument('--prepare-data', action='store_true',
                   help='only build (or check) the synthetic set, then stop')
    p.add_argument('--no-figures', action='store_true')
    p.add_argument('--force', action='store_true', help='retrain finished runs')
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from benchmarks import native_accuracy as na

    if min(args.train, args.val, args.test) < 1 or min(args.size) < 64:
        raise AllidbError('--train/--val/--test/--size',
                          'need at least one field per split, 64 px or more')
    spec = na.DatasetSpec(size=tuple(args.size), train=args.train, val=args.val,
                          test=args.test, seed=args.data_seed)
    if args.prepare_data:
        root = args.data_root or osp.join(args.work_dir, 'data')
        info = na.make_dataset(root, spec, progress=True)
        print(f'synthetic set: {root}: ' + ', '.join(
            f'{k} {v["images"]} ({v["healthy"]} healthy, {v["blasts"]} blasts)'
            for k, v in info['splits'].items()))
        return 0
    iters = {'native': args.native_iters, '128_aug': args.aug128_iters}
    methods = tuple(dataclasses.replace(m, iters=iters[m.name])
                    for m in na.DEFAULT_METHODS if m.name in args.methods)

    from tqdm import tqdm
    bar = tqdm(total=len(methods) * len(args.seeds), desc='runs', unit='run')

    def on_step(msg: str, done: bool) -> None:
        tqdm.write(msg)
        if done:
            bar.update(1)

    try:
        out = na.compare(args.work_dir, configs_dir=args.configs_dir,
                         data_root=args.data_root, spec=spec, methods=methods,
                         seeds=tuple(args.seeds), lr=args.lr, force=args.force,
                         figures=not args.no_figures, step=on_step)
    finally:
        bar.close()
    print()
    print(out['markdown'])
    print('written: ' + ', '.join(out['paths']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
