"""Segment smear images: masks, overlays, blast counts and a report.

    python tools/infer.py CONFIG CHECKPOINT INPUTS... --out-dir DIR
        [--device cpu|cuda] [--min-blast-area PX] [--all-min-count N]
        [--mpp MICRONS] [--force]
        [--coco-out FILE] [--geojson] [--tta] [--threads N]
        [--stain-normalize [reinhard|macenko] [--stain-normalize-all]]
        [--stain-reference JSON]
    python tools/infer.py MODEL.onnx INPUTS... --out-dir DIR [same options]

A MODEL.onnx (tools/deployment/export_onnx.py) runs on onnxruntime, without
torch or mmseg; several processes: tools/dist_infer.sh.

INPUTS are files, folders (their files) or glob patterns. Writes
DIR/masks/<name>.png, DIR/overlays/<name>.png, DIR/report.csv,
DIR/report.json and the review page DIR/index.html (pictures in DIR/review/).
Whole-slide images (.svs, .ndpi, .mrxs, tiled or pyramidal TIFF, ...) are
read region by region; their mask is DIR/masks/<name>.ome.tif (tiled,
pyramidal) and their overlay is downsampled. Refuses (exit 2) if any of those
files exists, unless --force. Files that cannot be read are listed as failed
in the report; the exit code is non-zero only if no file was segmented.
Ctrl-C or SIGTERM stop the run (exit 130 or 143) after writing the report of
the images done so far.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:
    from allidb_mmseg.utils import (AllidbError, check_writable_dir,
                                    remove_stale_temps, tool_main)
except ImportError as exc:  # run outside the project's venv
    sys.exit(f'error: {exc.name}: not installed for {sys.executable}; run '
             '`make install`, then `. .venv/bin/activate`')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from allidb_mmseg.apis.backends import BACKENDS
    from allidb_mmseg.products.exports import OBJECT_TYPES

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='mmseg config with a top-level '
                   'test_pipeline, or an exported MODEL.onnx')
    p.add_argument('checkpoint', help='trained checkpoint (.pth; trusted '
                   'file); with MODEL.onnx, the first input')
    p.add_argument('inputs', nargs='*', help='image files, folders or globs')
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
    p.add_argument('--mpp', type=float, default=None, metavar='MICRONS',
                   help='microns per pixel of the inputs (level 0 for slides); '
                   'sets the working scale of native-scale configs and '
                   "overrides a slide's own (default: the slide's, else the "
                   'red-cell size measured in the image)')
    p.add_argument('--force', action='store_true',
                   help='overwrite existing output files')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    # Annotation-tool exports (docs/annotation_loop.md); index.html is always written.
    p.add_argument('--coco-out', metavar='FILE', help='also write the predicted '
                   'blasts as a COCO 1.0 instances file for CVAT ("Upload '
                   'annotations", COCO 1.0)')
    p.add_argument('--geojson', action='store_true', help='also write '
                   'DIR/geojson/<name>.geojson per image, for QuPath')
    p.add_argument('--geojson-type', default='detection', choices=OBJECT_TYPES,
                   help='QuPath object type of the GeoJSON blasts (default: '
                   'detection; annotation: editable)')
    # Backends, test-time augmentation, several processes (docs/deployment.md).
    p.add_argument('--backend', choices=BACKENDS,
                   help='default: onnxruntime for a .onnx model, else torch')
    p.add_argument('--tta', action='store_const', const='d4',
                   help='test-time augmentation: average the predictions of '
                   'the 8 flips and 90-degree rotations (8x the network time)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads per process (default: all cores, or '
                   'shared among the processes of tools/dist_infer.sh)')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                   help='set by tools/dist_infer.sh')
    # Stain robustness (docs/stain_robustness.md): the model's stain reference
    # gives each report row an OOD score and flag, and can normalize inputs.
    g = p.add_argument_group('stain reference')
    g.add_argument('--stain-normalize', nargs='?', const='auto', default=None,
                   choices=['auto', 'reinhard', 'macenko'],
                   help="map each smear that looks unlike the training data "
                   "(ood_flag) onto the model's training stain before segmenting "
                   '(default method: the one the model was trained with, else '
                   'reinhard)')
    g.add_argument('--stain-normalize-all', action='store_true',
                   help='normalize every smear, not only the flagged ones (always '
                   'so for a model trained on normalized images)')
    g.add_argument('--stain-reference', metavar='JSON', default=None,
                   help='stain reference to use (default: stain_reference.json '
                   'beside the checkpoint, else the one inside it)')
    # Intermixed: inputs may follow options (CONFIG CKPT --device cpu IMG).
    return p.parse_intermixed_args(argv)


@tool_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from allidb_mmseg.apis.backends import open_model, split_model_args

    model_args = split_model_args([args.config, args.checkpoint, *args.inputs],
                                  args.backend)
    args.inputs = model_args.inputs
    for f in model_args.files:
        if not Path(f).is_file():
            raise AllidbError(f, 'no such file')
    if args.threads is not None and args.threads < 1:
        raise AllidbError('--threads', f'must be at least 1, got {args.threads}')
    if args.min_blast_area is not None and args.min_blast_area < 1:
        raise AllidbError('--min-blast-area',
                          f'must be at least 1, got {args.min_blast_area}')
    if args.mpp is not None and not args.mpp > 0:
        raise AllidbError('--mpp', f'must be positive, got {args.mpp}')
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AllidbError(out_dir, 'exists and is not a folder')
    check_writable_dir(out_dir, '--out-dir')  # before the model loads
    for folder in (out_dir, out_dir / 'masks', out_dir / 'overlays'):
        remove_stale_temps(folder)  # of runs that were killed

    from allidb_mmseg.apis import (collect_inputs, existing_outputs, plan_names,
                                   run_batch)
    from allidb_mmseg.products.report import summary_line
    from allidb_mmseg.products.sinks import output_sinks, skipped_line
    from allidb_mmseg.evaluation import AllRule

    items = collect_inputs(args.inputs)
    if not items:
        raise AllidbError(" ".join(args.inputs), 'no input files found')
    names = plan_names([it.file for it in items])
    files = [it.file for it in items]
    sinks = output_sinks(out_dir, args.coco_out, args.geojson, args.geojson_type)
    clash = existing_outputs(out_dir, names, files) + [
        p for s in sinks for p in s.outputs(files, names) if p.exists()]
    if clash and not args.force:
        more = f' (and {len(clash) - 1} more)' if len(clash) > 1 else ''
        raise AllidbError(clash[0], f'output exists{more}; use --force to '
                          'overwrite')

    from allidb_mmseg.products.stain_check import load_stain_check, ood_summary_line
    if args.stain_normalize_all and not args.stain_normalize:
        args.stain_normalize = 'auto'
    stain = load_stain_check(model_args.files[-1], args.stain_reference,
                             args.stain_normalize, args.stain_normalize_all)
    if stain is None:
        print(f'note: {model_args.files[-1]}: no stain reference saved with this model, '
              'so no out-of-distribution check (fit one with '
              'tools/analysis_tools/fit_stain_reference.py)', file=sys.stderr)

    dist = args.launcher == 'pytorch'
    if dist:
        from allidb_mmseg.apis.distributed import default_threads, run_distributed
    threads = args.threads or (default_threads() if dist else None)
    model, device = open_model(
        model_args, args.device, tta=args.tta, threads=threads,
        local_rank=int(os.environ.get('LOCAL_RANK', 0)) if dist else None)
    if args.min_blast_area is None:  # an exported model's sidecar may say
        spec = getattr(model, 'spec', None)
        args.min_blast_area = getattr(spec, 'min_blast_area', None)

    from tqdm import tqdm

    def on_fail(row) -> None:
        tqdm.write(f'warning: {row.file}: {row.error} (skipped)', file=sys.stderr)

    rule = AllRule(min_count=args.all_min_count,
                   min_fraction=args.all_min_fraction)
    settings = dict(model_args.settings(), device=device,
                    backend=model_args.backend, tta=args.tta, mpp=args.mpp,
                    **(stain.settings() if stain else {}))
    run = run_distributed if dist else run_batch
    rows = run(model, items, out_dir, min_area=args.min_blast_area,
               rule=rule, progress=not args.no_progress, on_fail=on_fail,
               settings=settings, sinks=sinks, stain=stain, mpp=args.mpp)
    if dist and os.environ.get('RANK', '0') != '0':
        return 0  # rank 0 merged the reports and speaks for the run
    skipped = skipped_line(sinks)
    if skipped:
        print(f'note: {skipped}', file=sys.stderr)
    print(f'{summary_line(rows)}; report: {out_dir / "report.csv"}')
    print(f'review page: {out_dir / "index.html"}' + (
        f'; COCO for CVAT: {args.coco_out}' if args.coco_out else '') + (
        f'; GeoJSON for QuPath: {out_dir / "geojson"}' if args.geojson else ''))
    ood = ood_summary_line(rows)
    if ood:
        print(f'warning: {ood}', file=sys.stderr)
    if not any(r.status == 'ok' for r in rows):
        print(f'error: {out_dir / "report.csv"}: no input image could be '
              'segmented (see the error column)', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
