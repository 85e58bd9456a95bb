"""tools/dist_infer.sh: two CPU processes write exactly what one process writes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from allidb_mmseg.apis.distributed import merge_rank_reports, shard
from allidb_mmseg.utils import AllidbError
from helpers import REPO, blob_image, run_tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_infer(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()),
               PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='')
    return subprocess.run(['bash', str(REPO / 'tools' / 'dist_infer.sh'),
                           *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def make_inputs(d, unique: bool = False):
    """Seven inputs: stems repeated across folders (unless ``unique``), a bad
    file, a missing one."""
    for sub, n in (('a', 3), ('b', 2)):
        (d / sub).mkdir(parents=True)
        for i in range(n):
            stem = f'{sub}{i}' if unique else f'f{i}'
            cv2.imwrite(str(d / sub / f'{stem}.png'), blob_image(60 + 10 * i, 90, seed=i))
    (d / 'a' / 'notes.txt').write_text('not an image')
    return [d / 'a', d / 'b', d / 'missing.png']


def files_of(out):
    return {p.relative_to(out): p.read_bytes() for p in out.rglob('*') if p.is_file()}


@pytest.mark.parametrize('backend', ['onnxruntime', 'torch'])
def test_two_processes_write_what_one_process_writes(tiny_export, tmp_path, backend):
    """onnxruntime: repeated stems (-2 names); torch: unique names, so the
    one COCO file for CVAT can be written too. Review page and GeoJSON both."""
    onnx = backend == 'onnxruntime'
    model = [tiny_export.onnx] if onnx else [tiny_export.config, tiny_export.checkpoint]
    inputs = make_inputs(tmp_path / 'in', unique=not onnx)
    one, two = tmp_path / 'one' / 'out', tmp_path / 'two' / 'out'  # the page shows the name
    extra = ['--geojson'] if onnx else ['--geojson', '--coco-out']
    r1 = run_tool('infer', *model, *inputs, '--out-dir', one, '--device', 'cpu',
                  '--threads', 1, *extra, *([] if onnx else [one / 'coco.json']),
                  env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = dist_infer(*model, *inputs, 2, '--out-dir', two, '--device', 'cpu', *extra,
                    *([] if onnx else [two / 'coco.json']))
    assert r2.returncode == 0, (r2.stdout + r2.stderr)[-4000:]
    assert '7 images: 5 segmented, 2 failed' in r2.stdout
    assert r2.stdout.count('report:') == 1  # rank 0 speaks for the run
    a, b = files_of(one), files_of(two)
    assert sorted(map(str, b)) == sorted(map(str, a))  # no rank files left over
    assert Path('index.html') in a and any(p.parts[0] == 'geojson' for p in a)
    assert b == a  # reports, masks, overlays, review page, GeoJSON (and COCO)
    names = [ln.split(',')[1] for ln in a[Path('report.csv')].decode().splitlines()[1:]]
    if onnx:
        assert names == ['f0', 'f1', 'f2', 'notes', 'f0-2', 'f1-2', 'missing']
        again = dist_infer(*model, *inputs, 2, '--out-dir', two)  # every rank refuses
        assert again.returncode != 0 and 'use --force' in again.stderr
        assert files_of(two) == b
    else:
        coco = json.loads(a[Path('coco.json')])
        assert [i['id'] for i in coco['images']] == [1, 2, 3, 4, 5]
        assert [x['id'] for x in coco['annotations']] == list(
            range(1, len(coco['annotations']) + 1))


def test_usage_and_merge_errors(tmp_path):
    r = subprocess.run(['bash', str(REPO / 'tools' / 'dist_infer.sh'), 'm.onnx', 'x'],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith('usage: ')
    assert shard(7, 0, 2) == [0, 2, 4, 6] and shard(7, 1, 2) == [1, 3, 5]
    with pytest.raises(AllidbError, match='shared file system'):
        merge_rank_reports(tmp_path, 3, 2)
