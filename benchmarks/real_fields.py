"""ALL-IDB1-like whole fields built from real white-cell crops (Zheng et al. 2018).

Why: every other figure of the project comes from its own synthetic smears. No
public set holds lymphoblasts with masks on whole fields, so this module builds
the nearest honest stand-in from real stained crops with expert masks:

* a field is a grid of real crops (``cols`` x ``rows`` tiles), each holding one
  white cell with the red cells around it, turned by a random multiple of 90
  degrees and maybe mirrored;
* **lymphocytes are the target class** (the stand-in for lymphoblasts); the other
  white cells (neutrophils, monocytes, eosinophils, basophils) are background that
  looks alike, so the target is rare and surrounded by look-alikes;
* a share of fields (``healthy_share``) hold no target at all;
* the crop pools of train, val and test are disjoint (split per cell type,
  seeded), so no test cell was seen in training, not even turned;
* a second lab's crops (Zheng Dataset 1: another stain, camera and scale) form a
  cross-lab test set, brought to the first lab's cell scale by the ratio of the
  two labs' median white-cell areas.

Masks hold 1 on the whole target cell (nucleus and cytoplasm, as the expert
drew it), 0 elsewhere; ``xyc/<split>/<stem>.xyc`` holds one centre per target.
The data never enters the repository: it is read from ``--real-root`` and
written under the benchmark's work folder.
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from allidb_mmseg.converters.xyc import write_xyc
from allidb_mmseg.utils import AllidbError

from .recorded import recorded_dataset

__all__ = ['CELL_TYPES', 'TARGET_TYPE', 'Crop', 'FieldSpec', 'load_zheng',
           'cell_scale_ratio', 'split_pools', 'compose_field', 'make_real_fields',
           'SOURCE_RBC_PX', 'SPLITS']

CELL_TYPES = {1: 'neutrophil', 2: 'lymphocyte', 3: 'monocyte', 4: 'eosinophil',
              5: 'basophil'}
TARGET_TYPE = 2
# Red-cell diameter of Zheng Dataset 2 crops in their own pixels (../shared/real
# README: "about 65 px"); every field, the cross-lab one included, is at this scale.
SOURCE_RBC_PX = 65.0
SPLITS = ('train', 'val', 'test', 'crosslab')
ZHENG = 'zheng_wbc'


@dataclass(frozen=True)
class Crop:
    """One expert-labelled white-cell crop."""

    image: np.ndarray   # (H, W, 3) uint8 BGR
    cell: np.ndarray    # (H, W) bool: the white cell (nucleus and cytoplasm)
    cell_type: int      # CELL_TYPES key
    name: str           # e.g. 'D2/017'


@dataclass(frozen=True)
class FieldSpec:
    """How many fields of what shape each split gets."""

    cols: int = 4
    rows: int = 3
    train: int = 40
    val: int = 8
    test: int = 12
    crosslab: int = 12
    healthy_share: float = 0.4
    max_targets: int = 4
    seed: int = 0

    def counts(self) -> dict[str, int]:
        return dict(train=self.train, val=self.val, test=self.test,
                    crosslab=self.crosslab)


def load_zheng(real_root: str | Path, dataset: int) -> list[Crop]:
    """The crops of Zheng Dataset ``dataset`` (1 or 2) with their cell types.

    Raises:
        AllidbError: the folder, its label table or a crop is missing or unreadable.
    """
    folder = Path(real_root) / ZHENG / f'Dataset {dataset}'
    table = Path(real_root) / ZHENG / f'Class Labels of Dataset {dataset}.csv'
    if not folder.is_dir() or not table.is_file():
        raise AllidbError(folder, 'is not a Zheng WBC dataset folder with its class table '
                          f'({table.name}); give --real-root the folder holding zheng_wbc/')
    with open(table, newline='') as f:
        labels = {int(r[0]): int(r[1]) for r in csv.reader(f) if r and r[0].isdigit()}
    crops = []
    for ident, cell_type in sorted(labels.items()):
        img_path, mask_path = folder / f'{ident:03d}.bmp', folder / f'{ident:03d}.png'
        img = cv2.imread(str(img_path))
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if img is None or mask is None or mask.shape != img.shape[:2]:
            raise AllidbError(img_path, 'crop or its mask is missing, unreadable or '
                              'of another size')
        crops.append(Crop(img, mask > 0, cell_type, f'D{dataset}/{ident:03d}'))
    return crops


def cell_scale_ratio(source: Sequence[Crop], target: Sequence[Crop]) -> float:
    """Linear factor that brings ``source`` cells to ``target``'s cell size:
    the square root of the ratio of their median white-cell areas."""
    area = lambda crops: float(np.median([c.cell.sum() for c in crops]))  # noqa: E731
    return math.sqrt(area(target) / area(source))


def split_pools(crops: Sequence[Crop], seed: int,
                shares: Sequence[float] = (0.6, 0.2, 0.2)) -> list[list[Crop]]:
    """Disjoint pools (train, val, test by default), split per cell type so each
    pool has its share of every type (at least one target where there is one)."""
    rng = np.random.default_rng(seed)
    pools: list[list[Crop]] = [[] for _ in shares]
    for t in sorted({c.cell_type for c in crops}):
        group = [c for c in crops if c.cell_type == t]
        order = rng.permutation(len(group))
        bounds = np.round(np.cumsum(shares) / sum(shares) * len(group)).astype(int)
        if len(group) >= len(shares):   # every pool gets one of each type
            bounds = np.maximum(bounds, np.arange(1, len(shares) + 1))
        start = 0
        for pool, end in zip(pools, bounds):
            pool.extend(group[i] for i in order[start:end])
            start = end
    return pools


def _tile(crop: Crop, side: int, scale: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """A crop scaled by ``scale``, turned, mirrored, brought to ``side``
    square (centre cut, or the border pixels repeated)."""
    img, cell = crop.image, crop.cell.astype(np.uint8)
    if scale != 1.0:
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
        cell = cv2.resize(cell, size, interpolation=cv2.INTER_NEAREST)
    k = int(rng.integers(4))
    img, cell = np.rot90(img, k), np.rot90(cell, k)
    if rng.random() < 0.5:
        img, cell = img[:, ::-1], cell[:, ::-1]
    out = []
    for a, mode in ((img, cv2.BORDER_REPLICATE), (cell, cv2.BORDER_CONSTANT)):
        h, w = a.shape[:2]
        y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
        a = np.ascontiguousarray(a[y0:y0 + side, x0:x0 + side])
        h, w = a.shape[:2]
        top, left = (side - h) // 2, (side - w) // 2
        out.append(cv2.copyMakeBorder(a, top, side - h - top, left, side - w - left,
                                      mode, value=0))
    return out[0], out[1].astype(bool)


def compose_field(pool: Sequence[Crop], n_targets: int, spec: FieldSpec, side: int,
                  rng: np.random.Generator, scale: float = 1.0, other_label: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One field: ``n_targets`` target crops and look-alikes in a grid.

    Returns:
        ``(image, label, centres)``: BGR uint8, uint8 label (1 on target cells,
        ``other_label`` on the other white cells) and an (N, 2) array of the
        targets' centres (x, y). The image and targets do not depend on
        ``other_label``.
    """
    targets = [c for c in pool if c.cell_type == TARGET_TYPE]
    others = [c for c in pool if c.cell_type != TARGET_TYPE]
    n = spec.cols * spec.rows
    if n_targets and not targets or n - n_targets and not others:
        raise AllidbError('pool', 'has no crop of a kind the field needs')
    chosen = [targets[i] for i in rng.integers(len(targets), size=n_targets)] + \
        [others[i] for i in rng.integers(len(others), size=n - n_targets)]
    order = rng.permutation(n)
    img = np.zeros((spec.rows * side, spec.cols * side, 3), np.uint8)
    label = np.zeros(img.shape[:2], np.uint8)
    centres = []
    for slot, idx in enumerate(order):
        crop = chosen[idx]
        y, x = (slot // spec.cols) * side, (slot % spec.cols) * side
        tile, cell = _tile(crop, side, scale, rng)
        img[y:y + side, x:x + side] = tile
        if crop.cell_type == TARGET_TYPE and cell.any():
            label[y:y + side, x:x + side] = cell
            ys, xs = np.nonzero(cell)
            centres.append((x + xs.mean(), y + ys.mean()))
        elif other_label:
            label[y:y + side, x:x + side][cell] = other_label
    return img, label, np.array(centres, np.float64).reshape(-1, 2)


def _write_split(tmp: Path, split: str, pool: Sequence[Crop], n: int, spec: FieldSpec,
                 side: int, scale: float, rng: np.random.Generator, other_label: int) -> dict:
    for sub in ('img_dir', 'ann_dir', 'xyc'):
        (tmp / sub / split).mkdir(parents=True)
    healthy = round(n * spec.healthy_share)
    targets = 0
    for i in range(n):
        k = 0 if i < healthy else int(rng.integers(1, spec.max_targets + 1))
        img, label, centres = compose_field(pool, k, spec, side, rng, scale, other_label)
        stem = f'{split}_{i:03d}'
        for path, ok in ((tmp / 'img_dir' / split / f'{stem}.jpg',
                          lambda p: cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 95])),
                         (tmp / 'ann_dir' / split / f'{stem}.png',
                          lambda p: cv2.imwrite(str(p), label))):
            if not ok(path):
                raise AllidbError(path, 'could not be written')
        write_xyc(tmp / 'xyc' / split / f'{stem}.xyc', centres)
        targets += len(centres)
    return dict(fields=n, healthy=healthy, targets=targets,
                crops=len(pool), target_crops=sum(c.cell_type == TARGET_TYPE for c in pool))


