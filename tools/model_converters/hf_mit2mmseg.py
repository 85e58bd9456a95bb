#!/usr/bin/env python
"""Convert Hugging Face nvidia/mit-b* weights to mmseg's MiT key layout.

    python tools/model_converters/hf_mit2mmseg.py pytorch_model.bin mit_b0_mmseg.pth
    python tools/model_converters/hf_mit2mmseg.py model.safetensors mit_b0_mmseg.pth

Then train with --pretrained mit_b0_mmseg.pth (or ALLIDB_PRETRAINED=...).

Installed as ``allidb-mit-weights`` (the same program).
"""
import sys

from allidb_mmseg.cli.hf_mit2mmseg import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
