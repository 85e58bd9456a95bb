#!/usr/bin/env python
"""`make demo`: the whole job end to end on built-in synthetic smears.

Runs, as a user would type them, the project's own tools:
make_synthetic -> convert_coco -> train and test the paper's
segformer_allidb_128_aug and the native-scale segformer_allidb_native_aug
(short schedules) -> Otsu baseline -> infer (native) -> eval_counts, then
prints the three side by side and where everything is. Needs no GPU, no
download and no ALL-IDB.

    python tools/demo.py [--out work_dirs/demo] [--iters 160] [--native-iters 120]
        [--num-images 40]
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

from allidb_mmseg.models.checkpoint import best_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = 'configs/segformer_allidb_128_aug.py'
NATIVE = 'configs/segformer_allidb_native_aug.py'
MARKER = '.allidb_demo'  # written into OUT, so a rerun may replace only its own output


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='work_dirs/demo', help='demo output folder')
    p.add_argument('--num-images', type=int, default=40,
                   help='synthetic fields to generate (split 80/10/10)')
    p.add_argument('--iters', type=int, default=160,
                   help='training iterations of 128_aug (batch 8)')
    p.add_argument('--native-iters', type=int, default=120,
                   help='training iterations of the native-scale model '
                   '(batch 4 crops of 256x256)')
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


TIMES: list[tuple[str, float]] = []  # (step title, seconds), in order


def step(title: str, args: list[str]) -> None:
    """Run one project tool, echoing the command, and stop the demo if it fails.

    Its wall time is printed and kept in :data:`TIMES` for the closing table.
    """
    cmd = [sys.executable, *args]
    shown = [_show(Path(a)) if a.startswith(str(REPO)) else a for a in args]
    print(f'\n== {title}\n$ python {shlex.join(shown)}', flush=True)
    t0 = time.perf_counter()
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        TIMES.append((f'{title} (failed)', time.perf_counter() - t0))
        print_times(sum(t for _, t in TIMES))
        sys.exit(f'error: demo step "{title}" failed (command above)')
    took = time.perf_counter() - t0
    TIMES.append((title, took))
    print(f'   ({took:.0f} s)', flush=True)


def print_times(total: float) -> None:
    """Seconds per step (:data:`TIMES`) and ``total``, the demo's wall time."""
    print('\n== time per step (wall, this machine)')
    for title, took in TIMES:
        print(f'  {took:6.1f} s  {title}')
    print(f'  {total:6.1f} s  total', flush=True)


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
    start = time.perf_counter()
    TIMES.clear()
    out = (REPO / a.out).resolve() if not Path(a.out).is_absolute() else Path(a.out)
    prepare_out(out)
    syn, data, train, test = out / 'synthetic', out / 'data', out / 'train', out / 'test'
    train_native, test_native, infer = out / 'train_native', out / 'test_native', out / 'infer'
    # Two validations per run: the best of them is tested (docs/performance.md).
    every = max(a.iters // 2, 1)

    step('1/9 synthetic smears in CVAT COCO 1.0 layout',
         ['tools/dataset_converters/make_synthetic.py', str(syn), '--num-images', str(a.num_images),
          '--seed', str(a.seed)])
    step('2/9 COCO -> masks, stratified 80/10/10 split',
         ['tools/dataset_converters/coco_to_masks.py', '--ann', str(syn / 'annotations/instances_default.json'),
          '--img-dir', str(syn / 'images'), '--out', str(data), '--seed', str(a.seed)])
    common = [f'optim_wrapper.optimizer.lr={a.lr}', 'default_hooks.logger.interval=25',
              'train_dataloader.num_workers=2', 'val_dataloader.num_workers=0',
              f'randomness.seed={a.seed}']
    step(f'3/9 train SegFormer MiT-B0, {CONFIG}, {a.iters} iterations on CPU',
         ['tools/train.py', CONFIG, '--data-root', str(data), '--work-dir', str(train),
          '--cfg-options', f'train_cfg.max_iters={a.iters}',
          f'train_cfg.val_interval={every}', f'default_hooks.checkpoint.interval={every}',
          f'model.decode_head.loss_decode.class_weight=[1.0,{a.blast_weight}]', *common])
    ckpt = best_checkpoint(train)
    step('4/9 test it on the held-out split (IoU, per-blast detection)',
         ['tools/test.py', CONFIG, str(ckpt), '--data-root', str(data),
          '--work-dir', str(test), '--show-dir', str(test / 'review'),
          '--cfg-options', 'test_dataloader.num_workers=0'])
    n_every = max(a.native_iters // 2, 1)
    step(f'5/9 train the native-scale model, {NATIVE}, {a.native_iters} iterations',
         ['tools/train.py', NATIVE, '--data-root', str(data), '--work-dir', str(train_native),
          '--cfg-options', f'train_cfg.max_iters={a.native_iters}',
          f'train_cfg.val_interval={n_every}', f'default_hooks.checkpoint.interval={n_every}',
          'train_dataloader.batch_size=4', *common])
    native_ckpt = best_checkpoint(train_native)
    step('6/9 test it on the same split (sliding window at the working scale)',
         ['tools/test.py', NATIVE, str(native_ckpt), '--data-root', str(data),
          '--work-dir', str(test_native), '--show-dir', str(test_native / 'review'),
          '--cfg-options', 'test_dataloader.num_workers=0'])
    step('7/9 Otsu-threshold baseline on the same split',
         ['tools/analysis_tools/otsu_baseline.py', str(data), '--split', 'test',
          '--out', str(test / 'otsu_metrics.json')])
    step('8/9 segment the test smears with the native model: masks, overlays, blast counts',
         ['tools/infer.py', NATIVE, str(native_ckpt), str(data / 'img_dir/test'),
          '--out-dir', str(infer), '--device', 'cpu'])
    step('9/9 blast counts against the generator\'s centres (.xyc)',
         ['tools/analysis_tools/eval_counts.py', str(infer / 'masks'), str(syn / 'centres'),
          '--images', str(data / 'img_dir/test'), '--out', str(infer / 'count_eval.json')])

    summary = summarize(out, ckpt, native_ckpt)
    (out / 'demo_summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    print_summary(out, summary)
    print_times(time.perf_counter() - start)
    return 0


def _scores(report: dict) -> dict:
    """mIoU and lymphoblast IoU (%), per-blast detection (0-1) of a report."""
    m = report['metrics']
    iou = report['per_class']['lymphoblast']['IoU']
    return dict(mIoU=m['mIoU'], **{'IoU.lymphoblast': iou},
                **{k: report['detection'][k] for k in
                   ('blast_precision', 'blast_recall', 'blast_F1', 'ALL_accuracy')})


def summarize(out: Path, ckpt: str, native_ckpt: str) -> dict:
    """The numbers a reader wants, from the JSON files the tools wrote."""
    def load(rel: str) -> dict:
        return json.loads((out / rel).read_text())

    return {
        'units': 'IoUs in percent, as mmseg prints (the paper uses 0-1); '
                 'blast precision/recall/F1 and ALL accuracy 0-1',
        'checkpoints': dict(native=str(native_ckpt), aug128=str(ckpt)),
        'segformer_native_aug': _scores(load('test_native/test_metrics.json')),
        'segformer_128_aug': _scores(load('test/test_metrics.json')),
        'otsu': _scores(load('test/otsu_metrics.json')),
        'blast_counts_native': load('infer/count_eval.json')['total'],
    }


def _num(v: float | None, width: int) -> str:
    """A score, or n/a where it is undefined (e.g. precision with no blast found)."""
    return 'n/a'.rjust(width) if v is None else f'{v:{width}.2f}'


def print_summary(out: Path, s: dict) -> None:
    print('\n== demo finished (IoU in %, as mmseg prints it; blast detection 0-1)')
    print(f"{'synthetic test split':32s} {'mIoU':>6s} {'blast IoU':>9s} {'P':>5s} "
          f"{'R':>5s} {'F1':>5s} {'ALL acc':>7s}")
    for key, name in (('segformer_native_aug', 'SegFormer native scale'),
                      ('segformer_128_aug', 'SegFormer 128_aug (paper)'),
                      ('otsu', 'Otsu threshold baseline')):
        m = s[key]
        print(f"{name:32s} {_num(m['mIoU'], 6)} {_num(m['IoU.lymphoblast'], 9)} "
              f"{_num(m['blast_precision'], 5)} {_num(m['blast_recall'], 5)} "
              f"{_num(m['blast_F1'], 5)} {_num(m['ALL_accuracy'], 7)}")
    c = s['blast_counts_native']
    print(f"tools/infer.py (native) counts vs the generator's centres ({c['images']} "
          f"test images): {c['pred_count']} predicted / {c['true_count']} true, "
          f"precision {_num(c['precision'], 0)}, recall {_num(c['recall'], 0)}, "
          f"ALL-vs-healthy accuracy {_num(c['all_accuracy'], 0)}")
    print('outputs:')
    for what, rel in [('synthetic smears (CVAT COCO 1.0)', 'synthetic'),
                      ('converted dataset (img_dir/ann_dir)', 'data'),
                      ('128_aug: checkpoints, log, curves', 'train'),
                      ('128_aug: test metrics, review page', 'test'),
                      ('native: checkpoints, log, curves', 'train_native'),
                      ('native: test metrics, review page', 'test_native'),
                      ('masks, overlays, report.csv/json', 'infer'),
                      ('this summary', 'demo_summary.json')]:
        print(f'  {what:40s} {_show(out / rel)}')
    print(f'review page (open in a browser): {_show(out / "infer" / "index.html")}')


if __name__ == '__main__':
    sys.exit(main())
