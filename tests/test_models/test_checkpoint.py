"""A checkpoint that does not fit the model is a one-line error in every tool
that loads weights (test, infer, benchmark, train --resume / --pretrained)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from allidb_mmseg.models.checkpoint import (check_pretrained_backbone,
                                            compare_state_dicts,
                                            model_of_config)
from allidb_mmseg.engine.config import load_config
from allidb_mmseg.utils import AllidbError
from helpers import call_tool, one_line_error

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def edited_checkpoint(src: Path, dst: Path, edit) -> Path:
    ckpt = torch.load(src, weights_only=False)  # our own file
    edit(ckpt)
    torch.save(ckpt, dst)
    return dst


def wide_head(ckpt: dict) -> None:
    """The issue's probe: a head for 256 classes of 256 channels."""
    ckpt['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(256, 256, 1, 1)
    ckpt['state_dict']['decode_head.conv_seg.bias'] = torch.zeros(256)


def no_backbone(ckpt: dict) -> None:
    ckpt['state_dict'] = {k: v for k, v in ckpt['state_dict'].items()
                          if not k.startswith('backbone.')}


def weights_only(ckpt: dict) -> None:
    for key in list(ckpt):
        if key != 'state_dict':
            del ckpt[key]


@pytest.fixture(scope='module')
def bad_checkpoints(tiny_trained, tmp_path_factory):
    out = tmp_path_factory.mktemp('ckpts')
    src = tiny_trained.checkpoint
    return {
        'wide_head': edited_checkpoint(src, out / 'h256.pth', wide_head),
        'no_backbone': edited_checkpoint(src, out / 'nobb.pth', no_backbone),
        'weights_only': edited_checkpoint(src, out / 'weights.pth', weights_only),
    }


def test_compare_names_missing_unexpected_and_reshaped_keys():
    model = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(1)}
    file = {'a': torch.zeros(2), 'b': torch.zeros(4), 'd': torch.zeros(1)}
    diff = compare_state_dicts(model, file)
    assert diff.missing == ['c'] and diff.unexpected == ['d']
    assert diff.mismatched == [('b', (4,), (3,))]
    assert diff.describe() == ('1 with another shape (b (4,) in the file, (3,) '
                               'in the model); 1 missing (c); 1 unexpected (d)')
    assert compare_state_dicts(model, dict(model)).ok


@pytest.mark.parametrize('kind,expected', [
    ('wide_head', 'decode_head.conv_seg.weight (256, 256, 1, 1) in the file, '
                  '(2, 16, 1, 1) in the model'),
    ('no_backbone', 'missing (backbone.layers.0.0.projection.weight'),
])
def test_test_and_infer_refuse_a_checkpoint_of_another_model(
        tiny_trained, bad_checkpoints, tmp_path, kind, expected):
    ckpt = bad_checkpoints[kind]
    r = call_tool('test', tiny_trained.config, ckpt, '--data-root',
                  tiny_trained.data_root, '--work-dir', tmp_path / 'work')
    assert r.returncode == 2
    line = one_line_error(r.stderr)
    assert line.startswith(f'error: {ckpt}: does not fit the model')
    assert expected in line
    assert not (tmp_path / 'work' / 'test_metrics.json').exists()
    r = call_tool('infer', tiny_trained.config, ckpt,
                  tiny_trained.data_root / 'img_dir' / 'test',
                  '--out-dir', tmp_path / 'infer', '--device', 'cpu',
                  '--no-progress')
    assert r.returncode == 2
    assert expected in one_line_error(r.stderr)
    assert not (tmp_path / 'infer' / 'report.csv').exists()


def test_a_fitting_checkpoint_still_loads_into_infer(tiny_trained, tmp_path):
    r = call_tool('infer', tiny_trained.config, tiny_trained.checkpoint,
                  tiny_trained.data_root / 'img_dir' / 'test',
                  '--out-dir', tmp_path / 'infer', '--device', 'cpu',
                  '--no-progress')
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((tmp_path / 'infer' / 'masks').glob('*.png'))) == 2


def test_benchmark_refuses_a_checkpoint_of_another_model(
        tiny_trained, bad_checkpoints, tmp_path):
    ckpt = bad_checkpoints['wide_head']
    r = call_tool('analysis_tools/benchmark', tiny_trained.config, ckpt,
                  '--data-root', tiny_trained.data_root, '--quick',
                  '--out', tmp_path / 'bench.json')
    assert r.returncode == 2
    assert 'decode_head.conv_seg.weight' in one_line_error(r.stderr)


def train_argv(tiny, work: Path, *extra) -> list:
    return [tiny.config, '--data-root', tiny.data_root, '--work-dir', work,
            *extra]


