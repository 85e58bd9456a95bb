"""(d) Deployment: onnxruntime against torch, int8, test-time augmentation.

Kept apart from (a)-(c): ``tools/analysis_tools/benchmark.py --deployment``.
Every ratio is measured in this one run, on this machine:

(d1) the network's forward pass, torch fp32 with fused MiT attention against
     onnxruntime fp32 (and int8), on random normalised inputs at each size,
     interleaved, in wall and in CPU time; with the max |logit difference|;
(d2) ``tools/infer.py`` end to end on synthetic 2592x1944 fields, both
     backends: the steady-state seconds per field in one process (read,
     segment, count, write mask and overlay) and the wall time of the tool
     as a user runs it (process start and model load included); and how
     far the two backends' masks and blast counts agree on the split;
(d3) int8 (static, :mod:`allidb_mmseg.deployment.quantize`): speed above,
     mIoU and blast F1 against fp32 on a labelled split, and whether the
     0.5-point rule offers it;
(d4) test-time augmentation (8 flips and rotations): mIoU, lymphoblast IoU
     and blast F1 with and without, and the time factor, for both backends.

``forward_only`` stops after (d1) (no int8, no labelled data read);
``session_variants`` adds onnxruntime fp32 sessions with other settings
(:data:`SESSION_VARIANTS`) to (d1), each with its ratio over torch.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from allidb_mmseg.evaluation.counting import DEFAULT_MIN_BLAST_AREA
from benchmarks.speed.timing import median, ratio, time_calls

__all__ = ['FORWARD_SIZES', 'FIELD_SIZE', 'SESSION_VARIANTS', 'session_variant',
           'run_deployment', 'deployment_table']

FORWARD_SIZES = ((512, 512), (972, 1296))  # (h, w): a tile, half a field
FIELD_SIZE = (2592, 1944)                  # (w, h) of an ALL-IDB1 field
REPO = Path(__file__).resolve().parents[2]
# onnxruntime fp32 settings tried against the runtime's own (OnnxSegmentor:
# ORT_ENABLE_ALL, CPU memory arena on, sequential; spinning off here).
SESSION_VARIANTS = ('spinning', 'no_arena', 'extended', 'parallel')


def session_variant(onnx_path: Path, threads: int, variant: str) -> Any:
    """An onnxruntime CPU session of ``onnx_path``: OnnxSegmentor's settings
    (``spinning=False``) with one of :data:`SESSION_VARIANTS` changed."""
    import onnxruntime as ort

    if variant not in SESSION_VARIANTS:
        raise ValueError(f'unknown session variant {variant!r}')
    o = ort.SessionOptions()
    o.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
                                  if variant == 'extended'
                                  else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    o.intra_op_num_threads = threads
    if variant != 'spinning':
        o.add_session_config_entry('session.intra_op.allow_spinning', '0')
    o.enable_cpu_mem_arena = variant != 'no_arena'
    if variant == 'parallel':
        o.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        o.inter_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), o, providers=['CPUExecutionProvider'])


def _with_cpu_time(fns: dict[str, Callable[[], Any]], cpu: dict[str, list]
                   ) -> dict[str, Callable[[], Any]]:
    """``fns`` that also append their process CPU seconds to ``cpu[name]``."""
    def timed(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            c0 = time.process_time()
            out = fn()
            cpu[name].append(time.process_time() - c0)
            return out
        return run
    return {name: timed(name, fn) for name, fn in fns.items()}


def bench_forward(torch_net: Any, sessions: dict[str, Any], sizes: Sequence,
                  iters: int, warmup: int, tick: Callable[[], None]) -> list[dict]:
    """(d1) median wall and CPU ms of torch and each onnxruntime session per
    input size. CPU time (all threads) is what a loaded machine does not
    distort; with one thread it equals the wall time of an idle machine."""
    import torch

    rows = []
    rng = np.random.default_rng(0)
    for h, w in sizes:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        xt = torch.from_numpy(x)

        def run_torch() -> np.ndarray:
            with torch.inference_mode():
                return torch_net(xt).numpy()
        fns: dict[str, Callable[[], Any]] = {'torch_fp32': run_torch}
        for name, sess in sessions.items():
            fns[f'ort_{name}'] = (lambda s=sess: s.run(None, {'input': x})[0])
        cpu: dict[str, list] = {name: [] for name in fns}
        times, outs = time_calls(_with_cpu_time(fns, cpu), iters, warmup, tick=tick)
        row: dict[str, Any] = {'input_hw': [h, w]}
        for name, ts in times.items():
            row[f'{name}_ms'] = 1000 * median(ts)
            row[f'{name}_cpu_ms'] = 1000 * median(cpu[name][max(0, warmup):])
        for name in sessions:
            row[f'ratio_{name}'] = ratio(row['torch_fp32_ms'], row[f'ort_{name}_ms'])
            row[f'cpu_ratio_{name}'] = ratio(row['torch_fp32_cpu_ms'],
                                             row[f'ort_{name}_cpu_ms'])
            row[f'max_abs_diff_{name}'] = float(
                np.abs(outs[f'ort_{name}'] - outs['torch_fp32']).max())
        rows.append(row)
    return rows


def _tool_wall(args: list[str], threads: int) -> float:
    """Seconds of ``tools/infer.py ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'infer.py'), *args,
                           '--device', 'cpu', '--no-progress', '--threads',
                           str(threads)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'tools/infer.py failed: {proc.stderr.strip()[-300:]}')
    return time.perf_counter() - t0


