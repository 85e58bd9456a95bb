"""Where onnxruntime spends a forward pass, and what its transformer optimizer adds.

Research script for issue 19 (docs/performance.md, "Where onnxruntime's time goes"):

    python benchmarks/speed/ort_profile.py model.onnx --size 512 512 --threads 1

prints the share of kernel time per operator type from onnxruntime's profiler,
then times, taking turns, the graph as exported, the graph after
``onnxruntime.transformers.optimizer`` (``model_type='bert'``: the fusions it
finds in MiT) and, with ``--compare OTHER.onnx``, another export of the same
model (``allidb-export --portable``, say).
"""
from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _session(path: str, threads: int, profile_dir: str = ''):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    if profile_dir:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_dir) / 'ort')
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def op_shares(path: str, x: np.ndarray, threads: int, runs: int = 4) -> dict[str, float]:
    """Milliseconds per forward pass, by operator type, from onnxruntime's profiler."""
    with tempfile.TemporaryDirectory() as tmp:
        sess = _session(path, threads, profile_dir=tmp)
        name = sess.get_inputs()[0].name
        for _ in range(runs + 1):
            sess.run(None, {name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    # The first pass allocates and plans: count only the kernels after it.
    first = min((e for e in events if e['name'] == 'model_run'), key=lambda e: e['ts'])
    per_op = collections.Counter()
    for e in events:
        if (e.get('cat') == 'Node' and e['name'].endswith('_kernel_time')
                and e['ts'] > first['ts'] + first['dur']):
            per_op[e['args']['op_name']] += e['dur'] / 1000 / runs
    return dict(per_op.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('onnx')
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--compare', help='another export of the same model, timed alongside')
    args = parser.parse_args()
    from onnxruntime.transformers import optimizer

    x = np.random.default_rng(0).random((1, 3, *args.size), dtype=np.float32)
    shares = op_shares(args.onnx, x, args.threads)
    total = sum(shares.values())
    print(f'kernel time per pass: {total:.1f} ms')
    for op, ms in list(shares.items())[:8]:
        print(f'  {op:<20} {ms:6.1f} ms  {100 * ms / total:4.1f} %')

    opt = optimizer.optimize_model(args.onnx, model_type='bert', num_heads=0, hidden_size=0)
    fused = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    print('transformer optimizer fused:', fused)
    with tempfile.TemporaryDirectory() as tmp:
        optimized = str(Path(tmp) / 'optimized.onnx')
        opt.save_model_to_file(optimized)
        sessions = {'as exported': _session(args.onnx, args.threads),
                    'optimizer': _session(optimized, args.threads)}
        if args.compare:
            sessions[args.compare] = _session(args.compare, args.threads)
        name = sessions['as exported'].get_inputs()[0].name
        outs = {k: s.run(None, {name: x})[0] for k, s in sessions.items()}
        times = {k: [] for k in sessions}
        for _ in range(args.rounds):
            for k, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, {name: x})
                times[k].append((time.perf_counter() - t0) * 1000)
    base = float(np.median(times['as exported']))
    for k, v in times.items():
        diff = float(np.abs(outs[k] - outs['as exported']).max())
        print(f'{k}: {np.median(v):.1f} ms, as exported / this {base / np.median(v):.2f}x, '
              f'max |logit diff| {diff:.1e}')


if __name__ == '__main__':
    main()
