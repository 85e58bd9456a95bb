"""Segment smear images: masks, overlays, blast counts and a report.

    python tools/infer.py CONFIG CHECKPOINT INPUTS... --out-dir DIR
        [--device cpu|cuda] [--min-blast-area PX] [--all-min-count N] [--force]
        [--coco-out FILE] [--geojson]

INPUTS are files, folders (their files) or glob patterns. Writes
DIR/masks/<name>.png, DIR/overlays/<name>.png, DIR/report.csv,
DIR/report.json and the review page DIR/index.html (pictures in DIR/review/).
Refuses (exit 2) if any of those files exists, unless --force. Files that
cannot be read are listed as failed in the report; the exit code is non-zero
only if no file was segmented.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from allidb_mmseg.utils import AllidbError, first_line, tool_main
except ImportError as exc:  # run outside the project's venv
    sys.exit(f'error: {exc.name}: not installed for {sys.executable}; run '
             '`make install`, then `. .venv/bin/activate`')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='mmseg config with a top-level test_pipeline')
    p.add_argument('checkpoint', help='trained checkpoint (.pth; trusted file)')
    p.add_argument('inputs', nargs='+', help='image files, folders or globs')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--device', default=None, choices=['cpu', 'cuda'],
                   help='default: cuda if available, else cpu')
    p.add_argument('--min-blast-area', type=int, default=None, metavar='PX',
                   help='smallest blast counted, in pixels of the original '
                   'image (default: a fifth of the expected blast area, from '
                   'the red-cell size measured in each image, or the '
                   "config's source_rbc_px)")
    p.add_argument('--all-min-count', type=int, default=1, metavar='N',
                   help='flag ALL-suspected at N or more blasts (default 1)')
    p.add_argument('--all-min-fraction', type=float, default=0.0, metavar='F',
                   help='also require this blast area fraction (default 0)')
    p.add_argument('--force', action='store_true',
                   help='overwrite existing output files')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    # Annotation-tool exports (docs/annotation_loop.md); index.html is always written.
    p.add_argument('--coco-out', metavar='FILE', help='also write the predicted '
                   'blasts as a COCO 1.0 instances file for CVAT ("Upload '
                   'annotations", COCO 1.0)')
    p.add_argument('--geojson', action='store_true', help='also write '
                   'DIR/geojson/<name>.geojson per image, for QuPath')
    p.add_argument('--geojson-type', default='detection',
                   choices=['detection', 'annotation'],
                   help='QuPath object type of the GeoJSON blasts (default: '
                   'detection; annotation: editable)')
    return p.parse_args(argv)


@tool_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for f in (args.config, args.checkpoint):
        if not Path(f).is_file():
            raise AllidbError(f, 'no such file')
    if args.min_blast_area is not None and args.min_blast_area < 1:
        raise AllidbError('--min-blast-area',
                          f'must be at least 1, got {args.min_blast_area}')
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AllidbError(out_dir, 'exists and is not a folder')

    from allidb_mmseg.apis import (collect_inputs, existing_outputs, load_model,
                                   plan_names, run_batch)
    from allidb_mmseg.apis.report import summary_line
    from allidb_mmseg.apis.sinks import output_sinks
    from allidb_mmseg.evaluation import AllRule

    items = collect_inputs(args.inputs)
    if not items:
        raise AllidbError(" ".join(args.inputs), 'no input files found')
    names = plan_names([it.file for it in items])
    sinks = output_sinks(out_dir, args.coco_out, args.geojson, args.geojson_type)
    clash = existing_outputs(out_dir, names) + [
        p for s in sinks for p in s.outputs([it.file for it in items], names)
        if p.exists()]
    if clash and not args.force:
        more = f' (and {len(clash) - 1} more)' if len(clash) > 1 else ''
        raise AllidbError(clash[0], f'output exists{more}; use --force to '
                          'overwrite')

    import torch
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda' and not torch.cuda.is_available():
        raise AllidbError('--device cuda', 'no CUDA device is available '
                          '(use --device cpu)')
    try:
        model = load_model(args.config, args.checkpoint, device=device)
    except AllidbError:
        raise
    except Exception as e:
        raise AllidbError(args.checkpoint, f'cannot load model with '
                          f'{args.config}: {first_line(e)}') from e

    from tqdm import tqdm

    def on_fail(row) -> None:
        tqdm.write(f'warning: {row.file}: {row.error} (skipped)', file=sys.stderr)

    rule = AllRule(min_count=args.all_min_count,
                   min_fraction=args.all_min_fraction)
    rows = run_batch(model, items, out_dir, min_area=args.min_blast_area,
                     rule=rule, progress=not args.no_progress, on_fail=on_fail,
                     settings=dict(config=str(args.config),
                                   checkpoint=str(args.checkpoint),
                                   device=device), sinks=sinks)
    print(f'{summary_line(rows)}; report: {out_dir / "report.csv"}')
    print(f'review page: {out_dir / "index.html"}' + (
        f'; COCO for CVAT: {args.coco_out}' if args.coco_out else '') + (
        f'; GeoJSON for QuPath: {out_dir / "geojson"}' if args.geojson else ''))
    if not any(r.status == 'ok' for r in rows):
        print(f'error: {out_dir / "report.csv"}: no input image could be '
              'segmented (see the error column)', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
