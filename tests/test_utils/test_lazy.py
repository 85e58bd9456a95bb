"""Package attributes imported on first use."""
import sys

import pytest

from helpers import run_py


def test_a_lazy_attribute_is_imported_when_first_asked_for():
    r = run_py('import sys, allidb_mmseg.evaluation as e\n'
               'before = "allidb_mmseg.evaluation.metrics" in sys.modules\n'
               'f = e.segmentation_metrics\n'
               'print(before, f.__module__)')
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ['False', 'allidb_mmseg.evaluation.metrics']


def test_an_unknown_attribute_is_an_attribute_error():
    from allidb_mmseg.utils.lazy import lazy_attributes

    getter = lazy_attributes('allidb_mmseg.evaluation', {'summarize_detection': 'detection'})
    assert getter('summarize_detection') is \
        sys.modules['allidb_mmseg.evaluation.detection'].summarize_detection
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        getter('nope')
