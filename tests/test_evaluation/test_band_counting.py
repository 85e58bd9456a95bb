"""Counting over row bands equals counting the whole mask; blasts cut by a
band border are counted once."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.evaluation.band_counting import BandCounter
from allidb_mmseg.evaluation.counting import count_blasts


def random_discs(seed: int, shape=(400, 300), n=25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, np.uint8)
    for _ in range(n):
        centre = tuple(int(v) for v in rng.integers(0, shape[::-1]))
        cv2.circle(m, centre, int(rng.integers(3, 25)), 1, -1)
    return m


def key(b):
    return (b.area, round(b.centroid[0], 6), round(b.centroid[1], 6),
            tuple(b.bbox), None if b.mean_prob is None else round(b.mean_prob, 9))


def by_bands(mask, prob, band, process_rows, **kw):
    counter = BandCounter(mask.shape[1], process_rows=process_rows, **kw)
    for y in range(0, len(mask), band):
        counter.add(mask[y:y + band], None if prob is None else prob[y:y + band])
    return counter, counter.finish()


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('band', [1, 7, 50, 400])
def test_band_counting_equals_whole_mask(seed, band):
    mask = random_discs(seed)
    prob = np.random.default_rng(seed).random(mask.shape).astype(np.float16)
    ref = count_blasts(mask, min_area=60, prob=prob)
    _, got = by_bands(mask, prob, band, process_rows=13 * seed + 1, min_area=60)
    assert sorted(map(key, got)) == sorted(map(key, ref.blasts))
    assert [b.label for b in got] == list(range(1, len(got) + 1))
    # numbered in reading order of each component's first pixel
    tops = [b.bbox[1] for b in got]
    assert tops[0] == min(tops)


def test_blast_cut_by_band_borders_counted_once_and_touching_split():
    m = np.zeros((300, 300), np.uint8)
    cv2.circle(m, (80, 100), 30, 1, -1)            # across the border at 100
    cv2.circle(m, (200, 150), 20, 1, -1)           # two touching blasts
    cv2.circle(m, (232, 150), 20, 1, -1)
    _, blasts = by_bands(m, None, 100, process_rows=1, min_area=150)
    assert len(blasts) == 3
    assert all(b.mean_prob is None for b in blasts)
    big = max(blasts, key=lambda b: b.area)
    assert abs(big.area - np.pi * 30 ** 2) < 0.05 * np.pi * 30 ** 2


def test_mean_probability_per_blast():
    m = np.zeros((100, 200), np.uint8)
    cv2.circle(m, (50, 50), 20, 1, -1)
    cv2.circle(m, (150, 50), 20, 1, -1)
    prob = np.where(np.arange(200)[None, :] < 100, 0.25, 0.75) * np.ones((100, 1))
    _, blasts = by_bands(m, prob.astype(np.float16), 30, process_rows=1,
                         min_area=100)
    assert [round(b.mean_prob, 3) for b in blasts] == [0.25, 0.75]
    assert [round(b.mean_prob, 3) for b in
            count_blasts(m, 100, prob=prob).blasts] == [0.25, 0.75]


def test_component_taller_than_the_limit_is_cut_and_reported():
    m = np.zeros((500, 40), np.uint8)
    m[:, 10:30] = 1                                # a 500-row streak
    counter, blasts = by_bands(m, None, 50, process_rows=50, min_area=10,
                               split=False, max_rows=120)
    assert counter.cut_components >= 1
    assert len(blasts) > 1
    counter, blasts = by_bands(m, None, 50, process_rows=50, min_area=10,
                               split=False, max_rows=1000)
    assert counter.cut_components == 0 and len(blasts) == 1


def test_bands_must_agree():
    counter = BandCounter(10)
    counter.add(np.zeros((2, 10), np.uint8), np.zeros((2, 10), np.float16))
    with pytest.raises(ValueError, match='probability'):
        counter.add(np.zeros((2, 10), np.uint8))
    with pytest.raises(ValueError, match='width'):
        counter.add(np.zeros((2, 11), np.uint8))


def test_giant_components_are_not_split(monkeypatch):
    """A smear-wide artefact would cost memory in proportion to split: above
    MAX_SPLIT_PIXELS a component is one blast, on both counting paths."""
    from allidb_mmseg.evaluation import counting

    m = np.zeros((100, 200), np.uint8)
    cv2.circle(m, (80, 50), 20, 1, -1)
    cv2.circle(m, (112, 50), 20, 1, -1)
    assert count_blasts(m, min_area=150).count == 2
    monkeypatch.setattr(counting, 'MAX_SPLIT_PIXELS', 1000)
    whole = count_blasts(m, min_area=150)
    _, banded = by_bands(m, None, 30, process_rows=1, min_area=150)
    assert whole.count == len(banded) == 1
    assert whole.blasts[0].area == banded[0].area == int(m.sum())
