"""`pip install "allidb_mmseg[runtime]"` in a fresh venv segments with an ONNX model.

It downloads packages, which the suite never does by default: run it with
``ALLIDB_TEST_INSTALL=1 make test PYTEST_ARGS="-k runtime_install"``
(about a minute with a warm pip cache).
"""
from __future__ import annotations

import csv
import os
import subprocess
import venv

import cv2
import pytest

from helpers import REPO, blob_image

pytestmark = pytest.mark.skipif(
    os.environ.get('ALLIDB_TEST_INSTALL') != '1',
    reason='downloads from the package index; set ALLIDB_TEST_INSTALL=1')


def test_runtime_extra_installs_without_torch_and_segments(tiny_export, tmp_path):
    env_dir = tmp_path / 'venv'
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / 'bin' / 'python')
    pip = subprocess.run([py, '-m', 'pip', 'install', '-q', f'{REPO}[runtime]'],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0 and 'Could not find a version' in pip.stderr:
        pytest.skip('the package index cannot be reached')
    assert pip.returncode == 0, pip.stderr[-3000:]
    for heavy in ('torch', 'mmseg', 'mmengine', 'mmcv'):
        probe = subprocess.run([py, '-c', f'import {heavy}'], capture_output=True)
        assert probe.returncode != 0, f'{heavy} was installed by [runtime]'
    cv2.imwrite(str(tmp_path / 'smear.png'), blob_image(90, 130))
    r = subprocess.run([py, str(REPO / 'tools' / 'infer.py'), str(tiny_export.onnx),
                        str(tmp_path / 'smear.png'), '--out-dir', str(tmp_path / 'out')],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / 'out' / 'report.csv')))
    assert [row['status'] for row in rows] == ['ok']
