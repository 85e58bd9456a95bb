#!/usr/bin/env python
"""Fit a model's stain reference on its training images (for models trained without the hook).

    python tools/analysis_tools/fit_stain_reference.py data/allidb/img_dir/train \
        --out work_dirs/segformer_allidb_128/stain_reference.json [--force]

INPUTS are image files, folders (their files) or globs. Put the JSON beside the
checkpoint: tools/infer.py then scores every smear against it (ood_score,
ood_flag) and normalizes with --stain-normalize. Configs with
StainReferenceHook write it during training (docs/stain_robustness.md).

Installed as ``allidb-fit-stain`` (the same program).
"""
import sys

from allidb_mmseg.cli.fit_stain_reference import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
