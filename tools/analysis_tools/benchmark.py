"""Speed ratios for a config: fused vs stock attention, our data pipeline vs naive.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [--data-root DIR] [--quick]

Reports, each as a ratio measured in this one run: (a) whole-field inference
latency, stock against fused attention, fp32 (and bf16 on CUDA); (b) training
img/s; (c) data-pipeline samples/s per worker, naive full decode against the
config's pipeline. Writes JSON (default work_dirs/<config>/benchmark.json)
and prints a Markdown table for docs/performance.md.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import warnings

from allidb_mmseg.cli import command
from allidb_mmseg.utils import AllidbError, atomic_write_json, first_line, refuse_existing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', default=None,
                   help='weights to load (default: the config\'s initial weights)')
    p.add_argument('--data-root', help='dataset root (default: the config\'s)')
    p.add_argument('--split', help='split to read (default: first of test/val/train)')
    p.add_argument('--device', help='cpu or cuda[:N] (default: cuda if available)')
    p.add_argument('--iters', type=int, help='timed calls per measurement '
                   '(default 2 on CPU, 10 on CUDA)')
    p.add_argument('--warmup', type=int, default=1, help='untimed calls first')
    p.add_argument('--infer-scale', type=float,
                   help='inference size as a fraction of the test image '
                   '(default 1 on CUDA, 0.5 on CPU, 0.1 with --quick)')
    p.add_argument('--batch-size', type=int,
                   help='training batch (default: the config\'s; 2 with --quick)')
    p.add_argument('--pipeline-samples', type=int,
                   help='samples timed per data-pipeline variant '
                   '(default: 2 passes over the training views, 1 with --quick)')
    p.add_argument('--threads', type=int,
                   help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--quick', action='store_true',
                   help='tiny sizes and few iterations (tests, smoke checks)')
    p.add_argument('--out', help='JSON output (default work_dirs/<config>/benchmark.json)')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    # (d) deployment, a separate mode (docs/deployment.md).
    p.add_argument('--deployment', action='store_true',
                   help='instead of (a)-(c): onnxruntime vs torch forward '
                   'pass, end-to-end infer per 2592x1944 field, int8 and TTA '
                   '(needs CHECKPOINT; JSON default '
                   'work_dirs/<config>/benchmark_deployment.json)')
    p.add_argument('--fields', type=int, default=4,
                   help='synthetic 2592x1944 fields for the end-to-end time '
                   '(--deployment; default 4)')
    return p.parse_args(argv)


def deployment_mode(args: argparse.Namespace) -> int:
    """``--deployment``: section (d), printed as the docs/deployment.md table."""
    from benchmarks.speed import SPLITS, choose_split
    from benchmarks.speed.deployment import (deployment_table,
                                                            run_deployment)
    from allidb_mmseg.engine.config import check_checkpoint, load_config

    if not args.checkpoint:
        raise AllidbError(args.config, '--deployment needs a CHECKPOINT')
    check_checkpoint(args.checkpoint)
    cfg = load_config(args.config, data_root=args.data_root)
    data_root = args.data_root or cfg.get('data_root')
    split, pairs = choose_split(data_root or '', args.split)
    if not pairs:
        raise AllidbError(str(data_root), 'no image/mask pairs in img_dir/'
                          f'{{{args.split or "/".join(SPLITS)}}} (pass --data-root)')
    calib = choose_split(data_root, 'train')[1] or pairs
    out = args.out or osp.join(cfg.work_dir, 'benchmark_deployment.json')
    refuse_existing(out, args.force)
    quick = dict(sizes=((64, 64), (72, 96)), field_size=(320, 240)) if args.quick else {}
    import tqdm
    warnings.filterwarnings('ignore')
    with tqdm.tqdm(unit='step', file=sys.stderr, dynamic_ncols=True) as bar:
        result = run_deployment(
            args.config, args.checkpoint, pairs, [i for i, _ in calib[:16]],
            iters=args.iters or (1 if args.quick else 5), warmup=args.warmup,
            threads=args.threads, num_fields=1 if args.quick else args.fields,
            bar=bar, **quick)
    result['split'] = split
    atomic_write_json(out, result)
    print(deployment_table(result))
    print(f'\n{result["device"]}; accuracy on {len(pairs)} images of split '
          f'{split!r}; int8 offered: {result["int8"]["offered"]}')
    print(f'wrote {out}')
    return 0


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.deployment:
        return deployment_mode(args)
    from benchmarks.speed import (SPLITS, choose_split,
                                                 markdown_table, run_benchmark)
    from allidb_mmseg.engine.config import check_checkpoint, load_config

    if args.checkpoint:
        check_checkpoint(args.checkpoint)
    if args.iters is not None and args.iters < 1:
        raise AllidbError(args.config, '--iters must be >= 1')
    if args.threads is not None and args.threads < 1:
        raise AllidbError(args.config, '--threads must be >= 1')
    if args.infer_scale is not None and not 0 < args.infer_scale <= 4:
        raise AllidbError(args.config, '--infer-scale must be in (0, 4]')
    cfg = load_config(args.config, data_root=args.data_root)
    data_root = args.data_root or cfg.get('data_root')
    if not data_root or not osp.isdir(data_root):
        raise AllidbError(str(data_root), 'data root is not a directory '
                          '(pass --data-root)')
    if not choose_split(data_root, args.split)[1]:
        where = args.split or '/'.join(SPLITS)
        raise AllidbError(data_root, 'no image/mask pairs in '
                          f'img_dir/{{{where}}} and ann_dir/')
    out = args.out or osp.join(cfg.work_dir, 'benchmark.json')
    refuse_existing(out, args.force)
    if args.device and args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise AllidbError(args.config, f'--device {args.device}: '
                              'CUDA is not available')

    import tqdm
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore', category=UserWarning)
    with tqdm.tqdm(unit='step', file=sys.stderr, dynamic_ncols=True) as bar:
        try:
            result = run_benchmark(
                cfg, checkpoint=args.checkpoint, data_root=data_root,
                split=args.split, device=args.device, iters=args.iters,
                warmup=args.warmup, infer_scale=args.infer_scale,
                batch_size=args.batch_size,
                pipeline_samples=args.pipeline_samples, quick=args.quick,
                bar=bar)
        except (FileNotFoundError, ValueError) as e:
            bar.close()
            msg = first_line(e)
            raise AllidbError(msg if ': ' in msg else f'{args.config}: {msg}'
                              ) from e
    atomic_write_json(out, result)
    print(markdown_table(result))
    pl = result['pipeline']
    print(f'\n{result["device"]}; inference on {result["inference_image"]} '
          f'at scale {result["infer_scale"]}; pipeline over {pl["dataset_len"]} '
          f'samples of split {pl["split"]!r}, cycled.')
    skipped = [e['stock_skipped'] for e in result['inference'].values()
               if isinstance(e, dict) and 'stock_skipped' in e]
    for s in skipped:
        print(f'note: stock inference skipped: {s}')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
