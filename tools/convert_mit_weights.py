#!/usr/bin/env python
"""Convert Hugging Face nvidia/mit-b* weights to mmseg's MiT key layout.

    python tools/convert_mit_weights.py pytorch_model.bin mit_b0_mmseg.pth
    python tools/convert_mit_weights.py model.safetensors mit_b0_mmseg.pth

Then train with --pretrained mit_b0_mmseg.pth (or ALLIDB_PRETRAINED=...).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from allidb_mmseg.mit_weights import WeightsError, convert_file  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='HF checkpoint (.safetensors, .bin, .pt)')
    p.add_argument('dst', help='output .pth for mmseg (MiT backbone keys)')
    p.add_argument('--force', action='store_true',
                   help='overwrite an existing output')
    args = p.parse_args(argv)
    try:
        info = convert_file(args.src, args.dst, force=args.force)
    except WeightsError as e:
        print(f'error: {e.path or args.src}: {e}', file=sys.stderr)
        return 2
    print(f'wrote {args.dst}: {info["tensors"]} tensors, '
          f'{info["parameters"] / 1e6:.2f} M parameters, '
          f'embed_dims {info["embed_dims"]}, num_layers {info["num_layers"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
