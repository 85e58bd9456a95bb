"""benchmarks/rbc_size.py on real smears: reference sizes and the table."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import rbc_size

# The shared real data sits beside the repository, never inside it.
REAL = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'real'


def test_reference_size_ignores_border_boxes_and_needs_enough_boxes():
    whole = [(10, 10, 60, 50), (100, 100, 140, 160), (200, 30, 250, 80)]
    cut = [(0, 0, 20, 20), (590, 300, 640, 340)]  # touch the border
    assert rbc_size.field_truth(whole + cut, 640, 480) == 50.0  # max(w,h): 50, 60, 50
    assert rbc_size.field_truth(whole[:2] + cut, 640, 480) is None
    flat = [(10, 10, 60, 30), (100, 100, 150, 120), (200, 30, 250, 80)]
    assert rbc_size.field_truth(flat, 640, 480) == 50.0
    assert rbc_size.field_truth(flat, 640, 480, side='mean') == 35.0  # 35, 35, 50


def test_global_factor_and_the_flag_rates_after_it():
    """The factor is the median ruler / box ratio of the box sources (Zheng's
    hand-measured size left out); after it, errors, the within-20 % share and
    the flag's hits on misread and other fields."""
    def row(source, est, conf):
        return dict(source=source, true_px=100.0, estimate_px=est,
                    error_pct=None if est is None else est - 100.0,
                    confidence=conf, n_cells=20, seconds=0.1)
    rows = [row('s', 80.0, 0.9), row('s', 84.0, 0.9), row('s', 76.0, 0.01),
            row('s', 30.0, 0.01), row('s', 110.0, 0.9), row('s', None, 0.0),
            row('Zheng D2 300x300', 10.0, 0.9)]
    factor = rbc_size.global_factor(rows)
    assert factor == pytest.approx(0.80)  # median of 0.8, 0.84, 0.76, 0.3, 1.1
    s = rbc_size.summarize_real(rows, threshold=0.5, factor=factor)['s']
    # after /0.8: +0 %, +5 %, -5 %, -62.5 %, +37.5 %, not read
    assert s['median_abs_error_after_pct'] == pytest.approx(21.25, abs=0.1)
    assert s['within_20_after_pct'] == 50.0
    assert s['unsure_of_misread_pct'] == pytest.approx(66.7)  # 30 and None of 30, 110, None
    assert s['unsure_of_rest_pct'] == pytest.approx(33.3)     # 76 of 80, 84, 76
    table = rbc_size.format_real({'s': s}, 0.5, factor)
    assert 'global factor 0.800' in table and '| s | 21 % | 50 % | 67 % | 33 % |' in table


def test_summary_counts_unsure_fields_and_the_sure_ones_within_20_percent():
    rows = [dict(source='s', true_px=100.0, estimate_px=e, error_pct=err,
                 confidence=c, n_cells=20, seconds=0.1)
            for e, err, c in ((95.0, -5.0, 0.9), (130.0, 30.0, 0.9),
                              (20.0, -80.0, 0.01), (None, None, 0.0))]
    s = rbc_size.summarize_real(rows, threshold=0.5)['s']
    assert s['fields'] == 4 and s['unsure_pct'] == 50.0
    assert s['within_20_pct'] == 25.0 and s['sure_within_20_pct'] == 50.0
    assert s['median_abs_error_pct'] == 30.0
    assert '| s | 4 | 30 % | 25 % | 50 % | 50 % |' in rbc_size.format_real({'s': s})


@pytest.mark.skipif(not (REAL / 'bccd' / 'BCCD').is_dir(),
                    reason='no shared real data (../shared/real)')
def test_real_bccd_fields_are_measured_against_their_boxes():
    fields = [f for f in rbc_size.real_fields(REAL, per_source=4)
              if f['source'] == 'BCCD 640x480']
    assert len(fields) == 4
    rows = rbc_size.measure_real(fields)
    for r in rows:
        assert 60 < r['true_px'] < 160  # BCCD red cells: ~100 px boxes
        assert 0.0 <= r['confidence'] <= 1.0
    summary = rbc_size.summarize_real(rows)['BCCD 640x480']
    assert summary['fields'] == 4
    assert summary['median_abs_error_pct'] is not None
