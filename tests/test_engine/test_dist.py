"""tools/dist_train.sh and dist_test.sh on a CPU-only machine: torchrun, 2
processes, gloo."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import torch

from helpers import REPO, jpg_seg_root, tiny_config_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_runs_two_cpu_processes(tmp_path):
    root = jpg_seg_root(tmp_path / 'data', {'train': 4, 'val': 2, 'test': 2})
    config = tiny_config_file(tmp_path / 'tiny.py', max_iters=2)
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()),
               PYTHON=sys.executable)
    if torch.cuda.is_available():  # the check is about the CPU path
        env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2',
         '--data-root', str(root), '--work-dir', str(work)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert proc.stdout.count('trained 2 iterations') == 1  # rank 0 only
    log = next(work.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'Iter(train) [2/2]' in log
    assert (work / 'iter_2.pth').exists()
    ckpt = torch.load(work / 'iter_2.pth', weights_only=False)  # our own file
    # SyncBN was turned into BN, whose running statistics were updated.
    bn = {k: v for k, v in ckpt['state_dict'].items()
          if k.endswith('num_batches_tracked')}
    assert bn and all(int(v) == 2 for v in bn.values())

    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_test.sh'), str(config),
         str(work / 'iter_2.pth'), '2', '--data-root', str(root),
         '--work-dir', str(work)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert proc.stdout.count('metrics saved:') == 1  # rank 0 only
    assert json.loads((work / 'test_metrics.json').read_text())['num_images'] > 0


def test_finish_distributed_ends_the_group(tmp_path):
    import torch.distributed as dist

    from allidb_mmseg.engine.ddp import finish_distributed

    assert finish_distributed() is True  # no group: nothing to end
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    assert finish_distributed() is True
    assert not dist.is_initialized()
