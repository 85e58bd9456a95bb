#!/usr/bin/env python
"""Measure the red-cell size estimate on synthetic fields of known scale.

    python tools/analysis_tools/rbc_size_accuracy.py [--widths 320 640 ...]
        [--per-width 6] [--seed 0] [--rbc-density D] [--out JSON] [--force]

Prints the error per image width (Markdown) and writes every field's row to
JSON (default work_dirs/rbc_size_accuracy.json).
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
    p.add_argument('--out', default='work_dirs/rbc_size_accuracy.json')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing JSON')
    args = p.parse_args(argv)
    if min(args.widths) < 64 or args.per_width < 1:
        raise AllidbError('--widths/--per-width',
                          'widths must be >= 64 px, per-width >= 1')
    refuse_existing(args.out, args.force)
    rows = rbc_size.measure_rbc_estimates(args.widths, args.per_width, args.seed,
                                          args.rbc_density, progress=True)
    summary = rbc_size.summarize_estimates(rows)
    atomic_write_json(args.out, dict(settings=vars(args), summary=summary,
                                     fields=rows))
    print(rbc_size.format_estimates(summary))
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
