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
import sys

from allidb_mmseg.cli import command


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
    from benchmarks.speed.scale import scale_table
    from benchmarks.speed.tool import scale_benchmark

    result, out = scale_benchmark(
        args.config, args.checkpoint, cfg_options=args.cfg_options, cache=args.cache,
        cases=args.cases, device=args.device, threads=args.threads,
        blast_fraction=args.blast_fraction, quick=args.quick,
        progress=not args.no_progress, out=args.out, force=args.force,
        log=lambda msg: print(msg, file=sys.stderr, flush=True))
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
