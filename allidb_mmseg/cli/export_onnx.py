"""Export a trained segmentor to ONNX, with a JSON sidecar, checked against torch.

``allidb-export``, or ``python tools/deployment/export_onnx.py``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..deployment.quantize import int8_path, offer_int8
from ..deployment.sidecar import sidecar_path
from ..utils import AllidbError, one_line_errors, pair_by_stem, refuse_existing, split_pairs
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='mmseg config with a top-level test_pipeline')
    p.add_argument('checkpoint', help='trained checkpoint (.pth; trusted file)')
    p.add_argument('--out', required=True, help='the .onnx file to write; the '
                   'sidecar goes beside it with .json')
    p.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    p.add_argument('--tolerance', type=float, default=1e-4,
                   help='largest accepted max |logit difference| between '
                   'torch and onnxruntime (default 1e-4)')
    p.add_argument('--portable', action='store_true',
                   help='standard ONNX operators only (for runtimes other than '
                   'onnxruntime); by default attention is onnxruntime\'s fused '
                   'com.microsoft.MultiHeadAttention')
    p.add_argument('--force', action='store_true', help='overwrite existing files')
    q = p.add_argument_group('int8')
    q.add_argument('--int8', action='store_true',
                   help='also write OUT.int8.onnx if it keeps mIoU within 0.5')
    q.add_argument('--data-root', help='labelled dataset (img_dir/ann_dir) to '
                   'calibrate and score the int8 model on')
    q.add_argument('--split', default='val', help='split scored (default val)')
    q.add_argument('--calib-split', default='train',
                   help='split whose images calibrate int8 (default train)')
    q.add_argument('--calib-images', type=int, default=16,
                   help='calibration images (default 16)')
    return p.parse_args(argv)


def int8_inputs(args: argparse.Namespace) -> tuple[list, list]:
    """(scored pairs, calibration images) from --data-root, or an error."""
    if not args.data_root:
        raise AllidbError('--int8', 'needs --data-root (a labelled split to '
                          'score the int8 model on)')
    root = Path(args.data_root)
    pairs = split_pairs(root, args.split)
    calib = pair_by_stem(root / 'img_dir' / args.calib_split,
                         root / 'ann_dir' / args.calib_split).pairs or pairs
    if args.calib_images < 1:
        raise AllidbError('--calib-images', 'must be at least 1')
    return ([(str(i), str(m)) for i, m in pairs],
            [str(i) for i, _ in calib[:args.calib_images]])


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for f in (args.config, args.checkpoint):
        if not Path(f).is_file():
            raise AllidbError(f, 'no such file')
    outs = [Path(args.out), sidecar_path(args.out)]
    if args.int8:
        outs += [int8_path(args.out), sidecar_path(int8_path(args.out))]
    for p in outs:  # refused (unless --force) before any work
        refuse_existing(p, args.force)
    int8 = int8_inputs(args) if args.int8 else None
    import onnx  # noqa: F401  (torch.onnx needs it; missing: one line, before the export)
    import onnxruntime  # noqa: F401
    from ..deployment.export import export_onnx  # lazy: torch

    doc = export_onnx(args.config, args.checkpoint, args.out, opset=args.opset,
                      tolerance=args.tolerance, force=args.force,
                      portable=args.portable)
    worst = max(c['max_abs_diff'] for c in doc['export']['check'])
    print(f'wrote {args.out} and {sidecar_path(args.out)}: opset {args.opset}, dynamic '
          f'N/H/W, {doc["mode"]} inference; torch vs onnxruntime max |logit '
          f'diff| {worst:.1e} (limit {args.tolerance:g})')
    if int8 is None:
        return 0
    pairs, calib = int8
    with one_line_errors(args.out, 'int8 quantization failed'):
        res = offer_int8(args.out, pairs, calib, force=args.force, split=args.split)
    f, q = res['fp32'], res['int8']
    scores = (f'mIoU {f["mIoU"]:.2f} -> {q["mIoU"]:.2f}, blast F1 '
              f'{f["blast_f1"]:.3f} -> {q["blast_f1"]:.3f} on {len(pairs)} '
              f'{args.split} images')
    if res['offered']:
        print(f'wrote {res["path"]}: {scores}')
    else:
        print(f'warning: {res["path"]}: int8 not written: it loses '
              f'{res["miou_loss"]:.2f} mIoU points (more than '
              f'{res["max_miou_loss"]}); {scores}', file=sys.stderr)
    return 0