def make_real_fields(real_root: str | Path, out: str | Path,
                     spec: FieldSpec = FieldSpec(),
                     step: Optional[Callable[[str], None]] = None,
                     other_label: int = 0) -> dict:
    """Write (or reuse) ``out/{img_dir,ann_dir,xyc}/{train,val,test,crosslab}``.

    Train, val and test come from Zheng Dataset 2 (one lab, CellaVision) with
    disjoint crop pools; ``crosslab`` from all of Dataset 1 (another lab),
    scaled to Dataset 2's cell size. ``out/dataset.json`` records the spec and
    per-split counts; an existing ``out`` with the same spec is reused, with
    another spec refused. ``other_label`` (not 0) labels the other white cells
    with that class; the fields are the same.

    Raises:
        AllidbError: no Zheng data under ``real_root``, or ``out`` holds other data.
    """
    lab1, lab2 = load_zheng(real_root, 2), load_zheng(real_root, 1)
    scale = cell_scale_ratio(lab2, lab1)
    side = max(c.image.shape[0] for c in lab1)
    sides = dict(train=side, val=side, test=side,
                 crosslab=round(max(max(c.image.shape[:2]) for c in lab2) * scale))
    pools = dict(zip(('train', 'val', 'test'), split_pools(lab1, spec.seed)))
    pools['crosslab'] = lab2

    def build(tmp: Path) -> dict:
        splits = {}
        for k, split in enumerate(SPLITS):
            if step:
                step(f'{split}: {spec.counts()[split]} fields')
            rng = np.random.default_rng([spec.seed, k])
            splits[split] = _write_split(tmp, split, pools[split], spec.counts()[split],
                                         spec, sides[split],
                                         scale if split == 'crosslab' else 1.0, rng,
                                         other_label)
        return dict(splits=splits, source_rbc_px=SOURCE_RBC_PX, crosslab_scale=scale,
                    tile_px=sides,
                    pools={s: sorted(c.name for c in p) for s, p in pools.items()})

    record = dict(asdict(spec), **({'other_label': other_label} if other_label else {}))
    return recorded_dataset(Path(out), record, 'real-field set', build)
