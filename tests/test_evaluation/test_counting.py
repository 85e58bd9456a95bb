"""Blast counting: components, min area, touching blasts split, ALL rule."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.evaluation import AllRule, count_blasts


def discs(specs, shape=(200, 300)):
    m = np.zeros(shape, np.uint8)
    for x, y, r in specs:
        cv2.circle(m, (x, y), r, 1, -1)
    return m


def test_separate_discs_counted_with_stats():
    res = count_blasts(discs([(50, 50, 15), (200, 120, 20)]), min_area=100)
    assert res.count == 2
    areas = sorted(b.area for b in res.blasts)
    assert abs(areas[0] - np.pi * 15 ** 2) < 0.1 * np.pi * 15 ** 2
    cents = sorted((round(b.centroid[0]), round(b.centroid[1])) for b in res.blasts)
    assert cents == [(50, 50), (200, 120)]
    for b in res.blasts:  # label image agrees with the stats
        assert int((res.labels == b.label).sum()) == b.area


def test_small_components_ignored():
    res = count_blasts(discs([(50, 50, 15), (150, 50, 3), (250, 150, 4)]), min_area=100)
    assert res.count == 1
    assert res.labels[50, 150] == 0 and res.labels[50, 50] == 1


@pytest.mark.parametrize('gap', [28, 32, 38])
def test_touching_blasts_split(gap):
    m = discs([(100, 100, 20), (100 + gap, 100, 20)])
    n, _ = cv2.connectedComponents(m)
    assert n - 1 == 1  # one component...
    res = count_blasts(m, min_area=150)
    assert res.count == 2  # ...two blasts
    assert res.labels[100, 100] != res.labels[100, 100 + gap]
    assert not count_blasts(m, min_area=150, split=False).count == 2


def test_touching_blasts_of_different_sizes_split():
    res = count_blasts(discs([(80, 100, 28), (122, 100, 16)]), min_area=150)
    assert res.count == 2
    big, small = sorted(res.blasts, key=lambda b: -b.area)
    assert big.area > 2 * small.area


@pytest.mark.parametrize('axes,angle', [((60, 20), 30), ((90, 15), 0)])
def test_single_elongated_blast_not_split(axes, angle):
    m = np.zeros((200, 300), np.uint8)
    cv2.ellipse(m, (150, 100), axes, angle, 0, 360, 1, -1)
    assert count_blasts(m, min_area=150).count == 1


def test_many_touching_cells_in_one_blob():
    m = np.zeros((400, 400), np.uint8)
    for x in range(40, 380, 36):
        for y in range(40, 380, 36):
            cv2.circle(m, (x, y), 20, 1, -1)
    res = count_blasts(m, min_area=150)
    assert res.count == 10 * 10
    assert set(np.unique(res.labels)) == set(range(101))


def test_ground_truth_masks_give_exact_counts():
    """With the truth as a perfect model, every blast is found, once."""
    from allidb_mmseg.synthetic import polygons_to_mask, render_field

    total = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        img, polys, centres = render_field(rng, (320, 240), n_blasts=int(rng.integers(2, 7)),
                                           touching_prob=0.7)
        gt = polygons_to_mask(polys, 240, 320)
        res = count_blasts(gt, min_area=100)
        assert res.count == len(centres), f'seed {seed}'
        hit = {int(res.labels[y, x]) for x, y in centres}
        assert 0 not in hit and len(hit) == len(centres)
        total += len(centres)
    assert total >= 15


def test_all_rule():
    rule = AllRule(min_count=2, min_fraction=0.01)
    assert rule.applies(2, 0.02) and not rule.applies(1, 0.5) and not rule.applies(3, 0.001)
    text = rule.text(150)
    assert 'blast_count >= 2' in text and '150 px' in text and '0.01' in text
    assert AllRule().applies(1, 0.0) and not AllRule().applies(0, 0.0)


def test_empty_mask():
    res = count_blasts(np.zeros((50, 60), np.uint8))
    assert res.count == 0 and res.labels.shape == (50, 60) and res.labels.max() == 0
