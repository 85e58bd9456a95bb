"""Every tool that writes checks its output folder first: an unwritable one
is a one-line error (exit 2) before any work, never a traceback after it."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from coco_fixtures import tiny_export

from helpers import blob_image, call_tool, one_line_error, read_only


def xyc_inputs(root: Path) -> tuple[Path, Path, Path]:
    """(images, centres, masks) folders with one smear each."""
    images, centres, masks = root / 'im', root / 'xyc', root / 'masks'
    for d in (images, centres, masks):
        d.mkdir()
    cv2.imwrite(str(images / 'a.png'), blob_image(90, 130))
    (centres / 'a.xyc').write_text('43 45\n')
    mask = np.zeros((90, 130), np.uint8)
    cv2.circle(mask, (43, 45), 15, 1, -1)
    cv2.imwrite(str(masks / 'a.png'), mask)
    return images, centres, masks


def cases(tiny, root: Path, locked: Path) -> dict[str, tuple[list, Path]]:
    """tool -> (argv, the output the error must name)."""
    images, centres, masks = xyc_inputs(root)
    ann, img_dir, _ = tiny_export(root / 'coco', n=2)
    hf = root / 'model.safetensors'
    hf.write_bytes(b'')
    cfg, ckpt, data = tiny.config, tiny.checkpoint, tiny.data_root
    return {
        'infer': ([cfg, ckpt, data / 'img_dir' / 'test', '--out-dir',
                   locked / 'out', '--device', 'cpu'], locked / 'out'),
        'train': ([cfg, '--data-root', data, '--work-dir', locked / 'work'],
                  locked / 'work'),
        'test': ([cfg, ckpt, '--data-root', data, '--work-dir',
                  locked / 'work'], locked / 'work'),
        'dataset_converters/xyc_to_coco': (
            [images, centres, '--out', locked / 'boot.json'], locked),
        'dataset_converters/coco_to_masks': (
            ['--ann', ann, '--img-dir', img_dir, '--out', locked / 'data'],
            locked),
        'analysis_tools/eval_counts': (
            [masks, centres, '--out', locked / 'scores.json'], locked),
        'analysis_tools/otsu_baseline': (
            [data, '--out', locked / 'otsu.json'], locked),
        'analysis_tools/benchmark': (
            [cfg, '--data-root', data, '--quick', '--out',
             locked / 'bench.json'], locked),
        'model_converters/hf_mit2mmseg': ([hf, locked / 'mit.pth'], locked),
        'deployment/export_onnx': ([cfg, ckpt, '--out', locked / 'm.onnx'],
                                   locked),
        'analysis_tools/fit_stain_reference': (
            [images, '--out', locked / 'stain.json'], locked),
    }


TOOLS = ['infer', 'train', 'test', 'dataset_converters/xyc_to_coco',
         'dataset_converters/coco_to_masks', 'analysis_tools/eval_counts',
         'analysis_tools/otsu_baseline', 'analysis_tools/benchmark',
         'model_converters/hf_mit2mmseg', 'deployment/export_onnx',
         'analysis_tools/fit_stain_reference']


@pytest.mark.parametrize('tool', TOOLS)
def test_unwritable_output_is_one_line_before_any_work(tiny_trained, open_tmp,
                                                       tool):
    locked = open_tmp / 'locked'
    locked.mkdir()
    argv, named = cases(tiny_trained, open_tmp, locked)[tool]
    for path in [open_tmp, *open_tmp.rglob('*')]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with read_only(locked):
        r = call_tool(tool, *argv)
    assert r.returncode == 2, (r.stdout[-1000:], r.stderr[-2000:])
    line = one_line_error(r.stderr)
    assert line.startswith(f'error: {named}'), line
    assert 'not writable' in line and line.endswith('Permission denied'), line
    assert list(locked.iterdir()) == []
    assert not json.dumps(r.stdout).count('Traceback')
