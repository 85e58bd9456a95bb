"""Named stain profiles: same scene, another lab's stain and lamp; the default is unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from allidb_mmseg.synthetic import STAIN_PROFILES, make_synthetic, render_field
from helpers import run_tool

SIZE = (160, 120)


def _render(profile, seed=4):
    return render_field(np.random.default_rng(seed), SIZE, 3, stain_profile=profile)


def _background_rgb(img_bgr: np.ndarray) -> np.ndarray:
    """Median colour of the brightest quarter of pixels (the empty field), RGB."""
    flat = img_bgr.reshape(-1, 3).astype(np.float32)
    bright = flat[flat.sum(1) >= np.percentile(flat.sum(1), 75)]
    return np.median(bright, 0)[::-1]


def test_default_is_lab_a_and_profiles_keep_the_scene():
    base_img, base_polys, base_centres = _render(None)
    img_a, polys_a, _ = _render('lab_a')
    assert np.array_equal(base_img, img_a)
    for name in ('lab_b', 'yellow', 'pale'):
        img, polys, centres = _render(name)
        assert centres == base_centres
        assert all(np.array_equal(p, q) for p, q in zip(polys, base_polys))
        assert np.abs(img.astype(int) - base_img).mean() > 5, name


def test_profiles_look_like_their_description():
    default = _background_rgb(_render(None)[0])
    yellow = _background_rgb(_render('yellow')[0])
    lab_b = _background_rgb(_render('lab_b')[0])
    assert yellow[2] < default[2] - 30            # the blue channel drops: yellowish
    assert lab_b[2] > lab_b[0] + 5                # a blue-white lamp
    pale, normal = _render('pale')[0], _render(None)[0]
    assert pale.mean() > normal.mean() + 5        # less dye, brighter field


def test_unknown_profile_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match='unknown stain profile .*lab_a'):
        make_synthetic(tmp_path / 'o', num_images=1, size=(96, 72), stain_profile='lab_z')
    assert not (tmp_path / 'o').exists()


def test_cli_stain_profile(tmp_path):
    out = tmp_path / 'y'
    r = run_tool('dataset_converters/make_synthetic', str(out), '--num-images', '2',
                 '--size', '96', '72', '--stain-profile', 'yellow')
    assert r.returncode == 0, r.stderr
    assert 'stain profile yellow' in r.stdout
    assert len(list((out / 'images').glob('*.jpg'))) == 2
    bad = run_tool('dataset_converters/make_synthetic', str(tmp_path / 'z'),
                   '--stain-profile', 'lab_z')
    assert bad.returncode == 2 and 'lab_z' in bad.stderr
    assert set(STAIN_PROFILES) == {'lab_a', 'lab_b', 'yellow', 'pale'}
