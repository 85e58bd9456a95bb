#!/usr/bin/env python
"""Measure the red-cell size estimate on synthetic fields of known scale.

    python tools/analysis_tools/rbc_size_accuracy.py [--widths 320 640 ...]
        [--per-width 6] [--seed 0] [--rbc-density D] [--out JSON] [--force]
    python tools/analysis_tools/rbc_size_accuracy.py --real-root ../shared/real
        [--per-source N] [--box-side {max,mean}] [--out JSON] [--force]

Prints the error per image width (Markdown) and writes every field's row to
JSON (default work_dirs/rbc_size_accuracy.json). With ``--real-root``, real
smears with red-cell boxes instead (benchmarks/rbc_size.py): per source, the
fields, median |error|, share within 20 %, share flagged unsure and the
within-20 % share of the fields not unsure; then the same errors after
dividing by one global factor (the median ruler / box ratio) and the
share of misread fields (and of the rest) flagged unsure.
"""
from __future__ import annotations

import argparse
import sys

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, atomic_write_json, refuse_existing


@command
def main(argv=None) -> int:
    from benchmarks import rbc_size

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--widths', type=int, nargs='+',
                   default=list(rbc_size.DEFAULT_WIDTHS),
                   help='field widths in pixels (4:3 fields)')
    p.add_argument('--per-width', type=int, default=6)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--rbc-density', type=float,
                   help="red-cell density (default: the generator's, 0.6-1.05)")
    p.add_argument('--real-root',
                   help='the shared real data (bccd/, txl_pbc/, zheng_wbc/) '
                        'instead of synthetic fields')
    p.add_argument('--per-source', type=int,
                   help='at most N fields per real source (default: all)')
    p.add_argument('--box-side', choices=sorted(rbc_size.BOX_SIDES), default='max',
                   help="a red-cell box's size: max(w, h) (default) or (w + h) / 2")
    p.add_argument('--out', default='work_dirs/rbc_size_accuracy.json')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing JSON')
    args = p.parse_args(argv)
    if min(args.widths) < 64 or args.per_width < 1:
        raise AllidbError('--widths/--per-width',
                          'widths must be >= 64 px, per-width >= 1')
    refuse_existing(args.out, args.force)
    if args.real_root:
        return _real(args, rbc_size)
    rows = rbc_size.measure_rbc_estimates(args.widths, args.per_width, args.seed,
                                          args.rbc_density, progress=True)
    summary = rbc_size.summarize_estimates(rows)
    atomic_write_json(args.out, dict(settings=vars(args), summary=summary,
                                     fields=rows))
    print(rbc_size.format_estimates(summary))
    print(f'written: {args.out}')
    return 0


def _real(args: argparse.Namespace, rbc_size) -> int:
    from pathlib import Path

    if not Path(args.real_root).is_dir():
        raise AllidbError(args.real_root, 'no such folder (--real-root)')
    if args.per_source is not None and args.per_source < 1:
        raise AllidbError('--per-source', 'must be >= 1')
    fields = rbc_size.real_fields(args.real_root, args.per_source, args.box_side)
    if not fields:
        raise AllidbError(args.real_root, 'no real smear with red-cell boxes '
                          'found (expected bccd/, txl_pbc/ or zheng_wbc/)')
    rows = rbc_size.measure_real(fields, progress=True)
    factor = rbc_size.global_factor(rows)
    summary = rbc_size.summarize_real(rows, factor=factor)
    atomic_write_json(args.out, dict(settings=vars(args), global_factor=factor,
                                     summary=summary, fields=rows))
    print(rbc_size.format_real(summary, rbc_size.RBC_CONFIDENCE_MIN, factor))
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
