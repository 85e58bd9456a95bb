"""Speed and peak memory of inference at any size: a field, 20000 px, 40000 px.

Each case runs ``apis.batch.process_image`` (what ``tools/infer.py`` does per
file: read, segment, count, write mask, overlay) in a fresh process, which
reports its wall time and its peak resident memory (``ru_maxrss``), so one
case's memory never hides another's. The inputs are mosaics of synthetic
smear fields, written once into a cache folder without ever holding a
40000 px image: a 2592x1944 JPEG field, a 20000x20000 JPEG (decoded whole by
any reader), the same 20000x20000 as a tiled TIFF (read region by region) and
a 40000x40000 pyramidal TIFF. The TIFFs carry their microns per pixel; the
JPEGs get the same through ``mpp``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from allidb_mmseg.utils import atomic_imwrite, atomic_write

__all__ = ['CASES', 'make_inputs', 'run_scale_benchmark', 'scale_table']

GB = 1e9
# Synthetic fields draw red cells width / 25 across; mosaic tiles this size
# (divisible by the pyramid factors) have red cells ~102 px, ALL-IDB1's scale
# (2592 px fields) and about what a 100x objective gives at 0.074 um/px.
FIELD_TILE = (1920, 2560)
MPP = 7.5 / (FIELD_TILE[1] / 25.0)
# (name, height, width, kind); --quick divides the sizes by QUICK_DIV.
CASES = [('field', 1944, 2592, 'jpeg'), ('large_jpeg', 20000, 20000, 'jpeg'),
         ('large_tiled_tiff', 20000, 20000, 'tiled'),
         ('slide_pyramid', 40000, 40000, 'pyramid')]
QUICK_DIV = 20
PYRAMID_FACTORS = (1, 2, 4, 16)


class Mosaic:
    """An image of any size tiled from a few synthetic fields (flipped in
    turn), readable region by region at any pyramid factor."""

    def __init__(self, fields: list[np.ndarray]) -> None:
        self.fields = fields
        self._scaled: dict[int, list[np.ndarray]] = {1: fields}

    def _at(self, factor: int) -> list[np.ndarray]:
        import cv2

        if factor not in self._scaled:
            fh, fw = self.fields[0].shape[:2]
            self._scaled[factor] = [cv2.resize(f, (fw // factor, fh // factor),
                                               interpolation=cv2.INTER_AREA)
                                    for f in self.fields]
        return self._scaled[factor]

    def region(self, y0: int, y1: int, x0: int, x1: int, factor: int = 1
               ) -> np.ndarray:
        fields = self._at(factor)
        fh, fw = fields[0].shape[:2]
        out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        for ty in range(y0 // fh, (y1 - 1) // fh + 1):
            for tx in range(x0 // fw, (x1 - 1) // fw + 1):
                k = ty * 7 + tx * 3
                f = fields[k % len(fields)]
                if (k // len(fields)) % 2:
                    f = f[::-1, ::-1]
                ya, yb = max(y0, ty * fh), min(y1, (ty + 1) * fh)
                xa, xb = max(x0, tx * fw), min(x1, (tx + 1) * fw)
                out[ya - y0:yb - y0, xa - x0:xb - x0] = \
                    f[ya - ty * fh:yb - ty * fh, xa - tx * fw:xb - tx * fw]
        return out


def _tiles(mosaic: Mosaic, h: int, w: int, tile: int, factor: int
           ) -> Iterator[np.ndarray]:
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            yield mosaic.region(y, min(h, y + tile), x, min(w, x + tile),
                                factor)[..., ::-1]   # RGB for TIFF


def _write_tiff(path: Path, mosaic: Mosaic, h: int, w: int,
                factors: tuple[int, ...], mpp: float) -> None:
    import tifffile

    def write(tmp: Path) -> None:
        with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
            for k, f in enumerate(factors):
                lh, lw = -(-h // f), -(-w // f)
                kw = dict(shape=(lh, lw, 3), dtype=np.uint8, tile=(512, 512),
                          photometric='rgb', compression='jpeg',
                          compressionargs=dict(level=90))
                if k == 0:
                    px_per_cm = 1e4 / mpp
                    tif.write(_tiles(mosaic, lh, lw, 512, f),
                              subifds=len(factors) - 1,
                              resolution=(px_per_cm, px_per_cm),
                              resolutionunit='CENTIMETER', **kw)
                else:
                    tif.write(_tiles(mosaic, lh, lw, 512, f), subfiletype=1, **kw)
    atomic_write(path, write)


def make_inputs(cache: Path, quick: bool = False, seed: int = 0,
                log=print) -> dict[str, Path]:
    """The benchmark's input files in ``cache`` (made once, then reused)."""
    import cv2

    from allidb_mmseg.synthetic.field import render_field

    cache.mkdir(parents=True, exist_ok=True)
    jpeg_90 = [cv2.IMWRITE_JPEG_QUALITY, 90]
    div = QUICK_DIV if quick else 1
    files = {}
    mosaic = None
    for name, h, w, kind in CASES:
        h, w = h // div, w // div
        suffix = '.jpg' if kind == 'jpeg' else '.tif'
        path = cache / f'{name}_{w}x{h}{suffix}'
        files[name] = path
        if path.exists():
            continue
        log(f'making {path} ...')
        if name == 'field':
            img, _, _ = render_field(np.random.default_rng(seed), (w, h), n_blasts=4)
            atomic_imwrite(path, img, jpeg_90)
            continue
        if mosaic is None:
            th, tw = FIELD_TILE[0] // div, FIELD_TILE[1] // div
            rng = np.random.default_rng(seed + 1)
            mosaic = Mosaic([render_field(rng, (tw, th), n_blasts=int(n))[0]
                             for n in (5, 0, 3, 8)])
        if kind == 'jpeg':
            atomic_imwrite(path, mosaic.region(0, h, 0, w), jpeg_90)
        else:
            factors = PYRAMID_FACTORS if kind == 'pyramid' else (1,)
            _write_tiff(path, mosaic, h, w, factors, MPP * div)
    return files


