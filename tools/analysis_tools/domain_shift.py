#!/usr/bin/env python
"""Domain-shift benchmark: train on one synthetic stain profile, test on every profile.

    python tools/analysis_tools/domain_shift.py --out work_dirs/domain_shift \
        [--train-profile lab_a] [--test-profiles lab_b yellow pale] \
        [--variant plain=configs/segformer_allidb_256.py] \
        [--variant stain_aug=configs/segformer_allidb_256_stain_aug.py] \
        [--num-train 32] [--num-test 16] [--size 256] [--iters 400] [--seed 0] [--force]

Each variant is trained once (a finished run in OUT is reused) and tested on every
profile as is, with --stain-normalize (Reinhard, the flagged smears) and with
--stain-normalize-all. Writes OUT/domain_shift.md and
OUT/domain_shift.json: lymphoblast IoU, blast P/R/F1, OOD flag precision/recall.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allidb_mmseg.cli import command
from allidb_mmseg.synthetic import STAIN_PROFILES
from allidb_mmseg.utils import AllidbError

DEFAULT_VARIANTS = ['plain=configs/segformer_allidb_256.py',
                    'stain_aug=configs/segformer_allidb_256_stain_aug.py']


@command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output folder (sets, runs, tables)')
    p.add_argument('--train-profile', default='lab_a', choices=list(STAIN_PROFILES))
    p.add_argument('--test-profiles', nargs='+', choices=list(STAIN_PROFILES),
                   default=['lab_b', 'yellow', 'pale'])
    p.add_argument('--variant', action='append', metavar='NAME=CONFIG',
                   help='a model to train (repeatable; default: '
                   + ', '.join(DEFAULT_VARIANTS) + ')')
    p.add_argument('--num-train', type=int, default=32)
    p.add_argument('--num-test', type=int, default=16)
    p.add_argument('--size', type=int, default=256, help='square field size, px')
    p.add_argument('--iters', type=int, default=400)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--blast-weight', type=float, default=10.0,
                   help='cross-entropy weight of the blast class (default 10, '
                   'as the demo; the native config learns best with 1)')
    p.add_argument('--force', action='store_true',
                   help='write the tables into an OUT that already holds them')
    args = p.parse_args(argv)

    from benchmarks.domain_shift import Variant, run_domain_shift

    variants = [Variant.parse(spec) for spec in args.variant or DEFAULT_VARIANTS]
    table = Path(args.out) / 'domain_shift.md'
    if table.exists() and not args.force:
        raise AllidbError(table, 'exists (use --force to overwrite)')
    result = run_domain_shift(args.out, variants, args.train_profile, args.test_profiles,
                              num_train=args.num_train, num_test=args.num_test,
                              size=args.size, iters=args.iters, seed=args.seed,
                              blast_weight=args.blast_weight)
    print(table.read_text(), end='')
    print(f'written: {table} and domain_shift.json ({len(result["rows"])} rows)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
