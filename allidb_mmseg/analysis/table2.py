"""The paper's Table II: train and test the four variants, tabulate beside the paper.

Why: the paper's single comparison is Table II (mIoU/mAcc of 128 vs 256 input,
with and without augmentation). One command retrains all four on a data root
and writes the table in the paper's 0-1 units, with an Otsu baseline row.
"""
from __future__ import annotations

import csv
import io
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Optional

from ..evaluation.summary import METRICS_FILENAME
from ..utils import AllidbError, atomic_write_text, refuse_existing

__all__ = ['Variant', 'VARIANTS', 'table_rows', 'to_markdown', 'to_csv',
           'write_tables', 'reproduce']


@dataclass(frozen=True)
class Variant:
    config: str          # config stem under configs/
    size: int
    augmented: bool
    paper_miou: float    # paper, Table II (0-1)
    paper_macc: float

    @property
    def label(self) -> str:
        aug = 'with' if self.augmented else 'without'
        return f'{self.size}x{self.size} {aug} augmentation'


VARIANTS = (
    Variant('segformer_allidb_128', 128, False, 0.809, 0.897),
    Variant('segformer_allidb_128_aug', 128, True, 0.821, 0.917),
    Variant('segformer_allidb_256', 256, False, 0.721, 0.809),
    Variant('segformer_allidb_256_aug', 256, True, 0.740, 0.832),
)
COLUMNS = ('variant', 'paper_mIoU', 'ours_mIoU', 'paper_mAcc', 'ours_mAcc',
           'ours_IoU_lymphoblast', 'ours_mDice')


def _frac(percent: Optional[float]) -> Optional[float]:
    return None if percent is None else round(percent / 100, 3)


def table_rows(results: dict[str, Optional[dict]],
               otsu: Optional[dict] = None) -> list[dict]:
    """Rows of Table II in 0-1 units.

    ``results`` maps a config stem to a tools/test.py report (mmseg's
    percentages) or None when that variant has no result.
    """
    rows = []
    for v in VARIANTS:
        report = results.get(v.config)
        m = (report or {}).get('metrics', {})
        fg = (report or {}).get('per_class', {}).get('lymphoblast', {})
        rows.append(dict(variant=v.label, paper_mIoU=v.paper_miou,
                         ours_mIoU=_frac(m.get('mIoU')),
                         paper_mAcc=v.paper_macc,
                         ours_mAcc=_frac(m.get('mAcc')),
                         ours_IoU_lymphoblast=_frac(fg.get('IoU')),
                         ours_mDice=_frac(m.get('mDice'))))
    if otsu:
        m = otsu['metrics']
        rows.append(dict(variant='Otsu threshold baseline (not in paper)',
                         paper_mIoU=None, ours_mIoU=_frac(m.get('mIoU')),
                         paper_mAcc=None, ours_mAcc=_frac(m.get('mAcc')),
                         ours_IoU_lymphoblast=_frac(m.get('IoU.lymphoblast')),
                         ours_mDice=_frac(m.get('mDice'))))
    return rows


def _cell(value) -> str:
    if value is None:
        return '-'
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def to_markdown(rows: list[dict]) -> str:
    header = ['Model', 'mIoU (paper)', 'mIoU (ours)', 'mAcc (paper)',
              'mAcc (ours)', 'IoU lymphoblast (ours)', 'mDice (ours)']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for row in rows:
        lines.append('| ' + ' | '.join(_cell(row[c]) for c in COLUMNS) + ' |')
    return '\n'.join(lines) + '\n'


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if row[k] is None else row[k] for k in COLUMNS})
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
          'mAcc average the two classes (background, lymphoblast).\n\n'
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
        return VARIANTS
    known = {v.config: v for v in VARIANTS}
    for name in names:
        if name not in known:
            raise AllidbError(name, 'not a Table II variant (one of: '
                             + ', '.join(known) + ')')
    return tuple(v for v in VARIANTS if v.config in names)


def reproduce(data_root: str, work_dir: str, *, configs_dir: str,
              cfg_options: Optional[dict] = None,
              pretrained: Optional[str] = None, force: bool = False,
              otsu: bool = True, variants=VARIANTS,
              on_step: Optional[Callable[[str, bool], None]] = None) -> dict:
    """Train and test each variant in ``work_dir/<config>``; write Table II.

    A variant whose ``test_metrics.json`` already exists is reused (so an
    interrupted run continues), unless ``force``, which retrains everything
    and overwrites the tables. ``on_step(message, variant_done)`` reports
    progress. Returns paths, rows and per-variant reports.
    """
    from ..engine import config as ec
    from ..engine import runner as er

    preflight(data_root, work_dir, force)
    # Every split must exist before hours of training start, not after.
    ec.check_split_dirs(
        ec.load_config(osp.join(configs_dir, variants[0].config + '.py'),
                       cfg_options=cfg_options, data_root=data_root),
        ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    step = on_step or (lambda msg, done: None)
    results: dict[str, dict] = {}
    for v in variants:
        config = osp.join(configs_dir, v.config + '.py')
        vdir = osp.join(work_dir, v.config)
        metrics_path = osp.join(vdir, METRICS_FILENAME)
        if osp.exists(metrics_path) and not force:
            with open(metrics_path) as f:
                results[v.config] = json.load(f)
            step(f'{v.config}: reusing {metrics_path}', True)
            continue
        # An interrupted variant continues from its latest checkpoint.
        interrupted = not force and osp.isdir(vdir) and any(
            f.endswith('.pth') for f in os.listdir(vdir))
        step(f'{v.config}: {"resuming" if interrupted else "training"}', False)
        cfg = ec.prepare_train_config(
            config, cfg_options=cfg_options, data_root=data_root,
            work_dir=vdir, pretrained=pretrained,
            resume='auto' if interrupted else None, force=force)
        trained = er.train(cfg)
        _release_memory()
        ckpt = trained['best_checkpoint'] or _last_checkpoint(vdir)
        step(f'{v.config}: testing {osp.basename(ckpt)}', False)
        cfg = ec.load_config(config, cfg_options=cfg_options,
                             data_root=data_root, work_dir=vdir)
        results[v.config] = er.test(cfg, ckpt, out=metrics_path, force=True)
        _release_memory()
        step(f'{v.config}: test mIoU '
             f'{results[v.config]["metrics"].get("mIoU")} %', True)
    otsu_report = None
    if otsu:
        from ..evaluation.otsu import evaluate_otsu
        otsu_report = evaluate_otsu(data_root, 'test', progress=False)
    rows = table_rows(results, otsu_report)
    note = (f'Data root: `{osp.abspath(data_root)}`; each model tested with '
            'its best-validation-mIoU checkpoint on the test split.')
    md_path, csv_path = write_tables(rows, work_dir, force=force, note=note)
    return dict(markdown=md_path, csv=csv_path, rows=rows, results=results)


def _release_memory() -> None:
    """Free the finished Runner's tensors before the next variant starts."""
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()
