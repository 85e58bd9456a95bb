#!/usr/bin/env python
"""The real-data benchmark: real white-cell fields, in-domain and cross-lab.

    python tools/analysis_tools/real_benchmark.py --real-root ../shared/real
        [--work-dir work_dirs/real_data] [--seeds 0 1] [--methods 128_aug native ...]
        [--iters NAME=N ...] [--train 40] [--val 8] [--test 20] [--crosslab 20]
        [--data-seed 0] [--prepare-data] [--force]

Builds ALL-IDB1-like fields from Zheng et al.'s expert-labelled crops (lymphocytes are
the target, the other white cells look-alike background; disjoint crop pools; a second
lab's crops as a cross-lab test), trains each method from scratch per seed, and scores
target IoU, per-cell P/R/F1, count MAE and smear-level accuracy, as given and with the
stain measures. Writes WORK_DIR/real_data.md and real_data.json (docs/real_data.md).
The real images are read from --real-root and never copied into the repository.
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
    from benchmarks.real_data import METHODS
    from benchmarks.real_fields import FieldSpec

    spec = FieldSpec()
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--real-root', required=True,
                   help='the folder holding zheng_wbc/ (e.g. ../shared/real)')
    p.add_argument('--work-dir', default='work_dirs/real_data')
    p.add_argument('--configs-dir', default=osp.join(REPO, 'configs'))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--methods', nargs='+', choices=list(METHODS),
                   default=['128_aug', 'native', 'native_real'])
    p.add_argument('--iters', nargs='+', default=[], metavar='NAME=N',
                   help='another training budget for a method')
    for split in ('train', 'val', 'test', 'crosslab'):
        p.add_argument(f'--{split}', type=int, default=getattr(spec, split),
                       help=f'{split} fields (default {getattr(spec, split)})')
    p.add_argument('--data-seed', type=int, default=spec.seed)
    p.add_argument('--prepare-data', action='store_true',
                   help='only build (or check) the fields, then stop')
    p.add_argument('--force', action='store_true', help='retrain finished runs')
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from benchmarks import real_data as rd
    from benchmarks.real_fields import FieldSpec, make_real_fields

    counts = dict(train=args.train, val=args.val, test=args.test, crosslab=args.crosslab)
    if min(counts.values()) < 1:
        raise AllidbError('--train/--val/--test/--crosslab', 'need at least one field each')
    spec = FieldSpec(seed=args.data_seed, **counts)
    if args.prepare_data:
        info = make_real_fields(args.real_root, osp.join(args.work_dir, 'data'), spec,
                                step=print)
        print(', '.join(f"{k} {v['fields']} fields ({v['targets']} targets)"
                        for k, v in info['splits'].items()))
        return 0
    budgets = {}
    for item in args.iters:
        name, _, n = item.partition('=')
        if name not in rd.METHODS or not n.isdigit():
            raise AllidbError(item, 'not NAME=ITERATIONS with a known method')
        budgets[name] = int(n)
    methods = [dataclasses.replace(rd.METHODS[m], iters=budgets.get(m, rd.METHODS[m].iters))
               for m in args.methods]
    out = rd.run_real_benchmark(args.real_root, args.work_dir, args.configs_dir, methods,
                                seeds=args.seeds, spec=spec, force=args.force, step=print)
    print()
    print(rd.to_markdown(out))
    print(f"written: {osp.join(args.work_dir, 'real_data.md')}, "
          f"{osp.join(args.work_dir, 'real_data.json')}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
