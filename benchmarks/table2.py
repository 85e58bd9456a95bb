"""The paper's Table II: train and test the four variants, tabulate beside the paper.

Why: the paper's single comparison is Table II (mIoU/mAcc of 128 vs 256 input,
with and without augmentation). One command retrains all four on a data root
and writes the table in the paper's 0-1 units, with an Otsu baseline row.
"""
from __future__ import annotations

import csv
import io
import json
import os.path as osp
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from allidb_mmseg.evaluation.summary import METRICS_FILENAME
from allidb_mmseg.utils import AllidbError, atomic_write_text, refuse_existing

__all__ = ['Variant', 'VARIANTS', 'NATIVE', 'ALL_VARIANTS', 'table_rows',
           'to_markdown', 'to_csv', 'write_tables', 'run_variant', 'reproduce']


@dataclass(frozen=True)
class Variant:
    config: str          # config stem under configs/
    size: Optional[int]  # the paper's input size (None: not a paper row)
    augmented: bool
    paper_miou: Optional[float]  # paper, Table II (0-1)
    paper_macc: Optional[float]
    title: str = ''      # the row's name, where size does not say it

    @property
    def label(self) -> str:
        if self.title:
            return self.title
        aug = 'with' if self.augmented else 'without'
        return f'{self.size}x{self.size} {aug} augmentation'


VARIANTS = (
    Variant('segformer_allidb_128', 128, False, 0.809, 0.897),
    Variant('segformer_allidb_128_aug', 128, True, 0.821, 0.917),
    Variant('segformer_allidb_256', 256, False, 0.721, 0.809),
    Variant('segformer_allidb_256_aug', 256, True, 0.740, 0.832),
)
# The extra row: the model people should use (docs/native_scale.md).
NATIVE = Variant('segformer_allidb_native_aug', None, True, None, None,
                 title='native scale with augmentation (beyond the paper)')
ALL_VARIANTS = VARIANTS + (NATIVE,)
# Measured columns, 0-1; each also has a ``<name>_std`` over seeds.
MEASURED = ('ours_mIoU', 'ours_mAcc', 'ours_IoU_lymphoblast',
            'ours_Dice_lymphoblast', 'ours_mDice', 'blast_precision',
            'blast_recall', 'blast_F1')
COLUMNS = ('variant', 'paper_mIoU', 'ours_mIoU', 'paper_mAcc', 'ours_mAcc',
           'ours_IoU_lymphoblast', 'ours_Dice_lymphoblast', 'ours_mDice',
           'blast_precision', 'blast_recall', 'blast_F1', 'runs')


def _frac(percent: Optional[float]) -> Optional[float]:
    return None if percent is None else percent / 100


def _measured(report: dict) -> dict:
    """The measured columns of one tools/test.py report, in 0-1 units."""
    m = report.get('metrics', {})
    fg = report.get('per_class', {}).get('lymphoblast', {})
    det = report.get('detection') or {}
    return dict(ours_mIoU=_frac(m.get('mIoU')), ours_mAcc=_frac(m.get('mAcc')),
                ours_IoU_lymphoblast=_frac(fg.get('IoU')),
                ours_Dice_lymphoblast=_frac(fg.get('Dice')),
                ours_mDice=_frac(m.get('mDice')),
                blast_precision=det.get('blast_precision'),
                blast_recall=det.get('blast_recall'),
                blast_F1=det.get('blast_F1'))


def mean_std(values: Sequence[dict], keys: Sequence[str],
             digits: Optional[int] = None) -> dict:
    """Over runs (one dict of numbers each): ``key`` the mean and
    ``key_std`` the sample std (None for one run) of each key, skipping
    runs where it is None; rounded to ``digits`` when given."""
    def r(x: float) -> float:
        return x if digits is None else round(x, digits)

    out: dict = {}
    for key in keys:
        xs = [v[key] for v in values if v.get(key) is not None]
        out[key] = r(statistics.fmean(xs)) if xs else None
        out[f'{key}_std'] = r(statistics.stdev(xs)) if len(xs) > 1 else None
    return out


def _mean_std(reports: Sequence[dict]) -> dict:
    """Mean (and, over several runs, the sample std) of each measured column."""
    return dict(runs=len(reports),
                **mean_std([_measured(r) for r in reports], MEASURED, digits=3))


