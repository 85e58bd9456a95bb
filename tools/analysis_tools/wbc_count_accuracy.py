#!/usr/bin/env python
"""Check the white-cell counter on real smears with white-cell boxes.

    python tools/analysis_tools/wbc_count_accuracy.py --real-root ../shared/real
        [--per-source N] [--out JSON] [--force]

Prints, per source (BCCD, TXL-PBC's merged sources), the share of fields
counted exactly, the mean absolute and the mean signed error, at the
red-cell size of the field's boxes and at the ruler's (benchmarks/wbc_count.py),
and writes every field's row to JSON (default work_dirs/wbc_count_accuracy.json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, atomic_write_json, refuse_existing


@command
def main(argv=None) -> int:
    from benchmarks import rbc_size, wbc_count

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--real-root', required=True,
                   help='the shared real data (bccd/, txl_pbc/)')
    p.add_argument('--per-source', type=int,
                   help='at most N fields per source (default: all)')
    p.add_argument('--out', default='work_dirs/wbc_count_accuracy.json')
    p.add_argument('--force', action='store_true', help='overwrite an existing JSON')
    args = p.parse_args(argv)
    if not Path(args.real_root).is_dir():
        raise AllidbError(args.real_root, 'no such folder (--real-root)')
    if args.per_source is not None and args.per_source < 1:
        raise AllidbError('--per-source', 'must be >= 1')
    refuse_existing(args.out, args.force)
    rows = wbc_count.measure_wbc_real(rbc_size.real_fields(args.real_root, args.per_source),
                                      progress=True)
    if not rows:
        raise AllidbError(args.real_root, 'no real smear with white-cell boxes found '
                          '(expected bccd/ or txl_pbc/)')
    summary = wbc_count.summarize_wbc(rows)
    atomic_write_json(args.out, dict(settings=vars(args), summary=summary, fields=rows))
    print(wbc_count.format_wbc(summary))
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