def bench_end_to_end(models: dict[str, tuple[Any, list[str]]], fields: list[str],
                     work: Path, threads: int, tick: Callable[[], None]) -> dict:
    """(d2) per-field seconds in process, and the tool's wall time, per backend."""
    from allidb_mmseg.apis.batch import process_image
    from allidb_mmseg.io.image_io import read_image

    h, w = read_image(fields[0]).shape[:2]
    res: dict[str, Any] = {'fields': len(fields), 'field_size': [w, h]}
    for name, (model, cli) in models.items():
        process_image(model, fields[0], 'warmup', work / name)  # first-call setup
        per = []
        for i, f in enumerate(fields):
            t0 = time.perf_counter()
            row = process_image(model, f, f'f{i}', work / name)
            per.append(time.perf_counter() - t0)
            if row.status != 'ok':
                raise RuntimeError(f'{f}: {row.error}')
            tick()
        wall = _tool_wall([*cli, *fields, '--out-dir', str(work / f'{name}_tool')],
                          threads)
        tick()
        res[name] = dict(field_s=median(per), field_times_s=per, tool_wall_s=wall,
                         tool_s_per_field=wall / len(fields))
    res['ratio_field'] = ratio(res['torch']['field_s'], res['onnxruntime']['field_s'])
    return res


def bench_accuracy(variants: dict[str, Callable[[str], np.ndarray]],
                   pairs: list[tuple[str, str]], min_area: int,
                   tick: Callable[[], None]) -> dict:
    """(d3)/(d4) :func:`score_split` of each variant on the same pairs."""
    from allidb_mmseg.evaluation.split_scores import score_split

    out = {}
    for name, segment in variants.items():
        out[name] = score_split(segment, pairs, min_area)
        tick()
    return out


def backend_agreement(torch_model: Any, runtime: Any, images: Sequence[str],
                      min_area: int, tick: Callable[[], None]) -> dict:
    """Pixel agreement of the two backends' masks, and whether every image
    gets the same blast count."""
    from allidb_mmseg.apis import segment
    from allidb_mmseg.evaluation.counting import count_blasts

    same = total = count_diffs = 0
    for f in images:
        a, b = segment(torch_model, f), runtime.segment(f)
        same, total = same + int((a == b).sum()), total + a.size
        count_diffs += count_blasts(a == 1, min_area=min_area).count != \
            count_blasts(b == 1, min_area=min_area).count
        tick()
    return dict(images=len(images), pixel_agreement=same / max(total, 1),
                images_with_other_count=int(count_diffs))


