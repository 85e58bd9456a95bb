"""Write synthetic ALL-IDB1-like smear fields as a CVAT "COCO 1.0" export plus truth.

    python tools/dataset_converters/make_synthetic.py OUT --num-images 40 [--size 640 480] [--seed 0]
                                   [--healthy-fraction 0.5] [--stain-profile NAME] [--force]
"""
from __future__ import annotations

import argparse
import sys

try:
    from allidb_mmseg.utils import AllidbError, tool_main
except ImportError as exc:  # run outside the project's venv
    sys.exit(f'error: {exc.name}: not installed for {sys.executable}; run '
             '`make install`, then `. .venv/bin/activate`')

from allidb_mmseg.synthetic import STAIN_PROFILES, make_synthetic  # noqa: E402


@tool_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output folder (must not exist or be empty)')
    parser.add_argument('--num-images', type=int, default=40)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480),
                        metavar=('W', 'H'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--healthy-fraction', type=float, default=0.5)
    parser.add_argument('--stain-profile', choices=list(STAIN_PROFILES), default=None,
                        help='stain and light the fields like another lab: '
                        + '; '.join(f'{p.name}: {p.description}'
                                    for p in STAIN_PROFILES.values())
                        + ' (default: the lab_a look)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing non-empty OUT')
    args = parser.parse_args(argv)
    try:
        s = make_synthetic(args.out, num_images=args.num_images, size=tuple(args.size),
                           seed=args.seed, healthy_fraction=args.healthy_fraction,
                           force=args.force, progress=True,
                           stain_profile=args.stain_profile)
    except FileExistsError:
        raise AllidbError(args.out, 'exists and is not empty; pass --force to '
                          'replace it') from None
    except (ValueError, OSError) as exc:
        raise AllidbError(args.out, str(exc)) from None
    profile = f", stain profile {s['stain_profile']}" if s['stain_profile'] else ''
    print(f"wrote {s['num_images']} images ({s['num_healthy']} healthy, "
          f"{s['num_blasts']} blasts) at {s['size'][0]}x{s['size'][1]}{profile} "
          f"to {s['out_dir']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
