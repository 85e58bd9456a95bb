"""Domain-shift benchmark on synthetic smears: train on one stain profile, test on all.

For each trained variant (a config) the model is tested on a fresh test set of every
stain profile: as given (``none``), with Reinhard normalization onto the model's reference
of the images the OOD score flags (``reinhard:flagged``, what ``--stain-normalize`` does)
and of every image (``reinhard:all``, ``--stain-normalize-all``). Per (variant, normalization, test profile) it reports the lymphoblast IoU
(pixels, pooled over the set, as mmseg's IoUMetric), blast precision/recall/F1 (centre
matching, :func:`~allidb_mmseg.evaluation.score_counts`) and the share of images the OOD
flag marks; per trained model, the flag's precision and recall for "shifted profile" vs
"training profile" test images.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from allidb_mmseg.converters.xyc import read_xyc
from allidb_mmseg.io.image_io import read_label
from allidb_mmseg.synthetic import make_synthetic
from allidb_mmseg.utils import AllidbError, atomic_write_json, atomic_write_text

__all__ = ['Variant', 'ShiftRow', 'make_profile_sets', 'train_variant',
           'evaluate_set', 'run_domain_shift', 'markdown_table']


@dataclass(frozen=True)
class Variant:
    """A trained model of the benchmark: a name and its config."""

    name: str
    config: str

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """``NAME=CONFIG`` with an existing config file (the tool's ``--variant``).

        Raises:
            AllidbError: not of that form, or no such config.
        """
        name, sep, config = spec.partition('=')
        if not sep or not name or not Path(config).is_file():
            raise AllidbError(config or spec, 'not NAME=CONFIG with an existing config')
        return cls(name, config)


@dataclass
class ShiftRow:
    """One (variant, normalization, test profile) result."""

    variant: str
    normalize: str
    train_profile: str
    test_profile: str
    lymphoblast_iou: float
    blast_precision: float
    blast_recall: float
    blast_f1: float
    ood_flagged: int
    num_images: int


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)


def make_profile_sets(out: Path, train_profile: str, test_profiles: Sequence[str],
                      num_train: int, num_test: int, size: int, seed: int) -> Path:
    """Synthetic sets and an mmseg data root (``out/data``) for the benchmark.

    The training split (and a validation split equal to the in-profile test set)
    are linked into ``out/data/{img_dir,ann_dir}``; each test set lies under
    ``out/test_<profile>`` (images/, masks/, centres/). Test sets use another seed
    than the training set, so no field is shared.
    """
    sets = {'train': (train_profile, num_train, seed)}
    sets.update({f'test_{p}': (p, num_test, seed + 1) for p in test_profiles})
    for name, (profile, n, s) in sets.items():
        if not (out / name / 'images').is_dir():
            make_synthetic(out / name, num_images=n, size=(size, size), seed=s,
                           stain_profile=profile, force=True)
    data = out / 'data'
    if not data.exists():
        for split, src in (('train', 'train'), ('val', f'test_{train_profile}')):
            _link(out / src / 'images', data / 'img_dir' / split)
            _link(out / src / 'masks', data / 'ann_dir' / split)
    return data


def train_variant(variant: Variant, data_root: Path, work_dir: Path, iters: int,
                  batch_size: int = 4, blast_weight: float = 10.0) -> str:
    """Train one variant (with :class:`StainReferenceHook`); its last checkpoint.

    A finished run (its checkpoint present) is reused.
    """
    done = work_dir / f'iter_{iters}.pth'
    if done.is_file():
        return str(done)
    from allidb_mmseg.engine.config import prepare_train_config
    from allidb_mmseg.engine.runner import train

    cfg = prepare_train_config(
        variant.config, data_root=str(data_root), work_dir=str(work_dir), force=True,
        cfg_options={
            'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
            'default_hooks.checkpoint.interval': iters,
            'default_hooks.checkpoint.save_best': None,
            'default_hooks.logger.interval': 50,
            'train_dataloader.batch_size': batch_size,
            'train_dataloader.num_workers': 0,
            'val_dataloader.num_workers': 0,
            'model.decode_head.loss_decode.class_weight': [1.0, blast_weight],
        })
    if not any(h.get('type') == 'StainReferenceHook' for h in cfg.custom_hooks):
        cfg.custom_hooks.append(dict(type='StainReferenceHook'))
    train(cfg)
    return str(done)


def evaluate_set(model, check, test_dir: Path, min_area: int) -> dict:
    """IoU, blast scores and OOD flags of one model on one synthetic test set."""
    from allidb_mmseg.apis import segment
    from allidb_mmseg.products.report import ImageRow
    from allidb_mmseg.evaluation import score_counts

    inter = union = hits = fps = misses = flagged = 0
    images = sorted((test_dir / 'images').glob('*.jpg'))
    for path in images:
        img = cv2.imread(str(path))
        truth = read_label(test_dir / 'masks' / f'{path.stem}.png') == 1
        row = ImageRow(file=str(path), name=path.stem)
        pred = segment(model, check.prepare(img, row)) == 1
        flagged += bool(row.ood_flag)
        inter += int(np.count_nonzero(pred & truth))
        union += int(np.count_nonzero(pred | truth))
        s = score_counts(pred.astype(np.uint8),
                         read_xyc(test_dir / 'centres' / f'{path.stem}.xyc'), min_area)
        hits, fps, misses = hits + s['hits'], fps + s['false_positives'], misses + s['misses']
    p = hits / (hits + fps) if hits + fps else 1.0
    r = hits / (hits + misses) if hits + misses else 1.0
    return dict(lymphoblast_iou=100.0 * inter / union if union else 100.0,
                blast_precision=p, blast_recall=r,
                blast_f1=2 * p * r / (p + r) if p + r else 0.0,
                ood_flagged=flagged, num_images=len(images))


def run_domain_shift(out: str | os.PathLike, variants: Sequence[Variant],
                     train_profile: str, test_profiles: Sequence[str],
                     num_train: int = 32, num_test: int = 16, size: int = 256,
                     iters: int = 400, seed: int = 0, blast_weight: float = 10.0,
                     normalizations: Sequence[str] = ('none', 'reinhard:flagged',
                                                      'reinhard:all')
                     ) -> dict:
    """Run the benchmark; write ``out/domain_shift.json`` and ``out/domain_shift.md``."""
    from allidb_mmseg.apis import load_model
    from allidb_mmseg.products.stain_check import load_stain_check

    out = Path(out)
    profiles = list(dict.fromkeys([train_profile, *test_profiles]))
    data = make_profile_sets(out, train_profile, profiles, num_train, num_test, size, seed)
    # The default minimum blast area (150 px) is for 640-px-wide fields.
    min_area = max(10, round(150 * (size / 640) ** 2))
    rows: list[ShiftRow] = []
    ood: dict[str, dict] = {}
    for v in variants:
        ckpt = train_variant(v, data, out / 'work_dirs' / v.name, iters,
                             blast_weight=blast_weight)
        model = load_model(v.config, ckpt)
        for norm in normalizations:
            method, _, which = norm.partition(':')
            check = load_stain_check(ckpt, normalize=None if method == 'none' else method,
                                     all_images=which == 'all')
            for prof in profiles:
                res = evaluate_set(model, check, out / f'test_{prof}', min_area)
                rows.append(ShiftRow(v.name, norm, train_profile, prof, **res))
        ood[v.name] = ood_precision_recall(
            [r for r in rows if r.variant == v.name and r.normalize == rows[-1].normalize],
            train_profile)
    result = dict(settings=dict(train_profile=train_profile, test_profiles=profiles,
                                num_train=num_train, num_test=num_test, size=size,
                                iters=iters, seed=seed, min_blast_area=min_area,
                                blast_weight=blast_weight,
                                variants=[asdict(v) for v in variants]),
                  rows=[asdict(r) for r in rows], ood=ood)
    atomic_write_json(out / 'domain_shift.json', result)
    atomic_write_text(out / 'domain_shift.md', markdown_table(result))
    return result


def ood_precision_recall(rows: Sequence[ShiftRow], train_profile: str) -> dict:
    """Flag precision/recall: shifted-profile images are the positives."""
    tp = sum(r.ood_flagged for r in rows if r.test_profile != train_profile)
    pos = sum(r.num_images for r in rows if r.test_profile != train_profile)
    fp = sum(r.ood_flagged for r in rows if r.test_profile == train_profile)
    return dict(precision=tp / (tp + fp) if tp + fp else 1.0,
                recall=tp / pos if pos else 1.0, flagged_shifted=tp, shifted=pos,
                flagged_in_domain=fp,
                in_domain=sum(r.num_images for r in rows
                              if r.test_profile == train_profile))


def markdown_table(result: dict) -> str:
    """The rows as a Markdown table, then the OOD flag's precision/recall."""
    s = result['settings']
    lines = [f"Trained on `{s['train_profile']}`: {s['num_train']} fields of "
             f"{s['size']}x{s['size']}, {s['iters']} iterations; {s['num_test']} test "
             'fields per profile.', '',
             '| variant | normalize | test profile | lymphoblast IoU | blast P | '
             'blast R | blast F1 | OOD flagged |', '|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f"| {r['variant']} | {r['normalize']} | {r['test_profile']} | "
                     f"{r['lymphoblast_iou']:.2f} | {r['blast_precision']:.3f} | "
                     f"{r['blast_recall']:.3f} | {r['blast_f1']:.3f} | "
                     f"{r['ood_flagged']}/{r['num_images']} |")
    lines += ['', '| variant | OOD flag precision | OOD flag recall |', '|---|---|---|']
    for name, o in result['ood'].items():
        lines.append(f"| {name} | {o['precision']:.3f} | {o['recall']:.3f} |")
    return '\n'.join(lines) + '\n'
