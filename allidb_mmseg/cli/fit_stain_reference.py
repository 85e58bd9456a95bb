"""Fit a model's stain reference on its training images (for models trained without the hook).

``allidb-fit-stain``, or ``python tools/analysis_tools/fit_stain_reference.py``.
"""
from __future__ import annotations

import argparse

from ..apis.batch import collect_inputs
from ..smear.stain import fit_reference_from_files
from ..utils import AllidbError, refuse_existing
from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('inputs', nargs='+', help='training images: files, folders or globs')
    p.add_argument('--out', required=True, help='the stain_reference.json to write')
    p.add_argument('--trained-on', choices=['reinhard', 'macenko'], default=None,
                   help='the model was trained on images normalized this way')
    p.add_argument('--force', action='store_true', help='overwrite an existing JSON')
    return p.parse_args(argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    refuse_existing(args.out, args.force)
    items = collect_inputs(args.inputs)
    for it in items:
        if it.error:
            raise AllidbError(it.file, it.error)
    ref = fit_reference_from_files([it.file for it in items], trained_on=args.trained_on,
                                   progress=True)
    ref.save(args.out)
    print(f'stain reference of {ref.num_images} images (OOD threshold '
          f'{ref.ood_threshold:.2f}) written to {args.out}')
    return 0
