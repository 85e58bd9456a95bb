#!/usr/bin/env python
"""Evaluate a checkpoint on the test split: aAcc, mIoU, mAcc, mDice, per class.

    python tools/test.py CONFIG CHECKPOINT [--data-root DIR] [--work-dir DIR]
        [--show-dir DIR] [--out JSON] [--force] [--tta]
        [--cfg-options k=v ...]

Metrics are printed and saved as JSON (default WORK_DIR/test_metrics.json);
--show-dir writes a review page of every prediction against its label.

Installed as ``allidb-test`` (the same program).
"""
import sys

from allidb_mmseg.cli.test import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
