"""Convert Hugging Face nvidia/mit-b* weights to mmseg's MiT key layout.

``allidb-mit-weights``, or ``python tools/model_converters/hf_mit2mmseg.py``.
"""
from __future__ import annotations

import argparse

from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='HF checkpoint (.safetensors, .bin, .pt)')
    p.add_argument('dst', help='output .pth for mmseg (MiT backbone keys)')
    p.add_argument('--force', action='store_true', help='overwrite an existing output')
    return p.parse_args(argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..models.mit_weights import convert_file  # lazy: torch

    info = convert_file(args.src, args.dst, force=args.force)
    print(f'wrote {args.dst}: {info["tensors"]} tensors, '
          f'{info["parameters"] / 1e6:.2f} M parameters, '
          f'embed_dims {info["embed_dims"]}, num_layers {info["num_layers"]}')
    return 0
