"""ALLIDBDataset on converted data: formats, mmseg pipeline, IoUMetric, visualizer."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from coco_fixtures import write_cvat_export

from allidb_mmseg.converters import convert_coco
from allidb_mmseg.datasets import ALLIDBDataset
from mmseg.evaluation import IoUMetric
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS

SPLITS = ('train', 'val', 'test')
PIPELINE = [dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def dataset(root: Path, split: str, **kwargs) -> ALLIDBDataset:
    # the 'mmseg' scope resolves the transforms' names to mmseg's classes
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(
            type='ALLIDBDataset', data_root=str(root),
            data_prefix=dict(img_path=f'img_dir/{split}',
                             seg_map_path=f'ann_dir/{split}'),
            pipeline=PIPELINE, **kwargs))


def loaded_masks(root: Path) -> dict[str, tuple[np.ndarray, dict]]:
    """stem -> (gt mask as the mmseg pipeline loads it, packed sample)."""
    out = {}
    for split in SPLITS:
        ds = dataset(root, split)
        for i in range(len(ds)):
            item = ds[i]
            sample = item['data_samples']
            stem = Path(sample.img_path).stem
            out[stem] = (sample.gt_sem_seg.data.squeeze(0).numpy(), item)
    return out


def test_metainfo_and_registration():
    assert ALLIDBDataset.METAINFO['classes'] == ('background', 'lymphoblast')
    assert len(ALLIDBDataset.METAINFO['palette']) == 2
    assert DATASETS.get('ALLIDBDataset') is ALLIDBDataset


def test_finds_every_image_format_and_pairs_masks_by_stem(tmp_path):
    split = tmp_path / 'img_dir' / 'train'
    ann = tmp_path / 'ann_dir' / 'train'
    split.mkdir(parents=True)
    ann.mkdir(parents=True)
    img = np.full((16, 20, 3), 200, np.uint8)
    names = ['a.jpg', 'b.png', 'c.bmp', 'd.tif', 'e.JPG', 'f.tiff', 'g.jpeg']
    for name in names:
        assert cv2.imwrite(str(split / name), img)
        cv2.imwrite(str(ann / f'{Path(name).stem}.png'),
                    np.zeros((16, 20), np.uint8))
    (split / 'notes.txt').write_text('not an image')
    ds = dataset(tmp_path, 'train')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [Path(d['img_path']).name for d in infos] == names
    assert all(Path(d['seg_map_path']).name == f'{Path(d["img_path"]).stem}.png'
               for d in infos)
    assert all(ds[i]['inputs'].shape == (3, 16, 20) for i in range(len(ds)))
    # a split list of stems selects (and orders) images whatever their format
    (tmp_path / 'pick.txt').write_text('d\nb\n')
    picked = dataset(tmp_path, 'train', ann_file='pick.txt')
    assert [Path(picked.get_data_info(i)['img_path']).name
            for i in range(len(picked))] == [
        'd.tif', 'b.png']
    (tmp_path / 'bad.txt').write_text('zz\n')
    with pytest.raises(FileNotFoundError, match='zz'):
        dataset(tmp_path, 'train', ann_file='bad.txt')
    cv2.imwrite(str(split / 'a.png'), img)  # same stem twice: ambiguous
    with pytest.raises(ValueError, match="share the stem 'a'"):
        dataset(tmp_path, 'train')


def test_converted_export_loads_exactly_and_scores_100_miou(tmp_path):
    ann, img_dir, gt = write_cvat_export(
        tmp_path / 'src', n_all=4, n_healthy=2, size=(120, 90), encoding='rle',
        ext=('.jpg', '.png', '.bmp', '.tif'))
    root = tmp_path / 'data'
    convert_coco(ann, img_dir, root, ratios=(0.5, 0.25, 0.25), progress=False)
    loaded = loaded_masks(root)
    assert sorted(loaded) == sorted(gt)
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = ALLIDBDataset.METAINFO
    for stem, (mask, item) in loaded.items():
        assert np.array_equal(mask, gt[stem]), stem
        sample = item['data_samples'].to_dict()
        sample['pred_sem_seg'] = dict(data=sample['gt_sem_seg']['data'])
        metric.process({}, [sample])
    result = metric.compute_metrics(metric.results)
    assert result['mIoU'] == pytest.approx(100.0)
    # and it can fail: a prediction that misses the blasts scores lower
    metric.results.clear()
    for stem, (mask, item) in loaded.items():
        sample = item['data_samples'].to_dict()
        sample['pred_sem_seg'] = dict(data=torch.zeros_like(
            sample['gt_sem_seg']['data']))
        metric.process({}, [sample])
    assert metric.compute_metrics(metric.results)['mIoU'] < 60


def test_visualizer_draws_the_lymphoblast_palette(tmp_path):
    from mmseg.visualization import SegLocalVisualizer
    ann, img_dir, gt = write_cvat_export(tmp_path / 'src', n_all=1,
                                         n_healthy=0, size=(96, 72),
                                         encoding='compressed')
    root = tmp_path / 'data'
    convert_coco(ann, img_dir, root, ratios=(1, 0, 0), progress=False)
    item = dataset(root, 'train')[0]
    img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()  # RGB
    vis = SegLocalVisualizer(name='allidb_test_vis', alpha=1.0)
    vis.set_dataset_meta(ALLIDBDataset.METAINFO['classes'],
                         ALLIDBDataset.METAINFO['palette'])
    vis.add_datasample('x', img, item['data_samples'], draw_pred=False,
                       with_labels=False)
    drawn = vis.get_image()
    fg = gt['Im001_1'].astype(bool)
    # opaque overlay: every pixel takes its class's palette colour
    assert (drawn[fg] == [220, 40, 140]).all()
    assert (drawn[~fg] == [0, 0, 0]).all()
    assert fg.any() and (~fg).any()


def test_round_trip_synthetic_generator(tmp_path):
    """synthetic -> converter -> ALLIDBDataset == the generator's own masks."""
    from allidb_mmseg.synthetic import make_synthetic
    src = tmp_path / 'synth'
    make_synthetic(src, num_images=6, size=(160, 120), seed=0,
                   healthy_fraction=0.5)
    root = tmp_path / 'data'
    summary = convert_coco(src / 'annotations' / 'instances_default.json',
                           src / 'images', root, progress=False)
    assert summary['images'] == 6
    loaded = loaded_masks(root)
    truth = {p.stem: cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
             for p in sorted((src / 'masks').glob('*.png'))}
    assert sorted(loaded) == sorted(truth)
    assert any(t.any() for t in truth.values())
    assert any(not t.any() for t in truth.values())  # healthy donors
    for stem, (mask, _) in loaded.items():
        assert np.array_equal(mask, truth[stem]), stem
