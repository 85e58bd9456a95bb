#!/usr/bin/env python
"""Train a SegFormer ALL-IDB config (MMSegmentation's flags plus a few of ours).

    python tools/train.py configs/segformer_allidb_128_aug.py \
        [--data-root DIR] [--pretrained MIT.pth] [--work-dir DIR] \
        [--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher L]

Installed as ``allidb-train`` (the same program).
"""
import sys

from allidb_mmseg.cli.train import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
