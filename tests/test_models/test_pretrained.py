"""Pretrained weights by file, URL or short name; the network is mocked."""
from __future__ import annotations

import os
import types
import urllib.error
from pathlib import Path

import pytest
import torch

from allidb_mmseg.engine import config as engine_config
from allidb_mmseg.models.pretrained import (MIT_URLS, hub_checkpoint_path,
                                            resolve_pretrained)
from allidb_mmseg.utils import AllidbError
from helpers import REPO, load_tool


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """torch hub's cache in a temp folder; downloads recorded, never made."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None, raising=False)
    calls = []

    def fake_download(url, dst, progress=True):
        calls.append(url)
        Path(dst).write_bytes(b'weights of ' + url.encode())

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    return calls


def test_short_name_downloads_once_into_the_hub_cache(hub, tmp_path):
    path = resolve_pretrained('mit_b0')
    assert path == str(tmp_path / 'torch' / 'hub' / 'checkpoints'
                       / 'mit_b0_20220624-7e0fe6dd.pth')
    assert hub == [MIT_URLS['mit_b0']]
    assert resolve_pretrained('MIT_B0') == path  # cached: no second download
    assert resolve_pretrained(MIT_URLS['mit_b0']) == path
    assert hub == [MIT_URLS['mit_b0']]
    assert not [p for p in os.listdir(os.path.dirname(path)) if p.endswith('.part')]


def test_a_local_file_wins_over_a_short_name(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('mit_b1').write_bytes(b'mine')
    assert resolve_pretrained('mit_b1') == 'mit_b1'
    assert hub == []


def test_mmengine_cache_is_used_too(hub, tmp_path):
    url = MIT_URLS['mit_b2']
    old = tmp_path / 'torch' / 'checkpoints' / os.path.basename(url)
    old.parent.mkdir(parents=True)
    old.write_bytes(b'x')
    assert resolve_pretrained('mit_b2') == str(old) and hub == []


def test_offline_names_the_file_and_where_to_put_it(hub, monkeypatch):
    def offline(url, dst, progress=True):
        Path(dst).write_bytes(b'partial')
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    with pytest.raises(AllidbError) as e:
        resolve_pretrained('mit_b0')
    msg = str(e.value)
    assert msg.startswith(MIT_URLS['mit_b0'] + ': cannot download (')
    assert hub_checkpoint_path(MIT_URLS['mit_b0']) in msg and '\n' not in msg
    assert not os.listdir(os.path.dirname(hub_checkpoint_path(MIT_URLS['mit_b0'])))


def test_unknown_name_is_one_line(hub):
    with pytest.raises(AllidbError, match='mit_b9: pretrained weights file not found'):
        resolve_pretrained('mit_b9')


def test_train_config_and_env_accept_short_names(hub, monkeypatch, jpg_data_root,
                                                 tmp_path, capsys):
    cfg_file = str(REPO / 'configs' / 'segformer_allidb_128.py')
    cfg = engine_config.load_config(cfg_file)
    engine_config.set_pretrained(cfg, 'mit_b0')
    assert cfg.model.backbone.init_cfg.checkpoint == \
        hub_checkpoint_path(MIT_URLS['mit_b0'])
    # ALLIDB_PRETRAINED=mit_b3 reaches the config; the tools resolve it,
    # then check the file's layout (the hub's files here are stand-ins).
    monkeypatch.setenv('ALLIDB_PRETRAINED', 'mit_b3')
    checked = []
    monkeypatch.setattr(engine_config, 'model_of_config',  # no model build here
                        lambda cfg: types.SimpleNamespace(backbone=None))
    monkeypatch.setattr(engine_config, 'check_pretrained_backbone',
                        lambda backbone, path: checked.append(path) or
                        types.SimpleNamespace(prefix=''))
    cfg = engine_config.load_config(cfg_file)
    engine_config.check_pretrained(cfg)
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'mit_b3_20220624-13b1141c.pth')
    assert checked == [cfg.model.backbone.init_cfg.checkpoint]
    # Offline through the tool: one line, exit code 2.
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda *a, **k: (_ for _ in ()).throw(OSError('offline')))
    monkeypatch.delenv('ALLIDB_PRETRAINED')
    assert load_tool('train').main([cfg_file, '--pretrained', 'mit_b5',
                                    '--data-root', str(jpg_data_root),
                                    '--work-dir', str(tmp_path / 'w')]) == 2
    # Only the tool's own line: in a long in-process test run, mmengine's
    # logger may still hold the stderr of an earlier test's capture and
    # report a "Logging error" here (a subprocess run has none).
    errors = [ln for ln in capsys.readouterr().err.splitlines()
              if ln.startswith('error: ')]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {MIT_URLS['mit_b5']}: cannot download (offline)")
