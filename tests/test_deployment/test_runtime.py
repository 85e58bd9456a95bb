"""The onnxruntime backend: same preprocessing and masks as torch, no torch
imported, and tools/infer.py's rules for bad input and overwriting."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from allidb_mmseg.utils import AllidbError
from helpers import REPO, TINY_CONFIG, TINY_MIT, blob_image, call_tool

# Runs tools/infer.py with an import hook that fails loudly on the training
# stack, so even an optional `try: import torch` would end the run.
NO_TORCH = '''
import runpy, sys
class Forbid:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'mmseg', 'mmengine', 'mmcv'}:
            raise RuntimeError('torch-free path imported ' + name)
        return None
sys.meta_path.insert(0, Forbid())
sys.argv = ['tools/infer.py'] + sys.argv[1:]
runpy.run_path('tools/infer.py', run_name='__main__')
'''


def infer_without_torch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', NO_TORCH, *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def read_report(out) -> dict[str, dict]:
    return {r['name']: r for r in csv.DictReader(open(out / 'report.csv'))}


def test_onnx_backend_agrees_with_torch_without_importing_it(tiny_export, synth_set,
                                                             tmp_path):
    images = synth_set / 'images'
    ort_out, torch_out = tmp_path / 'ort', tmp_path / 'torch'
    r = infer_without_torch(tiny_export.onnx, images, '--out-dir', ort_out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '10 images: 10 segmented' in r.stdout
    t = call_tool('infer', tiny_export.config, tiny_export.checkpoint, images,
                  '--out-dir', torch_out, '--device', 'cpu')
    assert t.returncode == 0, t.stderr[-3000:]

    ort_rows, torch_rows = read_report(ort_out), read_report(torch_out)
    assert set(ort_rows) == set(torch_rows) and len(ort_rows) == 10
    same = total = 0
    for name, row in ort_rows.items():
        a = cv2.imread(str(ort_out / row['mask']), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(torch_out / torch_rows[name]['mask']), cv2.IMREAD_UNCHANGED)
        same, total = same + int((a == b).sum()), total + a.size
        assert row['blast_count'] == torch_rows[name]['blast_count'], name
    assert same / total >= 0.999, same / total
    fractions = [float(r['blast_area_fraction']) for r in ort_rows.values()]
    assert 0 < np.mean(fractions) < 0.9  # real masks, not all one class
    doc = json.loads((ort_out / 'report.json').read_text())
    assert doc['settings']['backend'] == 'onnxruntime'
    assert doc['settings']['model'] == str(tiny_export.onnx)


def test_the_import_guard_catches_the_torch_backend(tiny_export, tmp_path):
    """The check above can fail: the torch backend under the same guard does."""
    cv2.imwrite(str(tmp_path / 'a.png'), blob_image())
    r = infer_without_torch(tiny_export.config, tiny_export.checkpoint,
                            tmp_path / 'a.png', '--out-dir', tmp_path / 'o')
    assert r.returncode != 0 and 'torch-free path imported' in r.stderr


def test_bad_inputs_and_existing_outputs_follow_the_torch_rules(tiny_export, tmp_path):
    d = tmp_path / 'in'
    (d / 'b').mkdir(parents=True)
    cv2.imwrite(str(d / 'field.png'), blob_image(90, 130, 1))
    cv2.imwrite(str(d / 'b' / 'field.png'), blob_image(70, 100, 2))
    ok, buf = cv2.imencode('.jpg', blob_image(200, 200))
    (d / 'cut.jpg').write_bytes(buf.tobytes()[:len(buf) // 2])
    (d / 'notes.txt').write_text('not an image\n')
    out = tmp_path / 'out'
    args = [tiny_export.onnx, d, d / 'b' / 'field.png', d / 'missing.png',
            '--out-dir', out]
    r = infer_without_torch(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = read_report(out)
    assert {n: row['status'] for n, row in rows.items()} == {
        'field': 'ok', 'field-2': 'ok', 'cut': 'failed', 'notes': 'failed',
        'missing': 'failed'}
    assert 'truncated' in rows['cut']['error']
    mask = cv2.imread(str(out / rows['field-2']['mask']), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (70, 100)
    before = {p: p.stat().st_mtime_ns for p in out.rglob('*') if p.is_file()}
    again = infer_without_torch(*args)
    assert again.returncode == 2 and again.stderr.startswith('error: ')
    assert 'use --force' in again.stderr and 'Traceback' not in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*') if p.is_file()} == before
    assert infer_without_torch(*args, '--force').returncode == 0


def test_preprocessing_matches_the_mmseg_pipeline(tiny_export):
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.deployment import load_onnx_model

    img = blob_image(75, 133, seed=4)
    runtime = load_onnx_model(tiny_export.onnx)
    batch, valid = runtime.preprocess(img)
    model = load_model(tiny_export.config, tiny_export.checkpoint)
    packed = model._allidb_pipeline(dict(img=img))
    data = model.data_preprocessor(dict(inputs=[packed['inputs']],
                                        data_samples=[packed['data_samples']]), False)
    ref = data['inputs'].numpy()
    assert batch.shape == ref.shape == (1, 3, 64, 64) and valid == (64, 64)
    assert np.array_equal(batch, ref)
    with torch.no_grad():
        ref_logits = model.inference(data['inputs'], [packed['data_samples'].metainfo])
    assert np.abs(runtime.predict(batch) - ref_logits.numpy()).max() <= 1e-4


def test_keep_ratio_resize_and_padding_follow_mmcv_and_mmseg():
    import allidb_mmseg.compat  # noqa: F401  (mmcv-lite needs it before mmcv)
    import mmcv
    import torch
    from mmseg.utils import stack_batch

    from allidb_mmseg.deployment.runtime import resize_like_mmcv

    img = blob_image(75, 133, seed=5)
    ours = resize_like_mmcv(img, dict(scale=[100, 60], keep_ratio=True))
    assert np.array_equal(ours, mmcv.imrescale(img, (100, 60)))
    assert np.array_equal(resize_like_mmcv(img, dict(scale=[50, 40])),
                          mmcv.imresize(img, (50, 40)))

    from allidb_mmseg.deployment.runtime import OnnxSegmentor
    from allidb_mmseg.deployment.sidecar import DeploySpec
    rt = OnnxSegmentor.__new__(OnnxSegmentor)  # preprocessing only, no session
    rt.spec = DeploySpec(mean=[1, 2, 3], std=[2, 2, 2], rgb=False, num_classes=2,
                         classes=['a', 'b'], palette=[[0, 0, 0], [1, 1, 1]],
                         pad=dict(size=None, size_divisor=32, pad_val=7.0))
    batch, valid = rt.preprocess(img)
    x = torch.from_numpy((img.astype(np.float32) - [1, 2, 3]) / 2).permute(2, 0, 1)
    ref, _ = stack_batch([x.float()], size_divisor=32, pad_val=7.0)
    assert valid == (75, 133) and batch.shape == (1, 3, 96, 160)
    assert np.allclose(batch, ref.numpy())


def test_segment_accepts_an_exported_model(tiny_export):
    from allidb_mmseg.apis import segment
    from allidb_mmseg.deployment import load_onnx_model

    model = load_onnx_model(tiny_export.onnx)
    img = blob_image(90, 130)
    mask, prob = segment(model, img, return_prob=True)
    assert mask.shape == prob.shape == (90, 130) and mask.dtype == np.uint8
    assert np.array_equal(mask, model.segment(img))
    assert model.dataset_meta['classes'] == ['background', 'lymphoblast']


def test_model_files_that_do_not_belong_together_are_refused(tiny_export, tmp_path):
    from allidb_mmseg.deployment import load_onnx_model

    onnx = tmp_path / 'm.onnx'
    shutil.copy(tiny_export.onnx, onnx)
    with pytest.raises(AllidbError, match='no sidecar beside the model'):
        load_onnx_model(onnx)
    doc = json.loads(tiny_export.sidecar.read_text())
    onnx.with_suffix('.json').write_text(json.dumps(dict(doc, onnx_sha256='0' * 64)))
    with pytest.raises(AllidbError, match='describes another model'):
        load_onnx_model(onnx)
    slide = dict(doc, mode='slide', crop_size=None, stride=None)
    onnx.with_suffix('.json').write_text(json.dumps(slide))
    with pytest.raises(AllidbError, match='slide mode needs crop_size and stride'):
        load_onnx_model(onnx)
    onnx.write_bytes(b'not a graph')
    onnx.with_suffix('.json').write_text(json.dumps(dict(doc, onnx_sha256='')))
    with pytest.raises(AllidbError, match='cannot load the ONNX model'):
        load_onnx_model(onnx)
    import onnxruntime as ort
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        with pytest.raises(AllidbError, match='no CUDA provider'):
            load_onnx_model(tiny_export.onnx, device='cuda')


def test_runtime_modules_import_neither_torch_nor_onnxruntime():
    from helpers import run_py

    r = run_py('import sys, allidb_mmseg.deployment, allidb_mmseg.inference.tta, '
               'allidb_mmseg.apis.backends, allidb_mmseg.apis.distributed, '
               'allidb_mmseg.evaluation.split_scores\n'
               'heavy = {"torch", "mmseg", "mmengine", "onnxruntime"} & set(sys.modules)\n'
               'print(sorted(heavy))')
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == '[]'


def test_a_tiled_model_runs_tile_by_tile_at_the_working_scale_like_torch(
        tiny_export, tmp_path):
    from allidb_mmseg.apis import load_model, segment
    from allidb_mmseg.inference.tiling import RowSource, collect_bands
    from allidb_mmseg.deployment import export_onnx, load_onnx_model

    cfg = tmp_path / 'native.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + (
        "model['test_cfg'] = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))\n"
        "working_rbc_px = 24.0\nsource_rbc_px = 40.0\n"))
    export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'm.onnx')
    img = blob_image(150, 170)
    want, want_prob = segment(load_model(cfg, tiny_export.checkpoint), img,
                              return_prob=True)
    model = load_onnx_model(tmp_path / 'm.onnx')
    shapes = []
    predict = model.predict
    model.predict = lambda batch: (shapes.append(batch.shape[1:]), predict(batch))[1]
    mask, prob = model.segment(img, return_prob=True)
    # 150x170 at 24/40 is 90x102: 3x3 windows of 48 px, stride 32.
    assert shapes == [(3, 48, 48)] * 9
    assert (mask == want).mean() >= 0.999 and mask.shape == img.shape[:2]
    assert np.abs(prob.astype(np.float32) - want_prob.astype(np.float32)).max() < 1e-2

    class Rows(RowSource):  # a source read region by region, as a slide is
        def __init__(self, img):
            self.img, self.height, self.width = img, *img.shape[:2]

        def read_rows(self, y0, y1):
            return self.img[y0:y1]

    from allidb_mmseg.inference.model import segment_bands
    streamed, _ = collect_bands(segment_bands(model, Rows(img), 0.6), 150, 170)
    assert np.array_equal(streamed, mask)
    whole = load_onnx_model(tiny_export.onnx)
    with pytest.raises(AllidbError, match='cannot read an image region by region'):
        next(iter(segment_bands(whole, Rows(img))))
    assert whole.tile_settings() is None