def test_resume_needs_a_training_state_and_a_checkpoint(
        tiny_trained, bad_checkpoints, tmp_path):
    ckpt = bad_checkpoints['weights_only']
    r = call_tool('train', *train_argv(tiny_trained, tmp_path / 'w1',
                                       '--resume', ckpt))
    assert r.returncode == 2
    assert one_line_error(r.stderr) == (
        f'error: {ckpt}: holds weights only, no training state (iteration, '
        f'optimizer), so it cannot be resumed; start a new run from it with '
        f'--cfg-options load_from={ckpt}')
    # --resume into a work dir without checkpoints: it used to train from
    # scratch while the log said the weights came from the checkpoint.
    empty = tmp_path / 'empty'
    empty.mkdir()
    r = call_tool('train', *train_argv(tiny_trained, empty, '--resume'))
    assert r.returncode == 2
    assert one_line_error(r.stderr).startswith(
        f'error: {empty}: no checkpoint to resume here')
    assert list(empty.iterdir()) == []
    # A checkpoint of another model is refused before any training.
    r = call_tool('train', *train_argv(tiny_trained, tmp_path / 'w2',
                                       '--resume', bad_checkpoints['wide_head']))
    assert r.returncode == 2
    assert 'decode_head.conv_seg.weight' in one_line_error(r.stderr)


def test_pretrained_in_the_wrong_layout_is_an_error(tiny_trained, tmp_path):
    notes = tmp_path / 'notes.txt'
    notes.write_text('not weights\n')
    r = call_tool('train', *train_argv(tiny_trained, tmp_path / 'w',
                                       '--pretrained', notes))
    assert r.returncode == 2
    assert one_line_error(r.stderr) == (
        f'error: {notes}: cannot load checkpoint: not a PyTorch file (neither '
        'a zip archive nor a pickle)')
    # Hugging Face names (the "0 tensors loaded"): name the converter.
    hf = tmp_path / 'hf.pth'
    torch.save({'segformer.encoder.patch_embeddings.0.proj.weight':
                torch.zeros(8, 3, 7, 7)}, hf)
    r = call_tool('train', *train_argv(tiny_trained, tmp_path / 'w',
                                       '--pretrained', hf))
    assert r.returncode == 2
    line = one_line_error(r.stderr)
    assert line.startswith(f"error: {hf}: only 0 of the backbone's 92 "
                           'tensors match by name and shape')
    assert "'layers.0.0.projection.weight'" in line
    assert 'tools/model_converters/hf_mit2mmseg.py' in line
    assert not (tmp_path / 'w').exists()


def test_pretrained_of_another_variant_is_an_error(tiny_trained, tmp_path):
    cfg = load_config(str(tiny_trained.config))
    backbone = model_of_config(cfg).backbone
    wider = {k: torch.zeros(*[2 * d for d in v.shape])
             for k, v in backbone.state_dict().items()}
    path = tmp_path / 'wider.pth'
    torch.save({'state_dict': wider}, path)
    with pytest.raises(AllidbError, match='have another shape'):
        check_pretrained_backbone(backbone, str(path))


def test_full_segmentor_checkpoint_gives_its_backbone(tiny_trained, tmp_path):
    # A checkpoint of the whole model (backbone.*, decode_head.*) is
    # recognised: its backbone tensors are loaded and counted in the log.
    work = tmp_path / 'w'
    r = call_tool('train', *train_argv(tiny_trained, work, '--pretrained',
                                       tiny_trained.checkpoint))
    assert r.returncode == 0, r.stderr[-3000:]
    log = next(work.glob('*/*.log')).read_text()
    assert (f'MiT backbone starts from pretrained weights: '
            f'{tiny_trained.checkpoint} (92 of 92 backbone tensors loaded, '
            'from its backbone.* keys)') in log
    trained = torch.load(tiny_trained.checkpoint, weights_only=False)
    assert any(k.startswith('backbone.') for k in trained['state_dict'])


def test_best_checkpoint_else_the_last_one(tmp_path):
    import os

    from allidb_mmseg.models.checkpoint import best_checkpoint
    from allidb_mmseg.utils import AllidbError

    with pytest.raises(AllidbError, match='holds no checkpoint'):
        best_checkpoint(tmp_path)
    torch.save({'meta': {'iter': 4}, 'state_dict': {'w': torch.zeros(1)},
                'optimizer': {}},
               tmp_path / 'iter_4.pth')
    assert best_checkpoint(tmp_path) == str(tmp_path / 'iter_4.pth')
    for i, name in enumerate(('best_mIoU_iter_4.pth', 'best_mIoU_iter_2.pth')):
        (tmp_path / name).write_bytes(b'x')
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert best_checkpoint(tmp_path) == str(tmp_path / 'best_mIoU_iter_2.pth')


def test_saved_checkpoints_leave_out_temporaries(tmp_path):
    from allidb_mmseg.models.checkpoint import saved_checkpoints

    assert saved_checkpoints(tmp_path / 'absent') == []
    for name in ('iter_8.pth', '.iter_9.pth.tmp-1.pth', 'best_mIoU_iter_8.pth',
                 'last_checkpoint', 'scalars.json'):
        (tmp_path / name).write_bytes(b'x')
    assert saved_checkpoints(tmp_path) == [str(tmp_path / 'best_mIoU_iter_8.pth'),
                                           str(tmp_path / 'iter_8.pth')]
