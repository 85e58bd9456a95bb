"""scale_unsure: a report column (CSV and JSON), a summary count, a badge."""
from __future__ import annotations

import csv
import json

from allidb_mmseg.products.report import REPORT_FIELDS, ImageRow, write_reports


def test_scale_unsure_reaches_csv_json_and_the_summary(tmp_path):
    rows = [ImageRow(file='a.png', name='a', scale_unsure=True),
            ImageRow(file='b.png', name='b')]
    write_reports(rows, tmp_path / 'r.csv', tmp_path / 'r.json')
    assert 'scale_unsure' in REPORT_FIELDS
    with open(tmp_path / 'r.csv', newline='') as f:
        got = {r['name']: r['scale_unsure'] for r in csv.DictReader(f)}
    assert got == {'a': 'True', 'b': ''}
    doc = json.loads((tmp_path / 'r.json').read_text())
    assert [r['scale_unsure'] for r in doc['images']] == [True, None]
    assert doc['summary']['scale_unsure'] == 1


def test_review_page_shows_a_badge_for_an_unsure_scale():
    from importlib.resources import files

    html = (files('allidb_mmseg.products') / 'review_page.html').read_text()
    assert 'r.scale_unsure === true' in html
    assert '"badge scale"' in html and 'scale unsure' in html