def _tta_figures(fp32_scores: dict, fp32_tta: Any, model: Any,
                 pairs: list[tuple[str, str]], area: int,
                 tick: Callable[[], None]) -> dict:
    """(d4) scores and time with and without TTA, onnxruntime and torch;
    ``fp32_scores``: the plain onnxruntime model's, from (d3)."""
    from allidb_mmseg.apis import segment
    from allidb_mmseg.inference.tta import disable_tta, enable_tta

    s = dict(ort=fp32_scores, **bench_accuracy(
        {'ort_tta': fp32_tta.segment, 'torch': lambda f: segment(model, f)},
        pairs, area, tick))
    enable_tta(model)
    try:
        s.update(bench_accuracy({'torch_tta': lambda f: segment(model, f)},
                                pairs, area, tick))
    finally:
        disable_tta(model)
    plain, tta = s['ort'], s['ort_tta']
    return dict(
        plain=plain, tta=tta, images=len(pairs),
        gain_miou=tta['mIoU'] - plain['mIoU'],
        gain_iou_lymphoblast=_diff(tta['IoU.lymphoblast'], plain['IoU.lymphoblast']),
        gain_blast_f1=tta['blast_f1'] - plain['blast_f1'],
        time_factor_onnxruntime=ratio(tta['seconds'], plain['seconds']),
        time_factor_torch=ratio(s['torch_tta']['seconds'], s['torch']['seconds']),
        torch_scores_equal=all(abs(s[a][k] - s[b][k]) < 1e-6
                               for a, b in (('torch', 'ort'), ('torch_tta', 'ort_tta'))
                               for k in ('mIoU', 'blast_f1')))


def run_deployment(config: str, checkpoint: str, pairs: list[tuple[str, str]],
                   calibration: list[str], *, iters: int = 5, warmup: int = 1,
                   threads: Optional[int] = None, sizes: Sequence = FORWARD_SIZES,
                   num_fields: int = 4, field_size: Sequence[int] = FIELD_SIZE,
                   forward_only: bool = False, session_variants: bool = False,
                   bar: Any = None) -> dict:
    """Run (d1)-(d4) for a config and checkpoint; return one JSON-ready dict.

    Args:
        config: the model's config.
        checkpoint: its weights (exported to ONNX in a temporary folder).
        pairs: labelled (image, mask) paths for the accuracy figures.
        calibration: image paths for the int8 calibration.
        iters: timed calls per forward measurement.
        warmup: untimed calls first.
        threads: CPU threads for both backends (default: all cores).
        sizes: (h, w) of the forward-pass inputs.
        num_fields: synthetic full-size fields for (d2).
        field_size: (w, h) of those fields.
        forward_only: export and (d1) only, fp32 only (``pairs`` and
            ``calibration`` are not read).
        session_variants: add the onnxruntime settings of
            :data:`SESSION_VARIANTS` to (d1), as ``fp32_<variant>``.
        bar: optional tqdm-like progress bar.
    """
    import os

    import onnxruntime as ort
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.deployment.export import encode_decode_module, export_onnx
    from allidb_mmseg.deployment.quantize import MAX_MIOU_LOSS, int8_verdict, quantize_model
    from allidb_mmseg.deployment.runtime import OnnxSegmentor
    from allidb_mmseg.models.fused_head import set_fused_head
    from allidb_mmseg.models.fused_mit import set_fused_attention
    from allidb_mmseg.synthetic import make_synthetic

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)

    def stage(text: str) -> None:
        if bar is not None:
            bar.set_description(text)

    work = Path(tempfile.mkdtemp(prefix='allidb_deploy_bench_'))
    try:
        stage('export, int8')
        fp32_path = work / 'model.onnx'
        export = export_onnx(config, checkpoint, fp32_path)
        fp32 = OnnxSegmentor(fp32_path, threads=threads, spinning=False)
        sessions = {'fp32': fp32.session}
        if not forward_only:
            int8 = quantize_model(fp32, calibration, work / 'model.int8.onnx')
            sessions['int8'] = int8.session
        if session_variants:
            for v in SESSION_VARIANTS:
                sessions[f'fp32_{v}'] = session_variant(fp32_path, threads, v)
        model = load_model(config, checkpoint)
        set_fused_attention(model, True)
        set_fused_head(model, True)  # as the export, whatever the config names
        result: dict[str, Any] = {
            'config': str(config), 'checkpoint': str(checkpoint),
            'device': f'cpu ({platform.processor() or platform.machine()}, '
                      f'{threads} threads for torch and onnxruntime)',
            'torch': torch.__version__, 'onnxruntime': ort.__version__,
            'iters': iters, 'warmup': warmup,
            'export_check': export['export']['check']}

        stage('(d1) forward pass')
        result['forward'] = bench_forward(
            encode_decode_module(model), sessions, sizes, iters, warmup, tick)
        if forward_only:
            return result

        stage('(d2) end to end')
        fields_dir = work / 'fields'
        make_synthetic(fields_dir, num_images=num_fields, size=tuple(field_size),
                       seed=1, healthy_fraction=0.0)
        fields = sorted(str(p) for p in (fields_dir / 'images').iterdir())
        result['end_to_end'] = bench_end_to_end(
            {'torch': (model, [config, checkpoint]),
             'onnxruntime': (fp32, [str(fp32_path)])}, fields, work / 'e2e',
            threads, tick)

        area = fp32.spec.min_blast_area or DEFAULT_MIN_BLAST_AREA
        stage('agreement')
        result['agreement'] = backend_agreement(model, fp32, [i for i, _ in pairs],
                                                area, tick)
        stage('(d3) int8 accuracy')
        scores = bench_accuracy({'fp32': fp32.segment, 'int8': int8.segment},
                                pairs, area, tick)
        loss, offered = int8_verdict(scores['fp32'], scores['int8'])
        result['int8'] = dict(scores, miou_loss=loss, max_miou_loss=MAX_MIOU_LOSS,
                              offered=offered, calibration_images=len(calibration))
        stage('(d4) TTA')
        with_tta = OnnxSegmentor(fp32_path, threads=threads, tta='d4',
                                 spinning=False)
        result['tta'] = _tta_figures(scores['fp32'], with_tta, model, pairs,
                                     area, tick)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def _fmt(v: Optional[float], spec: str = '.1f', suffix: str = '') -> str:
    return 'n/a' if v is None else f'{v:{spec}}{suffix}'


