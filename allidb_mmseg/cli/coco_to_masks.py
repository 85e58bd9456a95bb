"""Convert a CVAT "COCO 1.0" export into ALLIDBDataset's img_dir/ann_dir layout.

``allidb-convert``, or ``python tools/dataset_converters/coco_to_masks.py``.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from tqdm import tqdm

from ..converters import ConversionWarning, convert_coco
from ..utils import AllidbError
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--ann', required=True, help='COCO json exported by CVAT')
    p.add_argument('--img-dir', required=True,
                   help='folder the COCO file_name entries are relative to')
    p.add_argument('--out', required=True, help='DATA_ROOT to create')
    p.add_argument('--ratios', type=float, nargs=3, default=[0.8, 0.1, 0.1],
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--category-map', nargs='+', action='extend', default=[],
                   metavar='SRC=DST',
                   help='COCO category name = lymphoblast|background|ignore|'
                   'other_white_cell (or 1|0|255|2; 2 for configs with that class)')
    p.add_argument('--force', action='store_true',
                   help='replace an existing DATA_ROOT (only on success)')
    p.add_argument('--allow-outside-img-dir', action='store_true',
                   help='accept COCO file_name entries that are absolute or '
                   'contain ".." (refused by default: they read files from '
                   'outside --img-dir)')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def parse_category_map(items: list[str]) -> dict[str, str]:
    """'SRC=DST' pairs; split at the last '=' so names may contain '='."""
    mapping = {}
    for item in items:
        src, sep, dst = item.rpartition('=')
        if not sep or not src or not dst:
            raise AllidbError('--category-map', f'{item!r} is not SRC=DST')
        mapping[src] = dst
    return mapping


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_warnings = 0

    def show(message, category, *_args, **_kwargs):
        nonlocal n_warnings
        n_warnings += 1
        tqdm.write(f'warning: {message}', file=sys.stderr)

    with warnings.catch_warnings():  # leave the caller's warning state alone
        warnings.showwarning = show
        warnings.simplefilter('always', ConversionWarning)
        try:
            summary = convert_coco(
                args.ann, args.img_dir, args.out, ratios=args.ratios,
                seed=args.seed,
                category_map=parse_category_map(args.category_map),
                force=args.force, progress=not args.no_progress,
                allow_outside_img_dir=args.allow_outside_img_dir)
        except AllidbError:
            raise
        except OSError as exc:  # disk full, permissions on the output side
            print(f'error: {exc.filename or args.out}: {exc.strerror or exc}', file=sys.stderr)
            return 1
    print(f'wrote {args.out}: {summary["images"]} images, '
          f'categories {summary["categories"]}')
    for split, c in summary['counts'].items():
        print(f'  {split:5s} {c["images"]:4d} images ({c["all"]} ALL, '
              f'{c["healthy"]} healthy), foreground '
              f'{100 * summary["foreground_fraction"][split]:.2f}% of pixels')
    if summary['duplicates']:
        print(f'  duplicate content kept together: {summary["duplicates"]}')
    if n_warnings:
        print(f'  {n_warnings} warning(s), see above')
    return 0
