#!/usr/bin/env python
"""Convert Hugging Face nvidia/mit-b* weights to mmseg's MiT key layout.

    python tools/model_converters/hf_mit2mmseg.py pytorch_model.bin mit_b0_mmseg.pth
    python tools/model_converters/hf_mit2mmseg.py model.safetensors mit_b0_mmseg.pth

Then train with --pretrained mit_b0_mmseg.pth (or ALLIDB_PRETRAINED=...).
"""
from __future__ import annotations

import argparse
import sys

try:
    from allidb_mmseg.utils import tool_main
except ImportError as exc:  # run outside the project's venv
    sys.exit(f'error: {exc.name}: not installed for {sys.executable}; run '
             '`make install`, then `. .venv/bin/activate`')


@tool_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='HF checkpoint (.safetensors, .bin, .pt)')
    p.add_argument('dst', help='output .pth for mmseg (MiT backbone keys)')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing output')
    args = p.parse_args(argv)
    from allidb_mmseg.models.mit_weights import convert_file

    info = convert_file(args.src, args.dst, force=args.force)
    print(f'wrote {args.dst}: {info["tensors"]} tensors, '
          f'{info["parameters"] / 1e6:.2f} M parameters, '
          f'embed_dims {info["embed_dims"]}, num_layers {info["num_layers"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
