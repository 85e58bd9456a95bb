"""Megapixels/s and peak memory of inference on a field, 20000 px images and a 40000 px slide.

    python tools/analysis_tools/benchmark_scale.py CONFIG [CHECKPOINT]
        [--cache DIR] [--cases NAME ...] [--device cpu|cuda] [--threads N]
        [--cfg-options k=v ...] [--blast-fraction F] [--quick] [--out JSON] [--force]

Makes (once, into --cache) a 2592x1944 JPEG field, a 20000x20000 JPEG, the
same as a tiled TIFF and a 40000x40000 pyramidal TIFF, all mosaics of
synthetic smear fields, then runs each through what tools/infer.py does per
file, in a fresh process, and prints time, source megapixels/s, peak resident
memory and the memory targets (docs/slides_and_large_images.md). CONFIG must
tile (test_cfg mode 'slide'); --cfg-options can switch a config to it.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from pathlib import Path

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, atomic_write_json, first_line, refuse_existing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    from benchmarks.speed.scale import CASES

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='a tiled config (test_cfg mode slide)')
    p.add_argument('checkpoint', nargs='?', default=None,
                   help="weights (default: the config's initial ones)")
    p.add_argument('--blast-fraction', type=float, metavar='F',
                   help='shift the blast logit so that this share of the field '
                   'is blast (for untrained weights, which mark all or nothing: '
                   'counting costs what the masks hold; 0.02 is smear-like)')
    p.add_argument('--cache', default='work_dirs/benchmark_scale/inputs',
                   help='folder for the generated inputs (reused)')
    p.add_argument('--cases', nargs='+', choices=[c[0] for c in CASES],
                   help='run only these cases')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    p.add_argument('--threads', type=int, help='torch CPU threads')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config settings, as in tools/test.py')
    p.add_argument('--quick', action='store_true',
                   help='every size divided by 20 (tests, smoke checks)')
    p.add_argument('--out', help='JSON output (default work_dirs/benchmark_scale/'
                   '<config>.json)')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    return p.parse_args(argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mmengine import Config

    from benchmarks.speed.scale import (run_scale_benchmark,
                                                       scale_table)
    from allidb_mmseg.inference.tiling import TileSettings
    from allidb_mmseg.engine.config import check_checkpoint

    if args.checkpoint:
        check_checkpoint(args.checkpoint)
    if not Path(args.config).is_file():
        raise AllidbError(args.config, 'no such file')
    if args.blast_fraction is not None and not 0 < args.blast_fraction < 1:
        raise AllidbError('--blast-fraction', f'must be in (0, 1), got {args.blast_fraction}')
    if args.threads is not None and args.threads < 1:
        raise AllidbError('--threads', f'must be at least 1, got {args.threads}')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    if TileSettings.from_config(cfg) is None:
        raise AllidbError(args.config, "does not tile (model.test_cfg.mode is "
                          "not 'slide'); a whole-image config cannot read a "
                          'slide region by region')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise AllidbError('--device', f'{args.device}: CUDA is not available')
    stem = osp.splitext(osp.basename(args.config))[0]
    out = Path(args.out or f'work_dirs/benchmark_scale/{stem}'
               f'{"_quick" if args.quick else ""}.json')
    refuse_existing(out, args.force)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        result = run_scale_benchmark(
            args.config, args.checkpoint, Path(args.cache), out.parent / f'{stem}_outputs',
            cfg_options=args.cfg_options, device=args.device,
            threads=args.threads, quick=args.quick, cases=args.cases,
            progress=not args.no_progress, blast_fraction=args.blast_fraction,
            log=log, on_case=lambda partial: (
                atomic_write_json(out, partial),
                log(scale_table(partial).splitlines()[-1])))
    except RuntimeError as e:
        msg = first_line(e)
        raise AllidbError(*msg.split(': ', 1)) from e
    atomic_write_json(out, result)
    print(scale_table(result))
    print(f"\n{result['device']}, torch threads: {result['threads'] or 'default'}; "
          f"inputs at {result['mpp']:.4f} um/px; MP/s counts source pixels, "
          'end to end (read, segment, count, write).')
    if args.blast_fraction:
        print(f'blast logit shifted so that {args.blast_fraction:g} of the field '
              'is blast; blast area fraction per case: ' + ', '.join(
                  f"{k} {v['blast_area_fraction']:.4f}"
                  for k, v in result['cases'].items()))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
