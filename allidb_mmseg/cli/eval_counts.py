"""Score predicted blast masks against ALL-IDB1 centre files (.xyc).

``allidb-eval-counts``, or ``python tools/analysis_tools/eval_counts.py``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluation import DEFAULT_MIN_BLAST_AREA, AllRule, evaluate_folders
from ..utils import AllidbError, atomic_write_json, refuse_existing
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('pred_dir', help='folder of predicted mask PNGs')
    p.add_argument('xyc_dir', help='folder of .xyc centre files')
    p.add_argument('--min-blast-area', type=int, default=None, metavar='PX',
                   help='smallest blast counted (default: with --images, as '
                   'tools/infer.py: from each image\'s red-cell size; else 150)')
    p.add_argument('--images', metavar='DIR',
                   help='the segmented images (<stem>.*), to measure each '
                   'one\'s red-cell size for the minimum blast area')
    p.add_argument('--all-min-count', type=int, default=1, metavar='N',
                   help='predict ALL at N or more blasts (default 1)')
    p.add_argument('--missing-as-healthy', action='store_true',
                   help='score masks without a .xyc as healthy (no blasts)')
    p.add_argument('--out', help='write all scores as JSON here')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def print_scores(res: dict) -> None:
    """One line per image, then the totals."""
    print(f'{"image":<24} {"true":>5} {"pred":>5} {"hits":>5} {"FP":>4} {"miss":>5} '
          f'{"prec":>6} {"recall":>6} {"err":>4}  ALL(pred/true)')
    for r in res['images']:
        print(f'{r["image"]:<24} {r["true_count"]:>5} {r["pred_count"]:>5} '
              f'{r["hits"]:>5} {r["false_positives"]:>4} {r["misses"]:>5} '
              f'{r["precision"]:>6.3f} {r["recall"]:>6.3f} {r["count_error"]:>+4d}  '
              f'{int(r["pred_all"])}/{int(r["true_all"])}'
              f'{"" if r["all_correct"] else "  wrong"}')
    t = res['total']
    print(f'total: {t["images"]} images, {t["true_count"]} true / {t["pred_count"]} '
          f'predicted blasts; precision {t["precision"]:.3f}, recall '
          f'{t["recall"]:.3f}, mean |count error| {t["mean_abs_count_error"]:.2f}, '
          f'ALL-vs-healthy accuracy {t["all_accuracy"]:.3f}')


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for d in (args.pred_dir, args.xyc_dir) + ((args.images,) if args.images else ()):
        if not Path(d).is_dir():
            raise AllidbError(d, 'no such folder')
    if args.out:
        refuse_existing(args.out, args.force)
    if args.min_blast_area is None and not args.images:
        args.min_blast_area = DEFAULT_MIN_BLAST_AREA
    res = evaluate_folders(args.pred_dir, args.xyc_dir, args.min_blast_area,
                           AllRule(min_count=args.all_min_count),
                           args.missing_as_healthy, not args.no_progress,
                           images_dir=args.images)
    un = res['unmatched']
    if un['masks_without_xyc']:
        print(f'warning: {len(un["masks_without_xyc"])} masks have no .xyc in '
              f'{args.xyc_dir} (skipped; see --missing-as-healthy), e.g. '
              f'{un["masks_without_xyc"][0]}', file=sys.stderr)
    if un['xyc_without_mask']:
        print(f'warning: {len(un["xyc_without_mask"])} .xyc files have no mask '
              f'in {args.pred_dir} (skipped), e.g. {un["xyc_without_mask"][0]}',
              file=sys.stderr)
    if not res['images']:
        raise AllidbError(args.pred_dir, f'no mask PNG pairs with a .xyc in {args.xyc_dir}')
    print_scores(res)
    if args.out:
        atomic_write_json(args.out, res, indent=1)
        print(f'scores: {args.out}')
    return 0
