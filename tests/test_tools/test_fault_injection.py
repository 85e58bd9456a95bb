"""Kill the long tools at seeded random points, then rerun or resume.

Each tool runs as a user runs it (a subprocess) and is killed with SIGKILL
at points drawn from a seeded generator, then sent SIGTERM and SIGINT.
After every kill: nothing already finished is lost, nothing half-written
carries a final name; the rerun (or --resume) completes. Points are events
the test can see (a log line, a number of files written) plus a seeded
delay, so a kill lands in the same phase on a fast or a slow machine.
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import cv2
import torch
from coco_fixtures import tiny_export

from allidb_mmseg.models.checkpoint import find_resumable
from helpers import blob_image, tool_path

SEED = 10  # the number
KILLED = -signal.SIGKILL


def _terminal_signals() -> None:
    # Ctrl-C as in a terminal: a shell starts background jobs (and so perhaps
    # this test run) with SIGINT ignored, and children inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Run:
    """A tool in a subprocess, its output collected line by line."""

    def __init__(self, tool: str, *args: object) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
        self.proc = subprocess.Popen(
            [sys.executable, str(tool_path(tool)), *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, preexec_fn=_terminal_signals)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def kill_when(self, ready: Callable[[], bool], sig: int, delay: float,
                  timeout: float = 120, may_end: bool = False) -> None:
        """Send ``sig`` ``delay`` seconds after ``ready()`` first holds.

        With ``may_end``, a run that ends first (the point was its last
        moments) is not an error.
        """
        end = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None and may_end:
                return
            assert self.proc.poll() is None, 'ended before the kill point:\n' \
                + '\n'.join(self.lines[-30:])
            assert time.monotonic() < end, 'kill point never reached'
            time.sleep(0.002)
        time.sleep(delay)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = 120) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(timeout)
        return rc

    @property
    def output(self) -> str:
        return '\n'.join(self.lines)


def assert_clean_interrupt(run: Run, rc: int, sig: int, note: str) -> None:
    """Exit 128 + signal, one 'interrupted' line with ``note``, no traceback."""
    assert rc == 128 + sig, run.output[-3000:]
    assert 'Traceback' not in run.output, run.output[-3000:]
    lines = [ln for ln in run.lines if ln.startswith('interrupted (')]
    assert len(lines) == 1, run.output[-3000:]
    assert lines[0].startswith(f'interrupted ({signal.Signals(sig).name}): '
                               f'{note}'), lines[0]


# ------------------------------------------------------------------- train

SAVING = re.compile(r'Saving checkpoint at (\d+) iterations')
ITERS = 12


def saved(lines: list[str]) -> int:
    """The last iteration whose checkpoint save finished: a log line came
    after its "Saving checkpoint" line."""
    done = 0
    for i, line in enumerate(lines[:-1]):
        m = SAVING.search(line)
        if m:
            done = int(m.group(1))
    return done


def check_work_dir(work: Path, finished_save: int) -> None:
    """Every checkpoint under a final name is whole; the newest finished
    save is still resumable."""
    for path in work.glob('*.pth'):
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
        m = re.fullmatch(r'(?:best_mIoU_)?iter_(\d+)\.pth', path.name)
        assert m and ckpt['meta']['iter'] == int(m.group(1)), path
    pointer = work / 'last_checkpoint'
    if pointer.exists():
        assert Path(pointer.read_text()).is_file()
    if finished_save:
        resumable = find_resumable(str(work))
        assert resumable is not None
        it = torch.load(resumable, weights_only=False)['meta']['iter']
        assert it >= finished_save


def train_scenario(tiny_trained, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    work = tmp_path / 'work'
    args = [tiny_trained.config, '--data-root', tiny_trained.data_root,
            '--work-dir', work, '--cfg-options', f'train_cfg.max_iters={ITERS}',
            'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3']
    # Two SIGKILLs just after "Saving checkpoint at k" (the probe),
    # the second in the resumed run; then SIGTERM at an iteration.
    k1, k2 = sorted(rng.sample([3, 6, 9], 2))

    def resume() -> list[str]:  # a first save killed halfway: nothing to resume
        return ['--resume'] if find_resumable(str(work)) else []

    for k in (k1, k2):
        run = Run('train', *args, *resume())
        run.kill_when(lambda: any(f'Saving checkpoint at {k} iter' in ln
                                  for ln in run.lines),
                      signal.SIGKILL, rng.uniform(0, 0.03))
        assert run.finish() == KILLED
        check_work_dir(work, saved(run.lines))
    term_at = rng.randint(k2 + 1, ITERS - 1)
    run = Run('train', *args, *resume())
    run.kill_when(lambda: any(f'Iter(train) [{term_at:2d}/{ITERS}]' in ln
                              for ln in run.lines), signal.SIGTERM, 0)
    assert_clean_interrupt(run, run.finish(), signal.SIGTERM, 'continue from ')
    check_work_dir(work, saved(run.lines))
    run = Run('train', *args, *resume())
    assert run.finish() == 0, run.output[-3000:]
    check_work_dir(work, ITERS)
    ckpt = torch.load(work / f'iter_{ITERS}.pth', weights_only=False)
    assert ckpt['meta']['iter'] == ITERS
    # The loss history came through every resume, one entry per iteration.
    curves = ckpt['allidb_training_curves']['loss']
    assert [it for it, _ in curves] == list(range(1, ITERS + 1))
    assert not [p for p in work.iterdir() if p.name.startswith('.')]


# ---------------------------------------------------------------- convert

N_IMAGES = 120


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def staged(parent: Path, run: Run) -> int:
    """Masks the running conversion has built so far (in its temp folder,
    named after its pid: not those of killed runs)."""
    return len(list(parent.glob(f'.data.tmp-{run.proc.pid}-*/staging_masks/*'))
               + list(parent.glob(f'.data.tmp-{run.proc.pid}-*/ann_dir/*/*')))


def convert_scenario(tiny_trained, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    ann, img_dir, _ = tiny_export(tmp_path / 'src', n=N_IMAGES)
    ref = tmp_path / 'ref'
    assert Run('dataset_converters/coco_to_masks', '--ann', ann, '--img-dir',
               img_dir, '--out', ref / 'data', '--no-progress').finish() == 0
    expected = tree(ref / 'data')
    out = tmp_path / 'out'
    out.mkdir()
    data = out / 'data'

    def convert(*extra: str) -> Run:
        return Run('dataset_converters/coco_to_masks', '--ann', ann,
                   '--img-dir', img_dir, '--out', data, '--no-progress', *extra)

    # SIGKILL into a fresh DATA_ROOT, then twice over a finished one (--force);
    # the last point is the last mask, so the kill hits the split and swap
    # (or comes after the end).
    points = [rng.randrange(1, N_IMAGES) for _ in range(2)] + [N_IMAGES]
    for i, count in enumerate(points):
        run = convert(*(['--force'] if i else []))
        run.kill_when(lambda: staged(out, run) >= count, signal.SIGKILL,
                      rng.uniform(0, 0.02), may_end=count == N_IMAGES)
        run.finish()
        # A DATA_ROOT under its final name is always a whole one.
        assert not data.exists() or tree(data) == expected, count
        if not data.exists():  # the first kill: rerun completes
            rerun = convert()
            assert rerun.finish() == 0, rerun.output
            assert 'removed, a temporary folder of a conversion that was ' \
                'killed' in rerun.output
            assert tree(data) == expected
    count = rng.randrange(1, N_IMAGES)
    run = convert('--force')
    run.kill_when(lambda: staged(out, run) >= count, signal.SIGINT, 0)
    assert_clean_interrupt(run, run.finish(), signal.SIGINT,
                           f'{data} is as it was before this run')
    run = convert('--force')
    assert run.finish() == 0, run.output
    assert tree(data) == expected
    assert sorted(p.name for p in out.iterdir()) == ['data']


# ------------------------------------------------------------------ infer

N_SMEARS = 40


def whole_outputs(out: Path) -> list[str]:
    """Names of the masks written; every PNG under a final name decodes (a
    killed write leaves only a hidden ``.<name>.tmp<pid>.png``)."""
    finals = [p for p in out.glob('*/*.png') if not p.name.startswith('.')]
    for png in finals:
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png
    return sorted(p.stem for p in finals if p.parent.name == 'masks')


def infer_scenario(tiny_trained, tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    smears = tmp_path / 'smears'
    smears.mkdir()
    for i in range(N_SMEARS):
        cv2.imwrite(str(smears / f's{i:02d}.png'), blob_image(40, 50, seed=i))
    out = tmp_path / 'out'

    def infer() -> Run:
        return Run('infer', tiny_trained.config, tiny_trained.checkpoint,
                   smears, '--out-dir', out, '--device', 'cpu',
                   '--no-progress', '--force')

    def masks() -> int:
        folder = out / 'masks'
        return len([n for n in os.listdir(folder) if not n.startswith('.')]) \
            if folder.is_dir() else 0

    # SIGKILL twice: what was written stays, whole.
    for _ in range(2):
        count = rng.randrange(1, N_SMEARS)
        run = infer()
        run.kill_when(lambda: masks() >= count, signal.SIGKILL,
                      rng.uniform(0, 0.01))
        assert run.finish() == KILLED
        assert len(whole_outputs(out)) >= count
    # SIGTERM and Ctrl-C: the report of the images done so far, one line.
    for sig in (signal.SIGTERM, signal.SIGINT):
        for p in out.glob('*/*.png'):  # finals and killed runs' temporaries
            p.unlink()
        count = rng.randrange(1, N_SMEARS)
        run = infer()
        run.kill_when(lambda: masks() >= count, sig, 0)
        assert_clean_interrupt(run, run.finish(), sig,
                               'report of the ')
        report = (out / 'report.csv').read_text().splitlines()[1:]
        done = [row.split(',')[1] for row in report]
        assert len(done) >= count - 1  # the last mask's overlay may be missing
        assert f'report of the {len(done)} image(s) done so far' in run.output
        assert set(done) <= set(whole_outputs(out))
    run = infer()
    assert run.finish() == 0, run.output[-3000:]
    assert len((out / 'report.csv').read_text().splitlines()) == N_SMEARS + 1
    assert len(whole_outputs(out)) == N_SMEARS
    assert not [p for p in out.rglob('.*')]  # stale temporaries removed


def test_long_tools_survive_kills_and_signals(tiny_trained, tmp_path,
                                             one_torch_thread):
    # The three tools run side by side (each run is one process with one
    # thread; most of a run is its start-up), so the test takes about as
    # long as its longest scenario.
    scenarios = {'train': train_scenario, 'convert': convert_scenario,
                 'infer': infer_scenario}
    for name in scenarios:
        (tmp_path / name).mkdir()
    with ThreadPoolExecutor(len(scenarios)) as pool:
        futures = {name: pool.submit(run, tiny_trained, tmp_path / name)
                   for name, run in scenarios.items()}
        for name, future in futures.items():
            try:
                future.result()
            except BaseException as e:
                raise AssertionError(f'{name}: {e}') from e