def deployment_table(r: dict) -> str:
    """The docs/deployment.md table: one row per measurement, the ratio last."""
    rows = ['| measurement | torch fp32 (fused) | onnxruntime | ratio |',
            '|---|---|---|---|']
    for f in r['forward']:
        h, w = f['input_hw']
        for q in [k[len('ratio_'):] for k in f if k.startswith('ratio_')]:
            rows.append(
                f'| forward pass {w}x{h}, onnxruntime {q}, ms (max abs diff '
                f'{f[f"max_abs_diff_{q}"]:.1e}) | {_fmt(f["torch_fp32_ms"])} | '
                f'{_fmt(f[f"ort_{q}_ms"])} | {_fmt(f[f"ratio_{q}"], ".2f", "x")} |')
            rows.append(
                f'| same, CPU ms (all threads) | {_fmt(f["torch_fp32_cpu_ms"])} | '
                f'{_fmt(f[f"ort_{q}_cpu_ms"])} | '
                f'{_fmt(f[f"cpu_ratio_{q}"], ".2f", "x")} |')
    if 'end_to_end' not in r:  # forward_only
        return '\n'.join(rows)
    e = r['end_to_end']
    w, h = e['field_size']
    rows.append(f'| tools/infer.py per {w}x{h} field, in process, s | '
                f'{_fmt(e["torch"]["field_s"], ".2f")} | '
                f'{_fmt(e["onnxruntime"]["field_s"], ".2f")} | '
                f'{_fmt(e["ratio_field"], ".2f", "x")} |')
    rows.append(f'| tools/infer.py on {e["fields"]} fields, wall s (start and '
                f'load included) | {_fmt(e["torch"]["tool_wall_s"], ".1f")} | '
                f'{_fmt(e["onnxruntime"]["tool_wall_s"], ".1f")} | '
                f'{_fmt(ratio(e["torch"]["tool_wall_s"], e["onnxruntime"]["tool_wall_s"]), ".2f", "x")} |')
    a = r['agreement']
    rows.append(f'| mask pixel agreement on {a["images"]} images (images with '
                f'another blast count: {a["images_with_other_count"]}) | | | '
                f'{a["pixel_agreement"]:.6f} |')
    q = r['int8']
    rows += ['', '| variant | mIoU | lymphoblast IoU | blast F1 | time factor |',
             '|---|---|---|---|---|']
    for name, s in (('onnxruntime fp32', q['fp32']), ('onnxruntime int8', q['int8'])):
        rows.append(f'| {name} | {s["mIoU"]:.2f} | {_fmt(s["IoU.lymphoblast"], ".2f")} '
                    f'| {s["blast_f1"]:.3f} | {_fmt(ratio(s["seconds"], q["fp32"]["seconds"]), ".2f", "x")} |')
    t = r['tta']
    for name, s in (('no TTA', t['plain']), ('TTA (8 flips/rotations)', t['tta'])):
        rows.append(f'| {name} | {s["mIoU"]:.2f} | {_fmt(s["IoU.lymphoblast"], ".2f")} '
                    f'| {s["blast_f1"]:.3f} | {_fmt(ratio(s["seconds"], t["plain"]["seconds"]), ".2f", "x")} |')
    return '\n'.join(rows)
