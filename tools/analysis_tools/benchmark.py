"""Speed ratios for a config: fused vs stock attention, our data pipeline vs naive.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] [--data-root DIR] [--quick]

Reports, each as a ratio measured in this one run: (a) whole-field inference
latency, mmseg's stock model (attention and head) against ours (fused), fp32
(and bf16 on CUDA); (b) training img/s, and with --train-options /
--loader-workers CPU options and DataLoader worker counts against ours; (c) data-pipeline samples/s per worker, naive full decode against the
config's pipeline. Writes JSON (default work_dirs/<config>/benchmark.json)
and prints a Markdown table for docs/performance.md.
"""
from __future__ import annotations

import argparse
import sys

from allidb_mmseg.cli import command


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(',') if n.strip())


def _counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: not comma-separated integers')


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
    p.add_argument('--train-options', type=_names, default=(),
                   help='comma-separated CPU training options to time against ours '
                   'as configured: channels_last, one_thread, bf16, compile')
    p.add_argument('--loader-workers', type=_counts, default=(),
                   help='comma-separated DataLoader worker counts: training img/s '
                   'with the config\'s loader at each (e.g. 1,2,4)')
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
    p.add_argument('--forward-only', action='store_true',
                   help='--deployment: export and the forward pass (fp32) only')
    p.add_argument('--session-variants', action='store_true',
                   help='--deployment: also time onnxruntime fp32 with other session '
                   'settings (spinning, no memory arena, ENABLE_EXTENDED, parallel)')
    p.add_argument('--fields', type=int, default=4,
                   help='synthetic 2592x1944 fields for the end-to-end time '
                   '(--deployment; default 4)')
    return p.parse_args(argv)


def print_speed(result: dict, out: str) -> None:
    """The docs/performance.md table and where the run was measured."""
    from benchmarks.speed import markdown_table

    print(markdown_table(result))
    pl = result['pipeline']
    print(f'\n{result["device"]}; inference on {result["inference_image"]} '
          f'at scale {result["infer_scale"]}; pipeline over {pl["dataset_len"]} '
          f'samples of split {pl["split"]!r}, cycled.')
    for entry in result['inference'].values():
        if isinstance(entry, dict) and 'stock_skipped' in entry:
            print(f'note: stock inference skipped: {entry["stock_skipped"]}')
    print(f'wrote {out}')


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common = dict(data_root=args.data_root, split=args.split, iters=args.iters,
                  warmup=args.warmup, threads=args.threads, quick=args.quick,
                  out=args.out, force=args.force)
    if args.deployment:
        from benchmarks.speed.deployment import deployment_table
        from benchmarks.speed.tool import deployment_benchmark

        result, out = deployment_benchmark(
            args.config, args.checkpoint, fields=args.fields, forward_only=args.forward_only,
            session_variants=args.session_variants, **common)
        print(deployment_table(result))
        if 'int8' in result:
            print(f'\n{result["device"]}; accuracy on {result["num_images"]} images of '
                  f'split {result["split"]!r}; int8 offered: {result["int8"]["offered"]}')
        else:
            print(f'\n{result["device"]}; forward pass only')
        print(f'wrote {out}')
        return 0
    from benchmarks.speed.tool import speed_benchmark

    result, out = speed_benchmark(
        args.config, args.checkpoint, device=args.device, infer_scale=args.infer_scale,
        batch_size=args.batch_size, pipeline_samples=args.pipeline_samples,
        train_options=args.train_options, loader_workers=args.loader_workers, **common)
    print_speed(result, out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
