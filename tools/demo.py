#!/usr/bin/env python
"""`make demo`: the whole job end to end on built-in synthetic smears.

Runs, as a user would type them, the project's own tools:
make_synthetic -> convert_coco -> train (segformer_allidb_128_aug, short
schedule) -> test -> Otsu baseline -> infer -> eval_counts, then prints where
everything is. Needs no GPU, no download and no ALL-IDB.

    python tools/demo.py [--out work_dirs/demo] [--iters 300] [--num-images 40]
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = 'configs/segformer_allidb_128_aug.py'
MARKER = '.allidb_demo'  # written into OUT, so a rerun may replace only its own output


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='work_dirs/demo', help='demo output folder')
    p.add_argument('--num-images', type=int, default=40,
                   help='synthetic fields to generate (split 80/10/10)')
    p.add_argument('--iters', type=int, default=300, help='training iterations')
    p.add_argument('--lr', type=float, default=6e-4,
                   help='AdamW lr; higher than the paper\'s 6e-5 because the '
                   'demo trains from scratch for a few minutes')
    p.add_argument('--blast-weight', type=float, default=10.0,
                   help='cross-entropy weight of the lymphoblast class; blasts '
                   'cover ~1%% of a field, and without it a model trained from '
                   'scratch for minutes predicts background only')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def _show(path: Path) -> str:
    """A path as the user would type it from the repo root."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def step(title: str, args: list[str]) -> None:
    """Run one project tool, echoing the command, and stop the demo if it fails."""
    cmd = [sys.executable, *args]
    shown = [_show(Path(a)) if a.startswith(str(REPO)) else a for a in args]
    print(f'\n== {title}\n$ python {shlex.join(shown)}', flush=True)
    t0 = time.perf_counter()
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        sys.exit(f'error: demo step "{title}" failed (command above)')
    print(f'   ({time.perf_counter() - t0:.0f} s)', flush=True)


def prepare_out(out: Path) -> None:
    """Replace a previous demo run, but never a folder the demo did not make."""
    if out.exists():
        if not (out / MARKER).is_file():
            sys.exit(f'error: {out}: exists and is not a demo output folder; '
                     'choose another --out')
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text('written by tools/demo.py; safe to delete\n')


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    out = (REPO / a.out).resolve() if not Path(a.out).is_absolute() else Path(a.out)
    prepare_out(out)
    syn, data, train, test = out / 'synthetic', out / 'data', out / 'train', out / 'test'
    infer = out / 'infer'
    every = max(a.iters // 4, 1)

    step('1/7 synthetic smears in CVAT COCO 1.0 layout',
         ['tools/dataset_converters/make_synthetic.py', str(syn), '--num-images', str(a.num_images),
          '--seed', str(a.seed)])
    step('2/7 COCO -> masks, stratified 80/10/10 split',
         ['tools/dataset_converters/coco_to_masks.py', '--ann', str(syn / 'annotations/instances_default.json'),
          '--img-dir', str(syn / 'images'), '--out', str(data), '--seed', str(a.seed)])
    step(f'3/7 train SegFormer MiT-B0, {CONFIG}, {a.iters} iterations on CPU',
         ['tools/train.py', CONFIG, '--data-root', str(data), '--work-dir', str(train),
          '--cfg-options', f'train_cfg.max_iters={a.iters}',
          f'train_cfg.val_interval={every}', f'default_hooks.checkpoint.interval={every}',
          f'optim_wrapper.optimizer.lr={a.lr}', 'default_hooks.logger.interval=25',
          f'model.decode_head.loss_decode.class_weight=[1.0,{a.blast_weight}]',
          'train_dataloader.num_workers=2', 'val_dataloader.num_workers=0',
          f'randomness.seed={a.seed}'])
    ckpt = max(train.glob('best_mIoU_iter_*.pth'), key=lambda p: p.stat().st_mtime)
    step('4/7 test on the held-out split (mmseg IoUMetric)',
         ['tools/test.py', CONFIG, str(ckpt), '--data-root', str(data),
          '--work-dir', str(test), '--show-dir', str(test / 'overlays'),
          '--cfg-options', 'test_dataloader.num_workers=0'])
    step('5/7 Otsu-threshold baseline on the same split',
         ['tools/analysis_tools/otsu_baseline.py', str(data), '--split', 'test',
          '--out', str(test / 'otsu_metrics.json')])
    step('6/7 segment the test smears: masks, overlays, blast counts',
         ['tools/infer.py', CONFIG, str(ckpt), str(data / 'img_dir/test'),
          '--out-dir', str(infer), '--device', 'cpu'])
    step('7/7 blast counts against the generator\'s centres (.xyc)',
         ['tools/analysis_tools/eval_counts.py', str(infer / 'masks'), str(syn / 'centres'),
          '--out', str(infer / 'count_eval.json')])

    summary = summarize(out, ckpt)
    (out / 'demo_summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    print_summary(out, summary)
    return 0


def summarize(out: Path, ckpt: Path) -> dict:
    """The numbers a reader wants, from the JSON files the tools wrote."""
    model = json.loads((out / 'test/test_metrics.json').read_text())
    otsu = json.loads((out / 'test/otsu_metrics.json').read_text())['metrics']
    counts = json.loads((out / 'infer/count_eval.json').read_text())['total']
    return {
        'units': 'percent, as mmseg prints (the paper uses 0-1)',
        'checkpoint': str(ckpt),
        'segformer_128_aug': dict(model['metrics'], **{
            'IoU.lymphoblast': model['per_class']['lymphoblast']['IoU']}),
        'otsu': {k: otsu[k] for k in ('aAcc', 'mIoU', 'mAcc', 'IoU.lymphoblast')},
        'blast_counts': counts,
    }


def print_summary(out: Path, s: dict) -> None:
    m, o = s['segformer_128_aug'], s['otsu']
    print('\n== demo finished (metrics in %, as mmseg prints them)')
    print(f"SegFormer 128_aug, synthetic test split: mIoU {m['mIoU']:.2f}  "
          f"mAcc {m['mAcc']:.2f}  lymphoblast IoU {m['IoU.lymphoblast']:.2f}")
    print(f"Otsu baseline, same split:               mIoU {o['mIoU']:.2f}  "
          f"mAcc {o['mAcc']:.2f}  lymphoblast IoU {o['IoU.lymphoblast']:.2f}")
    c = s['blast_counts']
    print(f"blast counts vs the generator's centres ({c['images']} test images): "
          f"{c['pred_count']} predicted / {c['true_count']} true, precision "
          f"{c['precision']:.2f}, recall {c['recall']:.2f}, ALL-vs-healthy "
          f"accuracy {c['all_accuracy']:.2f}")
    print('outputs:')
    for what, rel in [('synthetic smears (CVAT COCO 1.0)', 'synthetic'),
                      ('converted dataset (img_dir/ann_dir)', 'data'),
                      ('checkpoints, log, training_curves.png', 'train'),
                      ('test metrics JSON and overlays', 'test'),
                      ('masks, overlays, report.csv/json', 'infer'),
                      ('this summary', 'demo_summary.json')]:
        print(f'  {what:40s} {_show(out / rel)}')
    print(f'review page (open in a browser): {_show(out / "infer" / "index.html")}')


if __name__ == '__main__':
    sys.exit(main())
