"""Native scale vs the paper's 128 px squeeze vs Otsu, on ALL-IDB1-size fields.

Why: the native-scale config exists because squeezing a 2592x1944 field to
128 px shrinks a blast to 10-20 px. This module measures the claim on
synthetic fields of ALL-IDB1's size, where the truth is exact: it builds the
data set, trains both models at one stated budget (the same iterations for
both, or the same CPU time), tests them and the Otsu baseline with the same
scoring, and tabulates mean ± std over seeds.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from allidb_mmseg.utils import AllidbError, atomic_write_json

from .recorded import recorded_dataset

__all__ = ['DatasetSpec', 'make_dataset']

SPLITS = ('train', 'val', 'test')


@dataclass(frozen=True)
class DatasetSpec:
    """Synthetic fields per split (half of each split healthy)."""

    size: tuple[int, int] = (2592, 1944)
    train: int = 40
    val: int = 4
    test: int = 20
    seed: int = 0

    def counts(self) -> dict[str, int]:
        return dict(train=self.train, val=self.val, test=self.test)


def make_dataset(root: str | os.PathLike, spec: DatasetSpec = DatasetSpec(),
                 progress: bool = False) -> dict:
    """Write (or reuse) ``root/{img_dir,ann_dir}/{train,val,test}``.

    Each split is its own synthetic set (seeds ``seed``, ``seed + 1``,
    ``seed + 2``), half healthy, with exact masks; ``root/dataset.json``
    records the spec. An existing root with the same spec is reused; one
    with another spec is refused (choose another root).

    Returns:
        The recorded spec and per-split counts (images, healthy, blasts).
    """
    from allidb_mmseg.synthetic import make_synthetic

    wanted = dict(asdict(spec), size=list(spec.size))

    def build(tmp: Path) -> dict:
        splits = {}
        for k, (split, n) in enumerate(spec.counts().items()):
            raw = tmp / f'raw_{split}'
            info = make_synthetic(raw, num_images=n, size=spec.size,
                                  seed=spec.seed + k, progress=progress)
            for sub, dst in (('images', 'img_dir'), ('masks', 'ann_dir'),
                             ('centres', 'xyc')):
                (tmp / dst).mkdir(exist_ok=True)
                shutil.move(str(raw / sub), str(tmp / dst / split))
            shutil.rmtree(raw)
            splits[split] = dict(images=n, healthy=info['num_healthy'],
                                 blasts=info['num_blasts'])
        return dict(splits=splits)

    return recorded_dataset(Path(root), wanted, 'synthetic set', build)


@dataclass(frozen=True)
class Method:
    """One trained model of the comparison."""

    name: str       # row name and run folder
    config: str     # config stem under configs/
    iters: int      # training iterations (the budget)
    batch_size: int
    options: tuple = ()  # extra (key, value) cfg-options


# The equal budget (docs/native_scale.md#accuracy): iterations chosen so that
# both models train for about the same CPU time on one core.
DEFAULT_METHODS = (
    Method('native', 'segformer_allidb_native_aug', iters=1200, batch_size=4),
    # The demo's from-scratch CPU recipe for 128_aug: blasts weighted x10 in
    # the cross-entropy, without which a short run predicts background only.
    Method('128_aug', 'segformer_allidb_128_aug', iters=2400, batch_size=8,
           options=(('model.decode_head.loss_decode.class_weight', [1.0, 10.0]),)),
)
# From-scratch training on a CPU for minutes needs a larger step than the
# paper's 6e-5 (which assumes ImageNet weights); the demo uses the same.
DEFAULT_LR = 6e-4
COLUMNS = ('mIoU', 'IoU_lymphoblast', 'blast_precision', 'blast_recall',
           'blast_F1', 'count_MAE', 'ALL_accuracy')
LOWER_IS_BETTER = {'count_MAE'}


def method_options(method: Method, seed: int, lr: float = DEFAULT_LR,
                   val_every: Optional[int] = None) -> dict:
    """cfg-options of one training run: budget, seed, one process."""
    every = val_every or max(method.iters // 4, 1)
    opts = {
        'train_cfg.max_iters': method.iters, 'train_cfg.val_interval': every,
        'default_hooks.checkpoint.interval': every,
        'default_hooks.logger.interval': 50,
        'train_dataloader.batch_size': method.batch_size,
        # One process: the CPU time measured is the whole training's.
        'train_dataloader.num_workers': 0, 'val_dataloader.num_workers': 0,
        'test_dataloader.num_workers': 0,
        'optim_wrapper.optimizer.lr': lr, 'randomness.seed': seed,
    }
    opts.update(dict(method.options))
    return opts


def _row_values(report: dict) -> dict:
    """The compared numbers of one test report: percent IoUs, 0-1 detection."""
    det = report.get('detection') or {}
    m = report['metrics']
    iou = report.get('per_class', {}).get('lymphoblast', {}).get('IoU')
    return dict(mIoU=m.get('mIoU'), IoU_lymphoblast=iou,
                **{k: det.get(k) for k in COLUMNS[2:]})


def aggregate(reports: list[dict]) -> dict:
    """Mean and sample std (None for one run) of each column over runs."""
    from benchmarks.table2 import mean_std

    train = mean_std(reports, ('train_iters', 'train_cpu_min'))
    return dict(runs=len(reports),
                **mean_std([_row_values(r) for r in reports], COLUMNS),
                train_iters=train['train_iters'], train_cpu_min=train['train_cpu_min'])


def targets(rows: dict[str, dict]) -> list[dict]:
    """The issue's targets, each with its margin (positive: met)."""
    nat, base = rows['native'], rows['128_aug']
    out = []
    for key in COLUMNS:
        if nat[key] is None or base[key] is None:
            continue
        sign = -1 if key in LOWER_IS_BETTER else 1
        margin = sign * (nat[key] - base[key])
        out.append(dict(target=f'native beats 128_aug on {key}',
                        margin=margin, met=margin > 0))
    gap = nat['IoU_lymphoblast'] - base['IoU_lymphoblast']
    out.append(dict(target='lymphoblast IoU +15 points or more',
                    margin=gap - 15.0, met=gap >= 15.0))
    out.append(dict(target='blast F1 >= 0.95', margin=nat['blast_F1'] - 0.95,
                    met=nat['blast_F1'] >= 0.95))
    out.append(dict(target='ALL-vs-healthy accuracy >= 0.95',
                    margin=nat['ALL_accuracy'] - 0.95,
                    met=nat['ALL_accuracy'] >= 0.95))
    return out