def table_rows(results: dict[str, Any], otsu: Optional[dict] = None,
               variants: Sequence[Variant] = ALL_VARIANTS) -> list[dict]:
    """Rows of Table II in 0-1 units, mean ± std over runs.

    ``results`` maps a config stem to a tools/test.py report (mmseg's
    percentages), a list of them (one per seed), or None when that variant
    has no result. ``otsu`` is :func:`~benchmarks.otsu.evaluate_otsu`'s
    report.
    """
    rows = []
    for v in variants:
        got = results.get(v.config)
        reports = got if isinstance(got, (list, tuple)) else [got] if got else []
        rows.append(dict(variant=v.label, paper_mIoU=v.paper_miou,
                         paper_mAcc=v.paper_macc, **_mean_std(reports)))
    if otsu:
        rows.append(dict(variant='Otsu threshold baseline (not in paper)',
                         paper_mIoU=None, paper_mAcc=None, **_mean_std([otsu])))
    return rows


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or value == 0 and key == 'runs':
        return '-'
    if not isinstance(value, float):
        return str(value)
    std = row.get(f'{key}_std')
    return f'{value:.3f}' + (f' ± {std:.3f}' if std is not None else '')


HEADER = ('Model', 'mIoU (paper)', 'mIoU (ours)', 'mAcc (paper)', 'mAcc (ours)',
          'IoU lymphoblast (ours)', 'Dice lymphoblast (ours)', 'mDice (ours)',
          'blast precision', 'blast recall', 'blast F1', 'runs')


def to_markdown(rows: list[dict]) -> str:
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    for row in rows:
        lines.append('| ' + ' | '.join(_cell(row, c) for c in COLUMNS) + ' |')
    return '\n'.join(lines) + '\n'


def to_csv(rows: list[dict]) -> str:
    fields = list(COLUMNS) + [f'{k}_std' for k in MEASURED]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if row.get(k) is None else row[k] for k in fields})
    return buf.getvalue()


def table_paths(out_dir: str) -> tuple[str, str]:
    return osp.join(out_dir, 'table2.md'), osp.join(out_dir, 'table2.csv')


def write_tables(rows: list[dict], out_dir: str, force: bool = False,
                 note: str = '') -> tuple[str, str]:
    """Write table2.md and table2.csv (temp file, then rename)."""
    md_path, csv_path = table_paths(out_dir)
    for path in (md_path, csv_path):
        refuse_existing(path, force)
    md = ('# Table II: SegFormer on ALL-IDB, paper vs this reproduction\n\n'
          'Units 0-1 as in the paper (mmseg prints percentages). mIoU and '
          'mAcc average the two classes (background, lymphoblast). Blast '
          'precision/recall/F1 count blasts, matched by the centres of the '
          "label's blasts. With several runs (seeds), mean ± sample std.\n\n"
          + to_markdown(rows) + (f'\n{note}\n' if note else ''))
    for path, text in ((md_path, md), (csv_path, to_csv(rows))):
        atomic_write_text(path, text)
    return md_path, csv_path


def preflight(data_root: str, work_dir: str, force: bool = False) -> None:
    """Refuse, before any training, a missing data root or existing tables."""
    if not osp.isdir(data_root):
        raise AllidbError(data_root, 'data root is not a directory')
    for path in table_paths(work_dir):
        refuse_existing(path, force)


def select_variants(names: Optional[list[str]]) -> tuple[Variant, ...]:
    """The variants named (config stems), in Table II order; all if None."""
    if not names:
        return ALL_VARIANTS
    known = {v.config: v for v in ALL_VARIANTS}
    for name in names:
        if name not in known:
            raise AllidbError(name, 'not a Table II variant (one of: '
                             + ', '.join(known) + ')')
    return tuple(v for v in ALL_VARIANTS if v.config in names)


