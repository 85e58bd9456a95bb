"""A run that dies while saving a checkpoint can always be resumed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from allidb_mmseg.models.checkpoint import find_resumable
from allidb_mmseg.engine.config import prepare_train_config
from allidb_mmseg.engine.hooks import AtomicLocalBackend
from allidb_mmseg.engine.runner import train
from allidb_mmseg.utils import WriteError
from helpers import REPO, call_tool, small_options

pytestmark = pytest.mark.usefixtures('one_torch_thread')
CONFIG = str(REPO / 'configs' / 'segformer_allidb_128.py')


class SimulatedKill(BaseException):
    """The process dying: not an Exception, so nothing catches it."""


def options(max_iters: int) -> dict:
    opts = small_options(max_iters, tiny=True)
    opts.update({'train_cfg.val_interval': 3,
                 'default_hooks.checkpoint.interval': 3})
    return opts


def test_killed_during_a_save_the_run_resumes(jpg_data_root, tmp_path,
                                              monkeypatch):
    # The issue's probe: max_keep_ckpts=1 (the configs' value), a checkpoint
    # every 3 iterations, the process dies while saving iteration 6.
    import mmengine.runner.runner as mm_runner

    real_save = mm_runner.save_checkpoint

    def dying_save(checkpoint, filename, *args, **kwargs):
        if filename.endswith('iter_6.pth'):
            raise SimulatedKill
        return real_save(checkpoint, filename, *args, **kwargs)

    monkeypatch.setattr(mm_runner, 'save_checkpoint', dying_save)
    work = tmp_path / 'work'
    cfg = prepare_train_config(CONFIG, cfg_options=options(9),
                               data_root=str(jpg_data_root),
                               work_dir=str(work))
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    with pytest.raises(SimulatedKill):
        train(cfg)
    # The previous checkpoint is still there, and last_checkpoint names it.
    assert (work / 'iter_3.pth').is_file()
    assert (work / 'last_checkpoint').read_text().endswith('iter_3.pth')
    assert not (work / 'iter_6.pth').exists()
    monkeypatch.setattr(mm_runner, 'save_checkpoint', real_save)

    argv = [CONFIG, '--data-root', jpg_data_root, '--work-dir', work,
            '--resume', '--cfg-options'] + [
                f'{k}={v}'.replace(' ', '') for k, v in options(9).items()]
    r = call_tool('train', *argv)
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = torch.load(work / 'iter_9.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 9
    curves = json.loads((work / 'training_curves.json').read_text())
    assert [it for it, _ in curves['loss']] == list(range(1, 10))
    # Old checkpoints were deleted once the new ones were saved.
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_9.pth']


def test_resume_falls_back_to_the_newest_complete_checkpoint(
        tiny_trained, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    good = tiny_trained.checkpoint.read_bytes()
    (work / 'iter_3.pth').write_bytes(good)
    (work / 'iter_6.pth').write_bytes(good)
    (work / 'iter_9.pth').write_bytes(good[:len(good) // 2])  # cut short
    (work / 'last_checkpoint').write_text(str(work / 'iter_12.pth'))  # gone
    with pytest.warns(UserWarning, match='names .*iter_12.pth, which is '
                      'missing or incomplete; resuming from .*iter_6.pth'):
        assert find_resumable(str(work)) == str(work / 'iter_6.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    assert find_resumable(str(work)) == str(work / 'iter_3.pth')
    # mmengine writes the path as given; from another folder it is relative.
    (work / 'last_checkpoint').write_text('elsewhere/iter_6.pth')
    assert find_resumable(str(work)) == str(work / 'iter_6.pth')


def test_checkpoint_files_are_written_through_a_temporary_name(tmp_path,
                                                               monkeypatch):
    backend = AtomicLocalBackend()
    target = tmp_path / 'iter_3.pth'
    backend.put(b'complete', target)
    assert target.read_bytes() == b'complete'

    real = Path.write_bytes  # a disk that fills up mid-file:
    monkeypatch.setattr(Path, 'write_bytes',
                        lambda self, data: real(self, data[:3]))
    with pytest.raises(WriteError, match='write incomplete'):
        backend.put(b'a new checkpoint', target)
    assert target.read_bytes() == b'complete'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_3.pth']
