#!/usr/bin/env python
"""Fit a model's smear-level call on a labelled split (for models trained without it).

    python tools/analysis_tools/fit_smear_call.py CONFIG CHECKPOINT [--data-root DIR]
        [--split val] [--cfg-options source_rbc_px=65] [--force]

Scores each image of the split as tools/infer.py does (the summed evidence of its
counted blasts), chooses the threshold that calls the most images right (ALL: the
mask holds blast pixels) and writes smear_call.json beside the checkpoint.
tools/infer.py then flags ALL-suspected by that call unless --all-min-count is
given (docs/real_data.md#the-smear-level-call).

Installed as ``allidb-fit-smear-call`` (the same program).
"""
import sys

from allidb_mmseg.cli.fit_smear_call import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