def run_variant(config: str, vdir: str, *, data_root: str,
                cfg_options: Optional[dict] = None,
                pretrained: Optional[str] = None, force: bool = False,
                step: Optional[Callable[[str, bool], None]] = None,
                name: str = '', cpu_seconds: Optional[dict] = None) -> dict:
    """Train ``config`` in ``vdir`` and test its best checkpoint.

    A run whose ``test_metrics.json`` exists is reused, and an interrupted
    one resumes from its latest checkpoint, unless ``force``. Returns the
    tools/test.py report. ``cpu_seconds``, when given, receives this
    process's CPU time of ``train`` and ``test`` (absent when reused).
    """
    import time

    from allidb_mmseg.engine import config as ec
    from allidb_mmseg.engine import runner as er
    from allidb_mmseg.models.checkpoint import best_checkpoint, saved_checkpoints

    step = step or (lambda msg, done: None)
    name = name or osp.basename(vdir)
    metrics_path = osp.join(vdir, METRICS_FILENAME)
    if osp.exists(metrics_path) and not force:
        step(f'{name}: reusing {metrics_path}', False)
        with open(metrics_path) as f:
            return json.load(f)
    interrupted = not force and bool(saved_checkpoints(vdir))
    step(f'{name}: {"resuming" if interrupted else "training"}', False)
    cfg = ec.prepare_train_config(
        config, cfg_options=cfg_options, data_root=data_root, work_dir=vdir,
        pretrained=pretrained, resume='auto' if interrupted else None,
        force=force)
    t0 = time.process_time()
    trained = er.train(cfg)
    t1 = time.process_time()
    _release_memory()
    ckpt = trained['best_checkpoint'] or best_checkpoint(vdir)
    step(f'{name}: testing {osp.basename(ckpt)}', False)
    cfg = ec.load_config(config, cfg_options=cfg_options, data_root=data_root,
                         work_dir=vdir)
    t2 = time.process_time()
    report = er.test(cfg, ckpt, out=metrics_path, force=True)
    if cpu_seconds is not None:
        cpu_seconds.update(train=t1 - t0, test=time.process_time() - t2)
    _release_memory()
    det = report.get('detection') or {}
    step(f'{name}: test mIoU {report["metrics"].get("mIoU")} %, blast F1 '
         f'{det.get("blast_F1")}', False)
    return report


def reproduce(data_root: str, work_dir: str, *, configs_dir: str,
              cfg_options: Optional[dict] = None,
              pretrained: Optional[str] = None, force: bool = False,
              otsu: bool = True, variants: Sequence[Variant] = ALL_VARIANTS,
              seeds: Sequence[int] = (0,),
              on_step: Optional[Callable[[str, bool], None]] = None) -> dict:
    """Train and test each variant once per seed; write Table II.

    One seed trains in ``work_dir/<config>``, several in
    ``work_dir/<config>/seed_<s>`` (``randomness.seed=s``); the table shows
    mean ± std over seeds. A run already tested is reused (so an interrupted
    reproduction continues), unless ``force``, which retrains everything and
    overwrites the tables. ``on_step(message, variant_done)`` reports
    progress. Returns paths, rows and per-variant lists of reports.
    """
    from allidb_mmseg.engine import config as ec

    preflight(data_root, work_dir, force)
    if not seeds:
        raise AllidbError('--seeds', 'give at least one seed')
    # Every split must exist before hours of training start, not after.
    ec.check_split_dirs(
        ec.load_config(osp.join(configs_dir, variants[0].config + '.py'),
                       cfg_options=cfg_options, data_root=data_root),
        ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    step = on_step or (lambda msg, done: None)
    results: dict[str, list[dict]] = {}
    for v in variants:
        config = osp.join(configs_dir, v.config + '.py')
        for seed in seeds:
            vdir = osp.join(work_dir, v.config)
            if len(seeds) > 1:
                vdir = osp.join(vdir, f'seed_{seed}')
            opts = dict(cfg_options or {}, **{'randomness.seed': seed})
            results.setdefault(v.config, []).append(run_variant(
                config, vdir, data_root=data_root, cfg_options=opts,
                pretrained=pretrained, force=force, step=step,
                name=osp.relpath(vdir, work_dir)))
        step(f'{v.config}: done ({len(seeds)} run(s))', True)
    otsu_report = None
    if otsu:
        from benchmarks.otsu import evaluate_otsu
        otsu_report = evaluate_otsu(data_root, 'test', progress=False)
    rows = table_rows(results, otsu_report)  # every row; ours where run
    note = (f'Data root: `{osp.abspath(data_root)}`; each model tested with '
            'its best-validation-mIoU checkpoint on the test split; seeds: '
            + ', '.join(map(str, seeds)) + '.')
    md_path, csv_path = write_tables(rows, work_dir, force=force, note=note)
    return dict(markdown=md_path, csv=csv_path, rows=rows, results=results)


def _release_memory() -> None:
    """Free the finished Runner's tensors before the next variant starts."""
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
