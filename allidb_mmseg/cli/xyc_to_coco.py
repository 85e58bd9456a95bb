"""Bootstrap COCO blast polygons from ALL-IDB1 centre files (.xyc).

``allidb-xyc-to-coco``, or ``python tools/dataset_converters/xyc_to_coco.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..converters import bootstrap_coco
from ..utils import AllidbError, atomic_write_bytes, refuse_existing
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('img_dir', help='folder of smear images')
    p.add_argument('xyc_dir', help='folder of <stem>.xyc centre files')
    p.add_argument('--out', required=True, help='COCO json to write')
    p.add_argument('--radius', type=float, default=None, metavar='PX',
                   help='expected blast radius in pixels (default: image width / 25)')
    p.add_argument('--missing-as-healthy', action='store_true',
                   help='include images without a .xyc, with no blasts')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def warn_skipped(log: list[dict]) -> None:
    """One ``warning:`` line per image skipped, failed or with dropped centres."""
    for e in log:
        if e['status'] != 'ok':
            what = e['error'] if e['status'] == 'failed' else f'{e["image"]}: {e["error"]}'
            print(f'warning: {what} ({e["status"]})', file=sys.stderr)
        elif e['notes']:
            print(f'warning: {e["image"]}: {len(e["notes"])} centre(s): '
                  f'{e["notes"][0]}', file=sys.stderr)
        if e.get('outside'):
            x, y = e['outside'][0]
            print(f'warning: {e["xyc"]}: {len(e["outside"])} centre(s) '
                  f'outside the {e["size"][0]}x{e["size"][1]} image skipped, '
                  f'e.g. ({x:g}, {y:g})', file=sys.stderr)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for d in (args.img_dir, args.xyc_dir):
        if not Path(d).is_dir():
            raise AllidbError(d, 'no such folder')
    refuse_existing(args.out, args.force)
    if args.radius is not None and args.radius <= 0:
        raise AllidbError('--radius', f'must be positive, got {args.radius}')

    doc, log = bootstrap_coco(args.img_dir, args.xyc_dir, args.radius,
                              args.missing_as_healthy, not args.no_progress)
    warn_skipped(log)
    if not doc['images']:
        raise AllidbError(args.img_dir, 'no image could be paired with a .xyc '
                          f'in {args.xyc_dir}')
    atomic_write_bytes(args.out, json.dumps(doc).encode())
    n_skip = sum(e['status'] != 'ok' for e in log)
    print(f'{len(doc["images"])} images, {len(doc["annotations"])} blast polygons '
          f'-> {args.out}; {n_skip} images skipped or failed')
    return 0
