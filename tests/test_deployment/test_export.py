"""ONNX export: a checked graph with dynamic N/H/W, its sidecar, refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
from mmengine.config import Config

from allidb_mmseg.utils import AllidbError
from helpers import TINY_CONFIG, TINY_MIT, call_tool, tiny_config_file


def test_sidecar_holds_what_inference_needs(tiny_export):
    from allidb_mmseg.deployment.sidecar import file_sha256, read_sidecar

    s = read_sidecar(tiny_export.sidecar)
    assert s.mean == [123.675, 116.28, 103.53] and s.std == [58.395, 57.12, 57.375]
    assert s.rgb is True and s.num_classes == 2
    assert s.classes == ['background', 'lymphoblast']
    assert s.palette == [[0, 0, 0], [220, 40, 140]]
    assert s.resize == dict(scale=[64, 64], keep_ratio=False, interpolation='bilinear')
    # No config minimum: infer takes it per image from the red-cell size.
    assert s.mode == 'whole' and s.pad is None and s.min_blast_area is None
    assert s.onnx_sha256 == file_sha256(tiny_export.onnx)
    checks = s.export['check']
    assert [c['input_shape'] for c in checks] == [[2, 3, 64, 64], [1, 3, 88, 104]]
    assert all(c['max_abs_diff'] <= 1e-4 for c in checks)
    assert s.export['opset'] == 17 and s.export['checkpoint'] == str(tiny_export.checkpoint)


@pytest.mark.parametrize('portable', [False, True])
def test_graph_is_opset_17_with_dynamic_sizes(tiny_export, tmp_path, portable):
    import onnx
    import onnxruntime as ort
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.deployment import export_onnx
    from allidb_mmseg.deployment.export import encode_decode_module

    path = tiny_export.onnx
    if portable:
        path = tmp_path / 'portable.onnx'
        export_onnx(tiny_export.config, tiny_export.checkpoint, path, portable=True)
    graph = onnx.load(str(path))
    assert {o.domain: o.version for o in graph.opset_import}[''] == 17
    ops = {(n.domain, n.op_type) for n in graph.graph.node}
    contrib = ('com.microsoft', 'MultiHeadAttention')
    if portable:  # standard operators only: attention spelled out
        assert {d for d, _ in ops} <= {''} and ('', 'MatMul') in ops
    else:  # the fused attention, and no other non-standard operator
        assert contrib in ops and {o for o in ops if o[0]} == {contrib}
        assert ('', 'Softmax') not in ops
    net = encode_decode_module(load_model(tiny_export.config, tiny_export.checkpoint))
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(3)
    for n, h, w in [(3, 64, 64), (1, 100, 130), (1, 37, 203)]:
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        got = sess.run(None, {'input': x})[0]
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        assert got.shape == ref.shape == (n, 2, h, w)
        assert np.abs(got - ref).max() <= 1e-4


def test_failed_check_writes_nothing(tiny_export, tmp_path):
    from allidb_mmseg.deployment import export_onnx

    out = tmp_path / 'm.onnx'
    with pytest.raises(AllidbError, match=r'differ from torch by .* nothing written'):
        export_onnx(tiny_export.config, tiny_export.checkpoint, out, tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_without_force(tiny_export, tmp_path):
    from allidb_mmseg.deployment import export_onnx

    out = tmp_path / 'm.onnx'
    out.with_suffix('.json').write_text('a user file')
    with pytest.raises(AllidbError, match='use --force'):
        export_onnx(tiny_export.config, tiny_export.checkpoint, out)
    assert out.with_suffix('.json').read_text() == 'a user file'
    assert not out.exists()
    export_onnx(tiny_export.config, tiny_export.checkpoint, out, force=True)
    assert json.loads(out.with_suffix('.json').read_text())['mode'] == 'whole'


def test_pipeline_step_without_runtime_equivalent_is_refused(tiny_export, tmp_path):
    from allidb_mmseg.deployment import export_onnx

    cfg = tmp_path / 'flip.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + (
        "test_pipeline = [dict(type='LoadImageFromFile'),\n"
        "                 dict(type='RandomFlip', prob=1.0),\n"
        "                 dict(type='PackSegInputs')]\n"))
    with pytest.raises(AllidbError, match="step 'RandomFlip' has no equivalent"):
        export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'm.onnx')
    assert not (tmp_path / 'm.onnx').exists()


def test_export_tool(tiny_export, tmp_path):
    out = tmp_path / 'model.onnx'
    r = call_tool('deployment/export_onnx', tiny_export.config,
                  tiny_export.checkpoint, '--out', out)
    assert r.returncode == 0, r.stderr
    assert 'max |logit diff|' in r.stdout and out.is_file()
    assert out.with_suffix('.json').is_file()
    r = call_tool('deployment/export_onnx', tiny_export.config,
                  tmp_path / 'none.pth', '--out', tmp_path / 'x.onnx')
    assert r.returncode == 2 and r.stderr.startswith('error: ')
    assert 'none.pth: no such file' in r.stderr
    r = call_tool('deployment/export_onnx', tiny_export.config,
                  tiny_export.checkpoint, '--out', tmp_path / 'y.onnx', '--int8')
    assert r.returncode == 2 and 'needs --data-root' in r.stderr
    assert not (tmp_path / 'y.onnx').exists()
    (tmp_path / 'z.int8.json').write_text('an earlier int8 model')
    r = call_tool('deployment/export_onnx', tiny_export.config, tiny_export.checkpoint,
                  '--out', tmp_path / 'z.onnx', '--int8', '--data-root', tmp_path)
    assert r.returncode == 2 and 'z.int8.json: exists' in r.stderr
    assert not (tmp_path / 'z.onnx').exists()  # refused before any work


def test_tiled_config_records_tiles_and_working_scale(tiny_export, tmp_path):
    from allidb_mmseg.deployment import export_onnx

    cfg = tmp_path / 'native.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + (
        "model['test_cfg'] = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))\n"
        "working_rbc_px = 24.0\nsource_rbc_px = 40.0\nmin_blast_area = 60\n"))
    doc = export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'm.onnx')
    assert (doc['mode'], doc['crop_size'], doc['stride']) == ('slide', [48, 48], [32, 32])
    assert (doc['working_rbc_px'], doc['source_rbc_px']) == (24.0, 40.0)
    assert doc['min_blast_area'] == 60
    # The check ran at the tile size (batch of 2) and at an odd size.
    assert [c['input_shape'] for c in doc['export']['check']] == [[2, 3, 48, 48],
                                                                  [1, 3, 72, 88]]


def test_native_configs_working_scale_step_is_carried_by_the_sidecar(tiny_export,
                                                                     tmp_path):
    """The native config's test pipeline rescales to the working scale; the
    runtime does that from the sidecar, so the export takes it."""
    from allidb_mmseg.deployment import export_onnx

    cfg = tiny_config_file(tmp_path / 'native.py', base='segformer_allidb_native_aug')
    with cfg.open('a') as f:
        f.write("model['decode_head']['channels'] = 8\n")  # the blobby head's
    doc = export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'm.onnx')
    assert doc['mode'] == 'slide' and doc['resize'] is None
    assert doc['working_rbc_px'] == Config.fromfile(cfg)['working_rbc_px']
    # A rescale to another scale than the sidecar's would not be reproduced.
    with cfg.open('a') as f:
        f.write("test_pipeline = [dict(type='LoadImageFromFile'),\n"
                "    dict(type='RescaleToWorkingScale', working_rbc_px=11),\n"
                "    dict(type='PackSegInputs')]\n")
    with pytest.raises(AllidbError, match='must use the top-level working_rbc_px'):
        export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'n.onnx')


def test_class_names_come_from_the_checkpoint_when_it_has_them(tiny_export, tmp_path):
    import torch

    from allidb_mmseg.deployment import export_onnx

    ckpt = torch.load(tiny_export.checkpoint, map_location='cpu', weights_only=False)
    ckpt['meta'] = {'dataset_meta': dict(classes=('bg', 'blast'),
                                         palette=[[1, 2, 3], [4, 5, 6]])}
    torch.save(ckpt, tmp_path / 'named.pth')
    doc = export_onnx(tiny_export.config, tmp_path / 'named.pth', tmp_path / 'm.onnx')
    assert doc['classes'] == ['bg', 'blast'] and doc['palette'] == [[1, 2, 3], [4, 5, 6]]


def test_the_models_stain_reference_travels_in_the_sidecar(tiny_export, tmp_path):
    """An exported model keeps its OOD check and --stain-normalize: the
    checkpoint's stain reference is copied into the sidecar, where the
    torch-free runtime finds it."""
    import shutil

    import cv2

    from allidb_mmseg.deployment import export_onnx
    from allidb_mmseg.smear.stain import (REFERENCE_FILENAME,
                                          find_stain_reference,
                                          fit_reference_from_files)
    from allidb_mmseg.synthetic import render_field

    ckpt = tmp_path / 'work' / 'model.pth'
    ckpt.parent.mkdir()
    shutil.copy(tiny_export.checkpoint, ckpt)
    smears = []
    for k in range(3):
        img, _, _ = render_field(np.random.default_rng(k), (160, 120), 1)
        smears.append(tmp_path / f'smear{k}.png')
        cv2.imwrite(str(smears[-1]), img)
    ref = fit_reference_from_files(smears)
    ref.save(ckpt.parent / REFERENCE_FILENAME)
    doc = export_onnx(tiny_export.config, ckpt, tmp_path / 'm.onnx')
    assert doc['stain_reference'] == json.loads(json.dumps(ref.to_dict()))
    got, where = find_stain_reference(tmp_path / 'm.onnx')
    assert got.to_dict() == ref.to_dict() and where.endswith('(stain_reference)')
    bare, _ = find_stain_reference(tiny_export.onnx)   # exported without one
    assert bare is None


def test_the_models_smear_call_travels_in_the_sidecar(tiny_export, tmp_path):
    """The fitted smear call (with its size filter) beside the checkpoint is
    copied into the sidecar; an exported model moved without smear_call.json
    keeps it."""
    import shutil

    from allidb_mmseg.deployment import export_onnx
    from allidb_mmseg.evaluation.smear_call import SMEAR_CALL_FILE, SmearCall, find_smear_call

    ckpt = tmp_path / 'work' / 'model.pth'
    ckpt.parent.mkdir()
    shutil.copy(tiny_export.checkpoint, ckpt)
    call = SmearCall(threshold=0.75, fitted_on='8 validation smears', min_area_factor=2.5)
    call.save(ckpt.with_name(SMEAR_CALL_FILE))
    out = tmp_path / 'deploy' / 'm.onnx'
    out.parent.mkdir()
    doc = export_onnx(tiny_export.config, ckpt, out)
    assert doc['smear_call'] == dict(threshold=0.75, fitted_on='8 validation smears',
                                     min_area_factor=2.5)
    assert not out.with_name(SMEAR_CALL_FILE).exists()
    assert find_smear_call(out) == call
    assert find_smear_call(tiny_export.onnx) is None   # exported without one
    # a smear_call.json beside the .onnx still wins over the sidecar's copy
    SmearCall(threshold=2.0).save(out.with_name(SMEAR_CALL_FILE))
    assert find_smear_call(out).threshold == 2.0


def test_stock_head_checkpoint_exports_through_the_fused_head(blobby_model, tmp_path,
                                                             monkeypatch):
    """The tiny config names mmseg's SegformerHead and its checkpoint was
    saved from it: the export still runs FusedSegformerHead (same weights),
    and its logits match the stock head's torch output."""
    import onnxruntime as ort
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.deployment import export_onnx
    from allidb_mmseg.deployment.export import encode_decode_module
    from allidb_mmseg.models import FusedSegformerHead
    from mmseg.models.decode_heads import SegformerHead

    config, checkpoint, _ = blobby_model
    assert Config.fromfile(str(config)).model.decode_head.type == 'SegformerHead'
    calls = []
    forward = FusedSegformerHead.forward
    monkeypatch.setattr(FusedSegformerHead, 'forward',
                        lambda self, x: calls.append(1) or forward(self, x))
    out = tmp_path / 'm.onnx'
    export_onnx(config, checkpoint, out)
    assert calls  # traced and checked through the fused head
    stock = load_model(config, checkpoint)
    assert type(stock.decode_head) is SegformerHead
    net = encode_decode_module(stock)
    x = np.random.default_rng(5).standard_normal((1, 3, 72, 96)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=['CPUExecutionProvider']).run(
        None, {'input': x})[0]
    with torch.no_grad():
        assert np.abs(got - net(torch.from_numpy(x)).numpy()).max() <= 1e-4
