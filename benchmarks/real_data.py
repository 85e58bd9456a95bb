"""The real-data benchmark: train on real fields of one lab, test in-domain and cross-lab.

The fields come from :mod:`benchmarks.real_fields` (Zheng et al. 2018 crops; lymphocytes
are the target class). Per method (a config and a training budget) and seed it trains
from scratch, then scores the model on the in-domain test split and on the cross-lab
split, each as given (``none``) and with the model's stain measures
(``reinhard:flagged`` is ``--stain-normalize``, ``reinhard:all`` is
``--stain-normalize-all``). Scores, pooled over a split as mmseg's IoUMetric pools:

* target IoU (pixels);
* per-cell precision, recall and F1 (a true centre inside a counted blast is a hit,
  :func:`~allidb_mmseg.evaluation.score_counts`);
* count MAE per field;
* smear-level accuracy of the call (a field is "ALL" when it holds a target), both
  with the one-blast rule and with the evidence-based call whose threshold is chosen
  on the validation split (:mod:`allidb_mmseg.evaluation.smear_call`);
* precision, recall, F1, count MAE and the evidence call's accuracy again with a size
  filter (the smallest blast counted, fitted on the validation split), suffixed
  ``_sized``. The pixel mask, and so the target IoU, does not change with it.

Tables show mean ± sample std over seeds.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from allidb_mmseg.converters.xyc import read_xyc
from allidb_mmseg.evaluation.smear_call import (SmearCall, detection_f1, fit_call,
                                                kept_blasts, smear_score)
from allidb_mmseg.io.image_io import read_label
from allidb_mmseg.smear.cell_scale import min_blast_area
from allidb_mmseg.utils import AllidbError, atomic_write_json, atomic_write_text

from .real_fields import SOURCE_RBC_PX, FieldSpec, make_real_fields
from .table2 import mean_std

__all__ = ['Method', 'METHODS', 'DEFAULT_METHODS', 'NORMALIZATIONS', 'train_method',
           'field_records', 'split_scores', 'run_real_benchmark', 'to_markdown']

NORMALIZATIONS = ('none', 'reinhard:flagged', 'reinhard:all')
SCORES = ('target_IoU', 'precision', 'recall', 'F1', 'count_MAE', 'smear_acc_1blast',
          'smear_acc', 'precision_sized', 'recall_sized', 'F1_sized', 'count_MAE_sized',
          'smear_acc_sized')
# From-scratch CPU training needs a larger step than the paper's 6e-5 (which
# assumes ImageNet weights); the demo and the synthetic study use the same.
DEFAULT_LR = 6e-4
# Configs of ablation rows, relative to the configs folder.
ABLATIONS = '../benchmarks/configs/'


@dataclass(frozen=True)
class Method:
    """One trained model of the benchmark: a config, its budget and overrides."""

    name: str
    config: str              # config stem under configs/
    iters: int
    batch_size: int
    options: tuple = ()      # extra (key, value) cfg-options
    synthetic_init: bool = False  # start from :func:`synthetic_pretrain`'s weights
    other_label: int = 0     # the other white cells' class in its fields (0: background)

    def cfg_options(self, seed: int, lr: float = DEFAULT_LR) -> dict:
        """The run's cfg-options: budget, seed, the fields' red-cell size, one process."""
        every = max(self.iters // 2, 1)
        opts = {
            'train_cfg.max_iters': self.iters, 'train_cfg.val_interval': every,
            'default_hooks.checkpoint.interval': every,
            'default_hooks.logger.interval': 25,
            'train_dataloader.batch_size': self.batch_size,
            'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
            'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
            'test_dataloader.num_workers': 0, 'test_dataloader.persistent_workers': False,
            'optim_wrapper.optimizer.lr': lr, 'randomness.seed': seed,
        }
        if 'native' in self.config:
            opts['source_rbc_px'] = SOURCE_RBC_PX
        opts.update(dict(self.options))
        return {k: v for k, v in opts.items() if v is not None}  # None: the config's own


METHODS = {m.name: m for m in (
    # The paper's best config, with the demo's from-scratch CPU recipe
    # (blasts weighted x10 in the cross-entropy).
    Method('128_aug', 'segformer_allidb_128_aug', iters=2000, batch_size=8,
           options=(('model.decode_head.loss_decode.class_weight', [1.0, 10.0]),)),
    Method('native', 'segformer_allidb_native_aug', iters=1000, batch_size=4),
    Method('native_real', 'segformer_allidb_native_real', iters=1000, batch_size=4),
    # The default native config at the budget (2000 iterations of batch 8,
    # four times the CPU of the rows above).
    Method('native_long', 'segformer_allidb_native_aug', iters=2000, batch_size=8),
    Method('native_real_long', 'segformer_allidb_native_real', iters=2000, batch_size=8),
    # The default native config at twice the budget ("more iterations").
    Method('native_xlong', 'segformer_allidb_native_aug', iters=4000, batch_size=8),
    # Ablation rows (research configs under benchmarks/configs/).
    Method('native_cmr', ABLATIONS + 'native_cmr', iters=1000, batch_size=4),
    Method('native_cmr_weight', ABLATIONS + 'native_cmr_weight', iters=1000, batch_size=4),
    Method('native_real_dice', ABLATIONS + 'native_real_dice', iters=1000, batch_size=4),
    Method('native_real_dice_long', ABLATIONS + 'native_real_dice', iters=2000, batch_size=8),
    Method('native_ohem_long', ABLATIONS + 'native_ohem', iters=2000, batch_size=8),
    Method('native_cmr_long', ABLATIONS + 'native_cmr', iters=2000, batch_size=8),
    # MiT-B1 at an equal CPU budget: twice the CPU per iteration, half the iterations.
    Method('native_b1', ABLATIONS + 'native_b1', iters=1000, batch_size=8),
    # The default native config fine-tuned from weights trained on the project's
    # synthetic smears (synthetic_pretrain), not from scratch.
    Method('native_synpre', 'segformer_allidb_native_aug', iters=1000, batch_size=4,
           synthetic_init=True),
    Method('native_synpre_long', 'segformer_allidb_native_aug', iters=2000, batch_size=8,
           synthetic_init=True),
    Method('native_real_synpre_long', 'segformer_allidb_native_real', iters=2000, batch_size=8,
           synthetic_init=True),
    # The other white cells as a class of their own in training, merged into the
    # background at inference (its fields: WORK_DIR/data_other2, same images).
    Method('native_wbc_long', ABLATIONS + 'native_wbc', iters=2000, batch_size=8,
           other_label=2),
    # The same, with the other white cells found in the image, not labelled by
    # hand (LabelOtherWhiteCells; the plain fields).
    Method('native_wbc_auto_long', ABLATIONS + 'native_wbc_auto', iters=2000, batch_size=8),
    # A larger working scale (red cells 48 px, not 32): more nuclear detail to
    # tell lymphocytes from other white cells, 2.25x the pixels at inference.
    Method('native_real_rbc48', 'segformer_allidb_native_real', iters=1000, batch_size=4,
           options=(('working_rbc_px', 48),)),
)}
DEFAULT_METHODS = tuple(METHODS[m] for m in ('128_aug', 'native', 'native_real'))


# The synthetic pretraining: the generator's fields (its default look, half of
# them healthy), the native config, the rows' learning rate, one seed.
SYNTHETIC_PRETRAIN = Method('synthetic_pretrain', 'segformer_allidb_native_aug', iters=1000,
                            batch_size=4, options=(('source_rbc_px', None),))
SYNTHETIC_FIELDS, SYNTHETIC_SEED = 100, 7


def synthetic_pretrain(work_dir: Path, configs_dir: Path, force: bool = False) -> str:
    """The native config trained on synthetic smears; its last checkpoint.

    No real image is seen: the weights are a start that costs no labelled real
    data, in place of ImageNet weights that cannot be downloaded here. Built once
    under ``work_dir/synthetic_pretrain`` and reused.
    """
    from allidb_mmseg.converters.coco import convert_coco
    from allidb_mmseg.synthetic import make_synthetic

    root = work_dir / 'synthetic_pretrain'
    data = root / 'data'
    if not (data / 'img_dir').is_dir():
        make_synthetic(root / 'fields', num_images=SYNTHETIC_FIELDS, seed=SYNTHETIC_SEED,
                       force=True)
        convert_coco(root / 'fields/annotations/instances_default.json', root / 'fields/images',
                     data, seed=SYNTHETIC_SEED, force=True, progress=False)
    train_method(SYNTHETIC_PRETRAIN, root / 'train', data, configs_dir, seed=0, force=force)
    return str(root / 'train' / f'iter_{SYNTHETIC_PRETRAIN.iters}.pth')


def train_method(method: Method, run_dir: Path, data_root: Path, configs_dir: Path,
                 seed: int, lr: float = DEFAULT_LR, force: bool = False,
                 load_from: Optional[str] = None) -> tuple[str, dict]:
    """Train one run (with the stain-reference hook); its best checkpoint and timing.

    A finished run (``train_time.json`` present) is reused unless ``force``;
    ``load_from`` starts it from those weights.
    """
    from allidb_mmseg.engine.config import prepare_train_config
    from allidb_mmseg.engine.runner import train
    from allidb_mmseg.models.checkpoint import best_checkpoint

    timing = run_dir / 'train_time.json'
    if timing.is_file() and not force:
        return best_checkpoint(str(run_dir)), json.loads(timing.read_text())
    opts = method.cfg_options(seed, lr)
    if load_from:
        opts['load_from'] = load_from
    cfg = prepare_train_config(str(configs_dir / f'{method.config}.py'), cfg_options=opts,
                               data_root=str(data_root), work_dir=str(run_dir), force=True)
    if not any(h.get('type') == 'StainReferenceHook' for h in cfg.custom_hooks):
        cfg.custom_hooks.append(dict(type='StainReferenceHook'))
    t0, c0 = time.perf_counter(), time.process_time()
    trained = train(cfg)
    spent = dict(iters=method.iters, wall_s=time.perf_counter() - t0,
                 cpu_s=time.process_time() - c0)
    atomic_write_json(timing, spent)
    return trained['best_checkpoint'] or best_checkpoint(str(run_dir)), spent


def field_records(model, check, data_root: Path, split: str, min_area: int,
                  plain: Optional[dict[str, dict]] = None) -> list[dict]:
    """Per field of ``split``: pixel overlap, the count score and the counted blasts.

    ``plain`` (records without normalization, by name) is reused for the fields
    that ``check`` leaves as they are.
    """
    from allidb_mmseg.apis import segment
    from allidb_mmseg.evaluation import match_centres
    from allidb_mmseg.evaluation.counting import count_blasts
    from allidb_mmseg.evaluation.matching import hit_labels
    from allidb_mmseg.products.report import ImageRow

    records = []
    for path in sorted((data_root / 'img_dir' / split).glob('*.jpg')):
        img = cv2.imread(str(path))
        truth = read_label(data_root / 'ann_dir' / split / f'{path.stem}.png') == 1
        row = ImageRow(file=str(path), name=path.stem)
        if check is not None:
            given, img = img, check.prepare(img, row)
            if plain and img is given and path.stem in plain:
                records.append(dict(plain[path.stem], ood_flag=bool(row.ood_flag)))
                continue
        mask, prob = segment(model, img, return_prob=True)
        pred = mask == 1
        centres = read_xyc(data_root / 'xyc' / split / f'{path.stem}.xyc')
        counted = count_blasts(pred, min_area=min_area, prob=prob)
        s = match_centres(counted.labels, centres).as_dict()
        hits = hit_labels(counted.labels, centres)
        records.append(dict(
            name=path.stem, inter=int(np.count_nonzero(pred & truth)),
            union=int(np.count_nonzero(pred | truth)), true_count=s['true_count'],
            pred_count=s['pred_count'], hits=s['hits'], false_positives=s['false_positives'],
            misses=s['misses'], ood_flag=bool(row.ood_flag), min_area=min_area,
            blasts=[dict(area=b.area, mean_prob=b.mean_prob, hit=b.label in hits)
                    for b in counted.blasts]))
    return records


def _detection(records: Sequence[dict], factor: float) -> tuple[list, dict]:
    """Per field the blasts a size filter keeps; pooled P/R/F1 and count MAE."""
    kept = [kept_blasts(x, factor) for x in records]
    p, r, f1 = detection_f1(records, factor)
    mae = float(np.mean([abs(len(k[0]) - x['true_count']) for k, x in zip(kept, records)]))
    return kept, dict(precision=p, recall=r, F1=f1, count_MAE=mae)


def split_scores(records: Sequence[dict], call: SmearCall, sized: SmearCall) -> dict:
    """The pooled scores of one split (see the module docstring).

    ``call`` is the fitted call without a size filter, ``sized`` the one with it.
    """
    if not records:
        raise AllidbError('split', 'holds no fields')
    inter, union = (sum(r[k] for r in records) for k in ('inter', 'union'))
    truth = [x['true_count'] > 0 for x in records]

    def accuracy(flags: Sequence[bool]) -> float:
        return float(np.mean([a == b for a, b in zip(flags, truth)]))

    kept, plain = _detection(records, 1.0)
    kept_s, filtered = _detection(records, sized.min_area_factor)
    return dict(
        target_IoU=100.0 * inter / union if union else 100.0, **plain,
        smear_acc_1blast=accuracy([len(k[0]) > 0 for k in kept]),
        smear_acc=accuracy([call.applies(smear_score(*k)) for k in kept]),
        **{f'{k}_sized': v for k, v in filtered.items()},
        smear_acc_sized=accuracy([sized.applies(smear_score(*k)) for k in kept_s]),
        fields=len(records), ood_flagged=sum(x['ood_flag'] for x in records))


def score_run(result: dict, ckpt: str) -> dict:
    """Fit the call on the run's validation records, with and without the size
    filter, and score every split with both.

    The call without the filter (``allidb-fit-smear-call``'s default) is written
    beside the checkpoint.
    """
    recs = {k: [dict(r, min_area=r.get('min_area', result['min_area'])) for r in v]
            for k, v in result['records'].items()}
    call, sized = fit_call(recs['val']), fit_call(recs['val'], size_filter=True)
    call.save(Path(ckpt).with_name('smear_call.json'))
    return dict(result, smear_call=asdict(call), smear_call_sized=asdict(sized),
                scores={k: split_scores(v, call, sized) for k, v in recs.items()
                        if k != 'val'})


def _evaluate_run(method: Method, ckpt: str, run_dir: Path, data_root: Path,
                  configs_dir: Path, seed: int, normalizations: Sequence[str],
                  force: bool) -> dict:
    """Test one trained run on val (to fit the smear call), test and crosslab.

    A run scored before (``real_scores.json`` with its records) is only scored
    again from its records.
    """
    out = run_dir / 'real_scores.json'
    if out.is_file() and not force:
        done = json.loads(out.read_text())
        if 'records' in done:
            result = score_run(done, ckpt)
            atomic_write_json(out, result)
            return result
    from allidb_mmseg.apis import load_model
    from allidb_mmseg.engine.config import load_config
    from allidb_mmseg.products.stain_check import load_stain_check

    cfg = load_config(str(configs_dir / f'{method.config}.py'),
                      cfg_options=method.cfg_options(seed), data_root=str(data_root))
    model = load_model(cfg, ckpt)
    min_area = min_blast_area(source_rbc_px=SOURCE_RBC_PX)
    records: dict = {'val': field_records(model, None, data_root, 'val', min_area)}
    plain: dict[str, dict] = {}
    for norm in normalizations:
        how, _, which = norm.partition(':')
        check = load_stain_check(ckpt, normalize=None if how == 'none' else how,
                                 all_images=which == 'all')
        for split in ('test', 'crosslab'):
            recs = field_records(model, check, data_root, split, min_area,
                                 None if how == 'none' else plain)
            if how == 'none':
                plain.update((r['name'], r) for r in recs)
            records[f'{split}|{norm}'] = recs
    result = score_run(dict(checkpoint=ckpt, min_area=min_area, records=records), ckpt)
    atomic_write_json(out, result)
    return result


def run_real_benchmark(real_root: str | Path, work_dir: str | Path, configs_dir: str | Path,
                       methods: Sequence[Method] = DEFAULT_METHODS,
                       seeds: Sequence[int] = (0, 1), spec: FieldSpec = FieldSpec(),
                       normalizations: Sequence[str] = NORMALIZATIONS,
                       force: bool = False,
                       step: Optional[Callable[[str], None]] = None) -> dict:
    """Build the fields, train and score every method per seed, write the tables.

    Runs live in ``work_dir/<method>/seed_<s>`` and are reused when done.
    Writes ``work_dir/real_data.json`` and ``work_dir/real_data.md``.
    """
    step = step or (lambda msg: None)
    work_dir, configs_dir = Path(work_dir), Path(configs_dir)
    if not seeds:
        raise AllidbError('--seeds', 'give at least one seed')
    step(f'fields: {work_dir / "data"}')
    dataset = make_real_fields(real_root, work_dir / 'data', spec, step=step)
    roots = {0: work_dir / 'data'}
    runs: dict[str, list[dict]] = {}
    pretrained: Optional[str] = None  # synthetic_pretrain's checkpoint, built on first need
    for m in methods:
        for seed in seeds:
            run_dir = work_dir / m.name / f'seed_{seed}'
            if m.synthetic_init and pretrained is None:
                step('synthetic pretraining (once)')
                pretrained = synthetic_pretrain(work_dir, configs_dir)
            init = pretrained if m.synthetic_init else None
            if m.other_label not in roots:
                roots[m.other_label] = work_dir / f'data_other{m.other_label}'
                step(f'fields with other white cells as class {m.other_label}')
                make_real_fields(real_root, roots[m.other_label], spec, step=step,
                                 other_label=m.other_label)
            data_root = roots[m.other_label]
            step(f'{m.name}/seed_{seed}: training {m.iters} iterations')
            ckpt, spent = train_method(m, run_dir, data_root, configs_dir, seed, force=force,
                                       load_from=init)
            step(f'{m.name}/seed_{seed}: scoring {Path(ckpt).name}')
            res = _evaluate_run(m, ckpt, run_dir, data_root, configs_dir, seed,
                                normalizations, force)
            runs.setdefault(m.name, []).append(dict(res, train=spent, seed=seed))
    rows = {}
    for name, rs in runs.items():
        for key in rs[0]['scores']:
            rows[(name, key)] = dict(
                mean_std([r['scores'][key] for r in rs], SCORES), runs=len(rs),
                train_cpu_min=float(np.mean([r['train']['cpu_s'] for r in rs])) / 60,
                iters=rs[0]['train']['iters'])
    result = dict(dataset={k: v for k, v in dataset.items() if k != 'pools'},
                  methods=[asdict(m) for m in methods], seeds=list(seeds),
                  rows=[dict(method=k[0], split=k[1].split('|')[0],
                             normalize=k[1].split('|')[1], **v) for k, v in rows.items()],
                  runs=runs)
    atomic_write_json(work_dir / 'real_data.json', result)
    atomic_write_text(work_dir / 'real_data.md', to_markdown(result))
    return result


def _cell(row: dict, key: str) -> str:
    v, s = row.get(key), row.get(f'{key}_std')
    if v is None:
        return '-'
    digits = 1 if key == 'target_IoU' else 2 if key.startswith('count_MAE') else 3
    return f'{v:.{digits}f}' + (f' ± {s:.{digits}f}' if s is not None else '')


def to_markdown(result: dict) -> str:
    """In-domain and cross-lab tables (one row per method and normalization)."""
    d = result['dataset']
    sp = d['splits']
    lines = [f"Fields {d['spec']['cols']}x{d['spec']['rows']} tiles of real crops; train "
             f"{sp['train']['fields']} fields from {sp['train']['crops']} crops "
             f"({sp['train']['target_crops']} lymphocytes); test {sp['test']['fields']} "
             f"fields ({sp['test']['targets']} targets, {sp['test']['healthy']} without); "
             f"cross-lab {sp['crosslab']['fields']} fields ({sp['crosslab']['targets']} "
             f"targets) scaled x{d['crosslab_scale']:.2f}. Seeds "
             f"{', '.join(map(str, result['seeds']))} (mean ± sample std).", '']
    head = ['method', 'normalize', 'target IoU', 'P', 'R', 'F1', 'count MAE',
            'smear acc (1 blast)', 'smear acc (evidence)', 'P (size filter)',
            'R (size filter)', 'F1 (size filter)', 'count MAE (size filter)',
            'smear acc (evidence, size filter)', 'iters', 'train CPU min']
    for split, title in (('test', 'In-domain (Zheng Dataset 2 lab)'),
                         ('crosslab', 'Cross-lab (Zheng Dataset 1 lab)')):
        lines += [f'**{title}**', '', '| ' + ' | '.join(head) + ' |',
                  '|' + '---|' * len(head)]
        for r in result['rows']:
            if r['split'] == split:
                lines.append('| ' + ' | '.join(
                    [r['method'], r['normalize']] + [_cell(r, k) for k in SCORES]
                    + [str(r['iters']), f"{r['train_cpu_min']:.1f}"]) + ' |')
        lines.append('')
    return '\n'.join(lines)
