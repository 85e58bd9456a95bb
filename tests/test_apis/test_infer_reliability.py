"""tools/infer.py on a disk that fills up: stop in one line, keep the report."""
from __future__ import annotations

import csv
import resource

import cv2
import numpy as np

from helpers import blob_image, one_line_error, run_tool

LIMIT = 60_000  # bytes any one file may have


def limit_file_size() -> None:
    # The kernel then refuses writes past LIMIT (EFBIG), as a full disk
    # refuses them (ENOSPC): the same write path fails the same way.
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_full_disk_stops_the_run_keeps_the_report_and_no_partial_file(
        tiny_trained, tmp_path):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    for name in ('a', 'b', 'd'):
        cv2.imwrite(str(inputs / f'{name}.png'), blob_image(40, 50))
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    cv2.imwrite(str(inputs / 'c.png'), noise)  # its overlay is > LIMIT
    out = tmp_path / 'out'
    r = run_tool('infer', tiny_trained.config, tiny_trained.checkpoint, inputs,
                 '--out-dir', out, '--device', 'cpu', '--no-progress',
                 preexec_fn=limit_file_size, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert one_line_error(r.stderr) == (
        f'error: {out / "overlays" / "c.png"}: cannot write: File too large; '
        f'report of the 2 image(s) done so far: {out / "report.csv"}')
    rows = list(csv.DictReader(open(out / 'report.csv')))
    assert [(row['name'], row['status']) for row in rows] == [('a', 'ok'),
                                                              ('b', 'ok')]
    assert (out / 'report.json').is_file()
    # Every file under a final name is whole; the run stopped before d.
    written = sorted(p for p in out.rglob('*') if p.is_file())
    for path in written:
        if path.suffix == '.png':
            assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None, path
    names = [p.relative_to(out).as_posix() for p in written]
    # The review page covers the images done so far, like the report.
    assert names == ['index.html', 'masks/a.png', 'masks/b.png',
                     'masks/c.png', 'overlays/a.png', 'overlays/b.png',
                     'report.csv', 'report.json', 'review/images/a.jpg',
                     'review/images/b.jpg', 'review/thumbs/a.jpg',
                     'review/thumbs/b.jpg']
    assert '</html>' in (out / 'index.html').read_text()


def test_review_page_comes_from_the_rows_when_the_report_fails(tmp_path):
    """The page does not read report.json back: a report that cannot be
    written leaves its one-line error (not a FileNotFoundError) and a page."""
    import pytest

    from allidb_mmseg.apis.batch import InputItem, run_batch
    from allidb_mmseg.products.sinks import ReviewPageSink
    from allidb_mmseg.utils import AllidbError

    out = tmp_path / 'out'
    (tmp_path / 'afile').write_text('not a folder')
    with pytest.raises(AllidbError, match='afile'):
        run_batch(None, [InputItem('x.png', error='no such file')], out,
                  progress=False, sinks=[ReviewPageSink(out)],
                  reports=(out / 'report.csv', tmp_path / 'afile' / 'report.json'))
    assert 'x.png' in (out / 'index.html').read_text()