def _fmt(value: Optional[float], std: Optional[float], percent: bool) -> str:
    if value is None:
        return '-'
    digits = 2 if percent else 3
    text = f'{value:.{digits}f}'
    return text + (f' ± {std:.{digits}f}' if std is not None else '')


def to_markdown(rows: dict[str, dict]) -> str:
    """The comparison table (IoUs in percent, detection 0-1)."""
    head = ['method', 'mIoU (%)', 'lymphoblast IoU (%)', 'blast precision',
            'blast recall', 'blast F1', 'count MAE', 'ALL-vs-healthy acc.',
            'train iters', 'train CPU min', 'runs']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, r in rows.items():
        cells = [name] + [_fmt(r[k], r.get(f'{k}_std'), k in ('mIoU', 'IoU_lymphoblast'))
                          for k in COLUMNS]
        cells += ['-' if r.get('train_iters') is None else f"{r['train_iters']:.0f}",
                  '-' if r.get('train_cpu_min') is None else f"{r['train_cpu_min']:.1f}",
                  str(r['runs'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def targets_markdown(checks: list[dict]) -> str:
    lines = ['| target | met | margin |', '|---|---|---|']
    for c in checks:
        lines.append(f"| {c['target']} | {'yes' if c['met'] else 'NO'} | "
                     f"{c['margin']:+.3f} |")
    return '\n'.join(lines) + '\n'


def train_and_test(method: Method, run_dir: str, data_root: str, *,
                   configs_dir: str, seed: int, lr: float = DEFAULT_LR,
                   force: bool = False,
                   step: Optional[Callable[[str, bool], None]] = None) -> dict:
    """One training run and its test report, with the training CPU time.

    The CPU time is this process's during training (one torch thread, no
    loader workers: all of it), kept in ``run_dir/train_time.json``; a
    finished run is reused with its recorded time.
    """
    from benchmarks.table2 import run_variant

    timing = osp.join(run_dir, 'train_time.json')
    spent: dict = {}
    report = run_variant(osp.join(configs_dir, method.config + '.py'), run_dir,
                         data_root=data_root, cfg_options=method_options(method, seed, lr),
                         force=force, step=step, name=f'{method.name}/seed_{seed}',
                         cpu_seconds=spent)
    if spent:
        atomic_write_json(timing, dict(train_cpu_s=spent['train'],
                                       test_cpu_s=spent['test'], iters=method.iters))
    recorded = json.loads(Path(timing).read_text()) if osp.isfile(timing) else {}
    return dict(report, train_iters=recorded.get('iters'),
                train_cpu_min=recorded['train_cpu_s'] / 60.0 if recorded else None)


def _otsu(data_root: str, out: str) -> dict:
    """The Otsu baseline on the test split (deterministic: computed once)."""
    from benchmarks.otsu import evaluate_otsu

    if osp.isfile(out):
        return json.loads(Path(out).read_text())
    report = evaluate_otsu(data_root, 'test', progress=False)
    atomic_write_json(out, report)
    return report


def compare(work_dir: str, *, configs_dir: str, data_root: Optional[str] = None,
            spec: DatasetSpec = DatasetSpec(),
            methods: tuple[Method, ...] = DEFAULT_METHODS,
            seeds: tuple[int, ...] = (0,), lr: float = DEFAULT_LR,
            force: bool = False, figures: bool = True,
            step: Optional[Callable[[str, bool], None]] = None) -> dict:
    """Build the data, train and test every method per seed, tabulate.

    Runs live in ``work_dir/<method>/seed_<s>`` and are reused when done (so
    seeds can be added later, or run in parallel processes); ``force``
    retrains. The tables (``accuracy.md``, ``accuracy.json``) and figures
    are derived from the runs and rewritten every time.

    Returns:
        ``rows`` (per method: mean, std, runs, budget), ``targets``, paths.
    """
    step = step or (lambda msg, done: None)
    if not seeds:
        raise AllidbError('--seeds', 'give at least one seed')
    data_root = data_root or osp.join(work_dir, 'data')
    step(f'data: {data_root}', False)
    dataset = make_dataset(data_root, spec, progress=True)
    reports: dict[str, list[dict]] = {m.name: [] for m in methods}
    for seed in seeds:
        for m in methods:
            reports[m.name].append(train_and_test(
                m, osp.join(work_dir, m.name, f'seed_{seed}'), data_root,
                configs_dir=configs_dir, seed=seed, lr=lr, force=force, step=step))
            step(f'{m.name}/seed_{seed}: done', True)
    otsu = _otsu(data_root, osp.join(work_dir, 'otsu_test.json'))
    rows = {name: aggregate(r) for name, r in reports.items()}
    rows['Otsu'] = aggregate([otsu])
    checks = targets(rows) if {'native', '128_aug'} <= set(rows) else []
    out = dict(rows=rows, targets=checks, seeds=list(seeds), lr=lr,
               methods=[asdict(m) for m in methods], dataset=dataset,
               data_root=osp.abspath(data_root))
    md = ('# Native scale vs 128_aug vs Otsu (synthetic ALL-IDB1-size fields)\n\n'
          f"Test split: {dataset['splits']['test']['images']} fields "
          f"{spec.size[0]}x{spec.size[1]} ({dataset['splits']['test']['healthy']} "
          f"healthy, {dataset['splits']['test']['blasts']} blasts); trained on "
          f"{dataset['splits']['train']['images']} from scratch, lr {lr:g}, "
          f"seeds {', '.join(map(str, seeds))} (mean ± sample std).\n\n"
          + to_markdown(rows) + '\n' + targets_markdown(checks))
    atomic_write_json(osp.join(work_dir, 'accuracy.json'), out)
    from allidb_mmseg.utils import atomic_write_text
    atomic_write_text(osp.join(work_dir, 'accuracy.md'), md)
    out.update(markdown=md, paths=[osp.join(work_dir, 'accuracy.md'),
                                   osp.join(work_dir, 'accuracy.json')])
    if figures and len(methods) == len(DEFAULT_METHODS):
        out['paths'].append(plot_comparison(rows, osp.join(work_dir, 'comparison.png')))
        out['paths'].append(plot_example(
            work_dir, data_root, configs_dir, methods, seeds[0],
            osp.join(work_dir, 'example.png')))
    return out


def plot_comparison(rows: dict[str, dict], path: str) -> str:
    """Bars of each 0-1 column per method, with the std over seeds."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from allidb_mmseg.utils import atomic_write

    cols = [('IoU_lymphoblast', 'lymphoblast IoU', 0.01),
            ('blast_precision', 'blast precision', 1), ('blast_recall', 'blast recall', 1),
            ('blast_F1', 'blast F1', 1), ('ALL_accuracy', 'ALL-vs-healthy acc.', 1)]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    width = 0.8 / len(rows)
    x = np.arange(len(cols))
    for i, (name, r) in enumerate(rows.items()):
        vals = [(r[k] or 0) * f for k, _, f in cols]
        errs = [(r.get(f'{k}_std') or 0) * f for k, _, f in cols]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, vals, width, yerr=errs,
               capsize=3, label=name)
    ax.set_xticks(x, [c[1] for c in cols])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel('0-1')
    ax.grid(axis='y', alpha=0.3)
    ax.legend()
    ax.set_title('Native scale vs 128_aug vs Otsu, synthetic 2592x1944 test fields')
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format='png'))
    return path


def plot_example(work_dir: str, data_root: str, configs_dir: str,
                 methods: tuple[Method, ...], seed: int, path: str) -> str:
    """One test field with the most blasts: the truth and each method's
    outline, on a crop around the blasts."""
    import cv2
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from allidb_mmseg.apis import load_model, segment
    from allidb_mmseg.io.image_io import read_label
    from allidb_mmseg.models.checkpoint import best_checkpoint
    from benchmarks.otsu import otsu_blast_mask
    from allidb_mmseg.utils import atomic_write, split_pairs

    pairs = split_pairs(data_root, 'test')
    labels = [read_label(a) for _, a in pairs]
    k = int(np.argmax([(lab == 1).sum() for lab in labels]))
    img = cv2.imread(str(pairs[k][0]), cv2.IMREAD_COLOR)
    label = labels[k]
    preds = {}
    for m in methods:
        run = osp.join(work_dir, m.name, f'seed_{seed}')
        ckpt = best_checkpoint(run)
        saved = osp.join(run, m.config + '.py')  # as trained, options applied
        model = load_model(saved if osp.isfile(saved)
                           else osp.join(configs_dir, m.config + '.py'), ckpt)
        preds[m.name] = segment(model, img)
    preds['Otsu'] = otsu_blast_mask(img)
    ys, xs = np.nonzero(label == 1)
    pad = img.shape[1] // 16
    y0, y1 = max(0, ys.min() - pad), min(img.shape[0], ys.max() + pad)
    x0, x1 = max(0, xs.min() - pad), min(img.shape[1], xs.max() + pad)
    panels = [('truth', label)] + list(preds.items())
    fig = Figure(figsize=(4 * len(panels), 4))
    FigureCanvasAgg(fig)
    for ax, (name, mask) in zip(fig.subplots(1, len(panels)), panels):
        view = img[y0:y1, x0:x1].copy()
        contours, _ = cv2.findContours((mask[y0:y1, x0:x1] == 1).astype(np.uint8),
                                       cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(view, contours, -1, (0, 200, 0) if name == 'truth'
                         else (0, 0, 255), max(2, img.shape[1] // 500))
        ax.imshow(view[..., ::-1])
        ax.set_title(name)
        ax.axis('off')
    fig.suptitle(f'{pairs[k][0].name}: blast outlines (crop)')
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format='png'))
    return path


