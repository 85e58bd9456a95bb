#!/usr/bin/env python
"""Fit a model's stain reference on its training images (for models trained without the hook).

    python tools/analysis_tools/fit_stain_reference.py data/allidb/img_dir/train \
        --out work_dirs/segformer_allidb_128/stain_reference.json [--force]

INPUTS are image files, folders (their files) or globs. Put the JSON beside the
checkpoint: tools/infer.py then scores every smear against it (ood_score,
ood_flag) and normalizes with --stain-normalize. Configs with
StainReferenceHook write it during training (docs/stain_robustness.md).
"""
from __future__ import annotations

import argparse
import sys

try:
    from allidb_mmseg.utils import AllidbError, refuse_existing, tool_main
except ImportError as exc:  # run outside the project's venv
    sys.exit(f'error: {exc.name}: not installed for {sys.executable}; run '
             '`make install`, then `. .venv/bin/activate`')


@tool_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('inputs', nargs='+', help='training images: files, folders or globs')
    p.add_argument('--out', required=True, help='the stain_reference.json to write')
    p.add_argument('--trained-on', choices=['reinhard', 'macenko'], default=None,
                   help='the model was trained on images normalized this way')
    p.add_argument('--force', action='store_true', help='overwrite an existing JSON')
    args = p.parse_args(argv)
    refuse_existing(args.out, args.force)

    from allidb_mmseg.apis.batch import collect_inputs
    from allidb_mmseg.smear.stain import fit_reference_from_files

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


if __name__ == '__main__':
    sys.exit(main())
