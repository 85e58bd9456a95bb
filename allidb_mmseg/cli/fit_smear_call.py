"""Fit a model's smear-level call on a labelled split (smear_call.json beside the checkpoint).

``allidb-fit-smear-call``, or ``python tools/analysis_tools/fit_smear_call.py``.
"""
from __future__ import annotations

import argparse

from . import command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction  # the training stack, not a light install

    p = argparse.ArgumentParser(description=__doc__.split(' (')[0])
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file (trusted: it is unpickled)')
    p.add_argument('--data-root', help="mmseg data root (default: the config's)")
    p.add_argument('--split', default='val', help='labelled split to fit on (default: val; '
                   'never the training split)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, e.g. source_rbc_px=65')
    p.add_argument('--size-filter', action='store_true',
                   help='also fit the smallest blast counted on the split (helps on smears '
                   'like the split\'s, can lose those of other labs: docs/real_data.md)')
    p.add_argument('--force', action='store_true', help='overwrite an existing smear_call.json')
    return p.parse_args(argv)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ..apis.smear_call_fit import fit_smear_call_on_split  # lazy: torch
    from ..engine.config import load_config  # lazy: torch
    from ..inference.model import load_model  # lazy: torch

    cfg = load_config(args.config, cfg_options=args.cfg_options, data_root=args.data_root)
    root = args.data_root or cfg.get('data_root')
    model = load_model(cfg, args.checkpoint)
    call = fit_smear_call_on_split(model, args.checkpoint, root, args.split,
                                   force=args.force, progress=True,
                                   size_filter=args.size_filter)
    print(f'smear call: {call.text()}; written beside {args.checkpoint} '
          '(tools/infer.py uses it unless --all-min-count is given)')
    return 0
