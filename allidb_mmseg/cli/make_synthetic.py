"""Write synthetic ALL-IDB1-like smear fields as a CVAT "COCO 1.0" export plus truth.

``allidb-synthetic``, or ``python tools/dataset_converters/make_synthetic.py``.
"""
from __future__ import annotations

import argparse

from ..synthetic import STAIN_PROFILES, make_synthetic
from ..utils import AllidbError
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out', help='output folder (must not exist or be empty)')
    p.add_argument('--num-images', type=int, default=40)
    p.add_argument('--size', type=int, nargs=2, default=(640, 480), metavar=('W', 'H'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--healthy-fraction', type=float, default=0.5)
    p.add_argument('--stain-profile', choices=list(STAIN_PROFILES), default=None,
                   help='stain and light the fields like another lab: '
                   + '; '.join(f'{s.name}: {s.description}' for s in STAIN_PROFILES.values())
                   + ' (default: the lab_a look)')
    p.add_argument('--force', action='store_true', help='replace an existing non-empty OUT')
    return p.parse_args(argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