_CHILD = '''
import json, resource, sys, time
t0 = time.perf_counter()
args = json.loads(sys.argv[1])
import torch
if args['threads']:
    torch.set_num_threads(args['threads'])
from mmengine import Config
from allidb_mmseg.apis import load_model
from allidb_mmseg.apis.batch import process_image
from allidb_mmseg.evaluation import AllRule
cfg = Config.fromfile(args['config'])
cfg.merge_from_dict(args['cfg_options'])
if args['blast_fraction']:
    torch.manual_seed(0)  # untrained weights: the same ones on every run
model = load_model(cfg, args['checkpoint'], args['device'])
if args['blast_fraction']:
    # untrained weights: move the blast logit so that this share of a field
    # is blast, as on a smear, instead of all or nothing
    import numpy as np
    from allidb_mmseg.apis import segment
    _, prob = segment(model, args['calibrate_on'], return_prob=True, mpp=args['mpp0'])
    p = np.clip(prob.astype(np.float64), 1e-6, 1 - 1e-6)
    with torch.no_grad():
        model.decode_head.conv_seg.bias[1] -= float(
            np.quantile(np.log(p / (1 - p)), 1 - args['blast_fraction']))
def rss(field='VmRSS:'):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
# The peak is VmHWM, this program's own: ru_maxrss keeps the parent's
# resident size at fork across exec (a benchmark that has just built a
# 40000 px input would report it as this field's peak).
def peak_rss():
    return rss('VmHWM:') or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start_rss = rss()
t1 = time.perf_counter()
row = process_image(model, args['file'], args['name'], __import__('pathlib').Path(args['out']),
                    args['min_area'], AllRule(), mpp=args['mpp'], progress=args['progress'])
if args['device'].startswith('cuda'):
    torch.cuda.synchronize()
t2 = time.perf_counter()
print('RESULT ' + json.dumps(dict(
    status=row.status, error=row.error, seconds=t2 - t1, load_seconds=t1 - t0,
    start_rss=start_rss, peak_rss=peak_rss(),
    blast_count=row.blast_count, blast_area_fraction=row.blast_area_fraction,
    inference=row.inference, width=row.width,
    height=row.height)))
'''


