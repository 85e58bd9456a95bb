"""Segment smear images: masks, overlays, blast counts and a report (tools/infer.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..apis.backends import BACKENDS, split_model_args
from ..apis.inferencer import BlastInferencer
from ..products.exports import OBJECT_TYPES
from ..products.report import summary_line
from ..utils import AllidbError
from . import command

SETTINGS = ('device', 'tta', 'threads', 'stain_normalize', 'stain_normalize_all', 'mpp',
            'stain_reference', 'min_blast_area', 'all_min_count', 'all_min_fraction',
            'launcher')  # BlastInferencer's keyword arguments, named as the options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split(' (')[0])
    add = p.add_argument
    add('config', help='mmseg config with a top-level test_pipeline, or an exported MODEL.onnx')
    add('checkpoint', help='trained checkpoint (.pth; trusted file); with MODEL.onnx, the first '
        'input')
    add('inputs', nargs='*', help='image files, folders or globs')
    add('--out-dir', required=True, help='output folder')
    add('--device', choices=['cpu', 'cuda'], help='default: cuda if available, else cpu')
    add('--min-blast-area', type=int, metavar='PX', help='smallest blast counted, in pixels of the '
        "original image (default: a fifth of the expected blast area, from each image's red-cell "
        "size, measured or the config's source_rbc_px)")
    add('--all-min-count', type=int, metavar='N',
        help="flag ALL-suspected at N or more blasts (default: the model's smear call, "
        'smear_call.json beside the checkpoint, when it has one, else 1)')
    add('--all-min-fraction', type=float, default=0.0, metavar='F',
        help='also require this blast area fraction (default 0)')
    add('--mpp', type=float, metavar='MICRONS', help='microns per pixel of the inputs (level 0 of '
        "slides, overriding their own): the working scale of native-scale configs, and for any "
        "config the red-cell size of the minimum blast area and the white-cell count (default: "
        "the slide's, else the red-cell size measured in the image)")
    add('--force', action='store_true', help='overwrite existing output files')
    add('--no-progress', action='store_true', help='no progress bar')
    add('--coco-out', metavar='FILE', help='also write the predicted blasts as a COCO 1.0 '
        'instances file for CVAT ("Upload annotations", COCO 1.0)')  # docs/annotation_loop.md
    add('--geojson', action='store_true', help='also write DIR/geojson/<name>.geojson (QuPath)')
    add('--geojson-type', default='detection', choices=OBJECT_TYPES, help='QuPath object type of '
        'the GeoJSON blasts (default: detection; annotation: editable)')
    add('--backend', choices=BACKENDS, help='default: onnxruntime for a .onnx model, else torch')
    add('--tta', action='store_const', const='d4', help='test-time augmentation: average the '
        'predictions of the 8 flips and 90-degree rotations (8x the network time)')
    add('--threads', type=int, metavar='N', help='CPU threads per process (default: all cores, '
        'or shared among the processes of tools/dist_infer.sh)')
    add('--launcher', choices=['none', 'pytorch'], default='none', help='set by dist_infer.sh')
    add = p.add_argument_group('stain reference').add_argument  # docs/stain_robustness.md
    add('--stain-normalize', nargs='?', const='auto', choices=['auto', 'reinhard', 'macenko'],
        help="map each smear unlike the training data (ood_flag) onto the model's training stain "
        'before segmenting (default method: the one the model was trained with, else reinhard)')
    add('--stain-normalize-all', action='store_true', help='normalize every smear, not only the '
        'flagged ones (always so for a model trained on normalized images)')
    add('--stain-reference', metavar='JSON', help='stain reference to use (default: '
        'stain_reference.json beside the checkpoint, else the one inside it)')
    return p.parse_intermixed_args(argv)  # inputs may follow options


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = split_model_args([args.config, args.checkpoint, *args.inputs], args.backend)
    inferencer = BlastInferencer(*model.files, backend=model.backend,
                                 **{k: getattr(args, k) for k in SETTINGS})
    rows = inferencer(model.inputs, out := Path(args.out_dir), coco_out=args.coco_out,
                      geojson=args.geojson_type if args.geojson else None,
                      force=args.force, progress=not args.no_progress)
    if not inferencer.speaks_for_run:
        return 0  # rank 0 merged the reports and speaks for the run
    print(f'{summary_line(rows)}; report: {out / "report.csv"}')
    print(f'review page: {out / "index.html"}'
          + (f'; COCO for CVAT: {args.coco_out}' if args.coco_out else '')
          + (f'; GeoJSON for QuPath: {out / "geojson"}' if args.geojson else ''))
    if not any(r.status == 'ok' for r in rows):
        raise AllidbError(out / 'report.csv', 'no input image could be segmented (see the error '
                          'column)')
    return 0
