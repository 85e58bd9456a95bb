"""Segment folders of smears with one object, as mmseg's ``MMSegInferencer``.

A call writes what ``tools/infer.py`` writes and says on stderr what a running
job says; the summary line is the caller's. Bad arguments raise a one-line
:class:`~allidb_mmseg.utils.AllidbError` naming the option as ``tools/infer.py``
spells it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from ..evaluation.counting import AllRule
from ..evaluation.smear_call import find_smear_call
from ..products.exports import OBJECT_TYPES
from ..products.report import ImageRow
from ..products.sinks import ImageSink, output_sinks, skipped_line
from ..products.stain_check import StainCheck, load_stain_check, ood_summary_line
from ..utils import AllidbError, check_writable_dir, remove_stale_temps
from .backends import ModelArgs, model_backend, open_model
from .batch import collect_inputs, existing_outputs, plan_names, run_batch
from .distributed import default_threads, is_rank_zero, run_distributed

__all__ = ['BlastInferencer']

PathLike = str | os.PathLike


class BlastInferencer:
    """A trained model and its inference settings, called on inputs.

    Args:
        model: a config (with ``checkpoint``), or an exported ``MODEL.onnx``
            (no checkpoint; runs on onnxruntime).
        checkpoint: the trained checkpoint of a config (a trusted file).
        device: ``cpu``, ``cuda`` or ``cuda:N`` (default: CUDA if available
            for torch, the CPU for onnxruntime).
        backend: ``torch`` or ``onnxruntime`` (default: from ``model``).
        tta: test-time augmentation: True (or ``'d4'``) averages the 8 flips
            and 90-degree rotations, ``'flips'`` the 4 flips.
        threads: CPU threads (default: all cores, or shared among the
            processes of a distributed launch).
        stain_normalize: ``'auto'``, ``'reinhard'`` or ``'macenko'``: map
            smears flagged unlike the training data onto the model's stain.
        stain_normalize_all: normalize every smear, not only flagged ones.
        stain_reference: a ``stain_reference.json`` instead of the model's.
        min_blast_area: the smallest blast counted, in pixels of the input
            (default: the exported model's, else from each input's red-cell
            size).
        all_min_count: flag ALL-suspected at this many blasts or more
            (default: the model's fitted smear call, ``smear_call.json``
            beside the checkpoint or ONNX file, when it has one, else 1).
        all_min_fraction: and at least this blast area fraction.
        mpp: microns per pixel of every input (level 0 for slides).
        launcher: ``'pytorch'`` in each process of a torchrun launch
            (``tools/dist_infer.sh``): the inputs are shared out, rank 0
            writes the reports.

    Raises:
        AllidbError: a model file is missing or an argument is out of range.
    """

    def __init__(self, model: PathLike, checkpoint: PathLike | None = None, *,
                 device: str | None = None, backend: str | None = None,
                 tta: bool | str = False, threads: int | None = None,
                 stain_normalize: str | None = None,
                 stain_normalize_all: bool = False,
                 stain_reference: PathLike | None = None,
                 min_blast_area: int | None = None, all_min_count: int | None = None,
                 all_min_fraction: float = 0.0, mpp: float | None = None,
                 launcher: str = 'none') -> None:
        model = str(model)
        backend = model_backend(model, backend)
        onnx = backend == 'onnxruntime'
        if onnx and checkpoint is not None:
            raise AllidbError(checkpoint, 'an exported model takes no checkpoint')
        if not onnx and checkpoint is None:
            raise AllidbError(model, 'a config needs its trained checkpoint')
        self.model_args = ModelArgs(backend, [model] if onnx else [model, str(checkpoint)], [])
        for f in self.model_args.files:
            if not Path(f).is_file():
                raise AllidbError(f, 'no such file')
        _require(threads is None or threads >= 1, '--threads',
                 f'must be at least 1, got {threads}')
        _require(min_blast_area is None or min_blast_area >= 1,
                 '--min-blast-area', f'must be at least 1, got {min_blast_area}')
        _require(mpp is None or mpp > 0, '--mpp', f'must be positive, got {mpp}')
        self.device, self.threads, self.mpp = device, threads, mpp
        self.tta = 'd4' if tta is True else (tta or None)
        self.stain_normalize = stain_normalize or ('auto' if stain_normalize_all else None)
        self.stain_normalize_all, self.stain_reference = stain_normalize_all, stain_reference
        self.min_blast_area = min_blast_area
        call = find_smear_call(self.model_args.files[-1]) \
            if all_min_count is None and not all_min_fraction else None
        self.rule = AllRule(min_count=1 if all_min_count is None else all_min_count,
                            min_fraction=all_min_fraction, call=call)
        self.distributed = launcher == 'pytorch'
        # Loaded at the first call, once the outputs are known to be free.
        self._loaded: tuple[Any, str, StainCheck | None] | None = None

    def __call__(self, inputs: PathLike | Sequence[PathLike], out_dir: PathLike,
                 *, coco_out: PathLike | None = None, geojson: str | None = None,
                 force: bool = False, progress: bool = True) -> list[ImageRow]:
        """Segment ``inputs`` (files, folders, glob patterns) into ``out_dir``.

        Args:
            inputs: one or more files, folders (their files) or globs.
            out_dir: the output folder (masks, overlays, report.csv,
                report.json, index.html).
            coco_out: also write the blasts as a COCO file for CVAT.
            geojson: also write ``out_dir/geojson/<name>.geojson`` for QuPath,
                as ``'detection'`` or ``'annotation'`` objects.
            force: overwrite the outputs of an earlier run.
            progress: progress bars on stderr.

        Returns:
            One report row per input, failed ones included (under a
            distributed launch: rank 0 all of them, other ranks their own).

        Raises:
            AllidbError: no input, an output exists (without ``force``) or
                cannot be written, the model cannot be loaded.
        """
        _require(geojson is None or geojson in OBJECT_TYPES, '--geojson-type',
                 f'must be one of {", ".join(OBJECT_TYPES)}, got {geojson}')
        out_dir = _prepare_out_dir(Path(out_dir))
        specs = [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs
        items = collect_inputs([str(s) for s in specs])
        if not items:
            raise AllidbError(' '.join(map(str, specs)), 'no input files found')
        sinks = output_sinks(out_dir, coco_out, geojson is not None,
                             geojson or 'detection')
        _refuse_existing(out_dir, [it.file for it in items], sinks, force)
        model, device, stain = self._load()
        spec = getattr(model, 'spec', None)  # an exported model's sidecar
        min_area = self.min_blast_area or getattr(spec, 'min_blast_area', None)
        settings = dict(self.model_args.settings(), device=device,
                        backend=self.model_args.backend, tta=self.tta,
                        mpp=self.mpp, **(stain.settings() if stain else {}))
        run = run_distributed if self.distributed else run_batch
        rows = run(model, items, out_dir, min_area=min_area, rule=self.rule,
                   progress=progress, settings=settings, sinks=sinks, stain=stain,
                   mpp=self.mpp, on_fail=lambda row: tqdm.write(
                       f'warning: {row.file}: {row.error} (skipped)', file=sys.stderr))
        if self.speaks_for_run:  # slides left out of COCO, smears unlike the training data
            if skipped := skipped_line(sinks):
                print(f'note: {skipped}', file=sys.stderr)
            if ood := ood_summary_line(rows):
                print(f'warning: {ood}', file=sys.stderr)
        return rows

    @property
    def speaks_for_run(self) -> bool:
        """False in a distributed launch's processes other than rank 0 (own rows only)."""
        return not self.distributed or is_rank_zero()

    def _load(self) -> tuple[Any, str, StainCheck | None]:
        """The model, its device and its stain check, loaded once."""
        if self._loaded is None:
            weights = self.model_args.files[-1]
            stain = load_stain_check(weights, self.stain_reference,
                                     self.stain_normalize, self.stain_normalize_all)
            if stain is None:
                print(f'note: {weights}: no stain reference saved with this '
                      'model, so no out-of-distribution check (fit one with '
                      'tools/analysis_tools/fit_stain_reference.py)', file=sys.stderr)
            threads = self.threads or (default_threads() if self.distributed else None)
            local_rank = int(os.environ.get('LOCAL_RANK', 0)) if self.distributed else None
            model, device = open_model(self.model_args, self.device, tta=self.tta,
                                       threads=threads, local_rank=local_rank)
            self._loaded = model, device, stain
        return self._loaded


def _require(ok: bool, option: str, problem: str) -> None:
    if not ok:
        raise AllidbError(option, problem)


def _prepare_out_dir(out_dir: Path) -> Path:
    """Check it can be written (before the model loads); remove killed runs' temporaries."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AllidbError(out_dir, 'exists and is not a folder')
    check_writable_dir(out_dir, '--out-dir')
    for folder in ('', 'masks', 'overlays', 'review/images', 'review/thumbs',
                   'geojson'):  # every folder a run writes into
        remove_stale_temps(out_dir / folder)
    return out_dir


def _refuse_existing(out_dir: Path, files: list[str],
                     sinks: Sequence[ImageSink], force: bool) -> None:
    """Raise if an output exists (unless ``force``) or a sink cannot take these inputs."""
    names = plan_names(files)
    clash = existing_outputs(out_dir, names, files) + [
        p for s in sinks for p in s.outputs(files, names) if p.exists()]
    if clash and not force:
        more = f' (and {len(clash) - 1} more)' if len(clash) > 1 else ''
        raise AllidbError(clash[0], f'output exists{more}; use --force to '
                          'overwrite')