def run_case(file: Path, name: str, out: Path, *, config: str,
             checkpoint: str | None, cfg_options: dict, device: str,
             threads: int | None, mpp: float | None, min_area: int,
             progress: bool, blast_fraction: float | None = None,
             calibrate_on: Path | None = None, mpp0: float | None = None
             ) -> dict[str, Any]:
    """One input through ``process_image`` in a fresh process.

    With ``blast_fraction``, the blast logit is first shifted so that this
    share of ``calibrate_on`` (a field at ``mpp0``) is blast.
    """
    args = dict(config=config, checkpoint=checkpoint, cfg_options=cfg_options,
                device=device, threads=threads, file=str(file), name=name,
                out=str(out), mpp=mpp, min_area=min_area, progress=progress,
                blast_fraction=blast_fraction, calibrate_on=str(calibrate_on),
                mpp0=mpp0)
    proc = subprocess.run([sys.executable, '-c', _CHILD, json.dumps(args)],
                          stdout=subprocess.PIPE, stderr=None if progress
                          else subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode or not lines:
        tail = (proc.stderr or '').strip().splitlines()[-1:] or ['(no output)']
        raise RuntimeError(f'{file}: benchmark case failed (exit '
                           f'{proc.returncode}): {tail[0]}')
    res = json.loads(lines[-1][len('RESULT '):])
    if res['status'] != 'ok':
        raise RuntimeError(f'{file}: {res["error"]}')
    return res


def run_scale_benchmark(config: str, checkpoint: str | None, cache: Path,
                        out: Path, *, cfg_options: dict | None = None,
                        device: str = 'cpu', threads: int | None = None,
                        quick: bool = False, cases: list[str] | None = None,
                        min_area: int = 150, progress: bool = True,
                        blast_fraction: float | None = None,
                        log=print, on_case=None) -> dict[str, Any]:
    """Every case (or those named in ``cases``); the figures for the table.

    Counting costs what the masks hold: an untrained model marks all or
    nothing as blast, so ``blast_fraction`` shifts its blast logit until
    that share of the field is blast (about 0.02 on a smear). ``on_case``
    gets the result so far after each case (to save it: a 40000 px slide can
    take an hour on a CPU).
    """
    files = make_inputs(cache, quick, log=log)
    div = QUICK_DIV if quick else 1
    results: dict[str, Any] = {}
    result = dict(config=config, checkpoint=checkpoint, cfg_options=cfg_options,
                  device=device, threads=threads, quick=quick, mpp=MPP * div,
                  blast_fraction=blast_fraction, cases=results)
    for name, h, w, kind in CASES:
        if cases and name not in cases:
            continue
        log(f'{name}: segmenting {files[name].name} ...')
        t = time.perf_counter()
        res = run_case(files[name], name, out / name, config=config,
                       checkpoint=checkpoint, cfg_options=cfg_options or {},
                       device=device, threads=threads,
                       mpp=MPP * div if kind == 'jpeg' else None,
                       min_area=min_area, progress=progress,
                       blast_fraction=blast_fraction, calibrate_on=files['field'],
                       mpp0=MPP * div)
        h, w = h // div, w // div
        res.update(kind=kind, height=h, width=w, megapixels=h * w / 1e6,
                   mp_per_s=h * w / 1e6 / res['seconds'],
                   decoded_bytes=h * w * 3, mask_bytes=h * w,
                   wall_seconds=time.perf_counter() - t)
        results[name] = res
        if on_case is not None:
            on_case(result)
    return result


def _limit(name: str, r: dict, quick: bool) -> tuple[str, bool | None]:
    """The issue's memory target for a case and whether it was met (the
    targets are for the full sizes, not for --quick)."""
    if quick:
        return 'n/a (quick)', None
    if r['kind'] == 'jpeg' and name != 'field':
        lim = 2 * r['decoded_bytes']
        return f'<= 2 x decoded ({lim / GB:.2f} GB)', r['peak_rss'] <= lim
    if r['kind'] == 'tiled':
        lim = r['mask_bytes'] + 1.5 * GB
        return f'<= mask + 1.5 GB ({lim / GB:.2f} GB)', r['peak_rss'] <= lim
    return '', None


def scale_table(result: dict[str, Any]) -> str:
    """The Markdown table of a :func:`run_scale_benchmark` result."""
    rows = ['| input | size | read | working scale | time s | MP/s | peak RSS GB '
            '| above start GB | target | met |', '|' + '---|' * 10]
    for name, r in result['cases'].items():
        info = r.get('inference') or {}
        read = f"level {info['level']} (x{info['level_downsample']:g})" \
            if 'level' in info else 'whole file'
        scale = info.get('working_scale')
        target, met = _limit(name, r, result['quick'])
        rows.append(
            f"| {name} ({r['kind']}) | {r['width']}x{r['height']} | {read} | "
            f"{'' if scale is None else f'{scale:.3f}'} | {r['seconds']:.1f} | "
            f"{r['mp_per_s']:.2f} | {r['peak_rss'] / GB:.2f} | "
            f"{(r['peak_rss'] - r['start_rss']) / GB:.2f} | {target} | "
            f"{'' if met is None else ('yes' if met else 'NO')} |")
    return '\n'.join(rows)
