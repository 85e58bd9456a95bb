"""The review page (index.html): its files, and the page itself in headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import load_model, segment
from allidb_mmseg.evaluation import count_blasts
from helpers import call_tool

MIN_AREA = 30


def need_browser() -> None:
    """Skip without Chromium/Playwright, naming what to install; in CI
    (``CI`` set, as .ci/run runs) that is a failure, not a skip."""
    from benchmarks.browser import missing_browser

    problem = missing_browser()
    if problem:
        if os.environ.get('CI'):
            pytest.fail(f'the browser test must run in CI: {problem}')
        pytest.skip(problem)


@pytest.fixture(scope='module')
def review_run(blobby_model, tmp_path_factory):
    """An infer run whose page has ALL-suspected, healthy and failed cards.

    The inputs are renamed so that name order is ascending blast count
    (sorting by count must reverse it), and the ALL rule is set between the
    counts, so the ALL filter has cards to hide.
    """
    cfg, ckpt, images = blobby_model
    tmp = tmp_path_factory.mktemp('review')
    model = load_model(str(cfg), str(ckpt), 'cpu')
    counts = {f: count_blasts(segment(model, str(f)) == 1, MIN_AREA).count
              for f in sorted(images.iterdir())}
    ranked = sorted(counts, key=lambda f: (counts[f], f.name))
    assert len(set(counts.values())) >= 3, counts
    src = tmp / 'in'
    src.mkdir()
    for k, f in enumerate(ranked):
        shutil.copy(f, src / f'field_{k:02d}{f.suffix}')
    (src / 'notes.txt').write_text('not an image\n')
    threshold = sorted(counts.values())[len(counts) // 2]
    out = tmp / 'out'
    r = call_tool('infer', cfg, ckpt, src, '--out-dir', out, '--device', 'cpu',
                  '--min-blast-area', MIN_AREA, '--all-min-count', threshold,
                  '--no-progress')
    assert r.returncode == 0, r.stderr[-2000:]
    assert f'review page: {out / "index.html"}' in r.stdout
    return out


def embedded(page: Path) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                  page.read_text(), re.S)
    return json.loads(m.group(1))


def test_page_files_are_self_contained_and_small(review_run):
    out = review_run
    page = out / 'index.html'
    text = page.read_text()
    report = json.loads((out / 'report.json').read_text())
    data = embedded(page)
    # The page's data is report.json (without the per-blast lists).
    assert data['summary'] == report['summary']
    assert [{k: v for k, v in r.items() if k != 'blasts'} for r in report['images']] == \
        [{k: v for k, v in r.items() if k not in ('thumb', 'plain')} for r in data['images']]
    # Nothing from a network: no URL with a scheme, no external script/style.
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert '<link' not in text and 'http://' not in text and 'https://' not in text
    ok = [r for r in data['images'] if r['status'] == 'ok']
    assert len(ok) == 6 and len(data['images']) == 7
    for r in ok:
        for key in ('thumb', 'plain', 'overlay'):
            assert not Path(r[key]).is_absolute() and (out / r[key]).is_file()
        thumb = cv2.imread(str(out / r['thumb']))
        assert max(thumb.shape[:2]) <= 256
        assert (out / r['thumb']).stat().st_size < 30_000
        plain = cv2.imread(str(out / r['plain']))
        assert plain.shape[:2] == (r['height'], r['width'])
    assert not list(out.rglob('.*tmp*'))  # written through temporary names


def test_an_existing_page_is_not_overwritten_without_force(review_run, blobby_model,
                                                           tmp_path):
    cfg, ckpt, _ = blobby_model
    out = tmp_path / 'out'
    shutil.copytree(review_run, out)
    for gone in ('report.csv', 'report.json', 'masks', 'overlays'):
        shutil.rmtree(out / gone) if (out / gone).is_dir() else (out / gone).unlink()
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    r = call_tool('infer', cfg, ckpt, review_run.parent / 'in', '--out-dir', out,
                  '--device', 'cpu', '--no-progress')
    assert r.returncode == 2
    assert r.stderr.startswith(f'error: {out / "index.html"}: output exists (and 12 more)')
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == before


def test_review_page_in_chromium(review_run, tmp_path):
    """Cards and summary match report.json; sort, filter and the mask toggle
    work; every picture loads from file://; a screenshot is saved."""
    need_browser()
    from benchmarks.browser import open_page

    report = json.loads((review_run / 'report.json').read_text())
    rows = report['images']
    requests, errors = [], []
    with open_page(review_run / 'index.html', 1280, 900) as page:
        page.on('request', lambda req: requests.append(req.url))
        page.on('pageerror', lambda e: errors.append(str(e)))
        cards = page.locator('#grid .card')
        assert cards.count() == len(rows) == 7
        for key in ('images', 'failed', 'all_suspected', 'blasts'):
            shown = page.locator(f'#summary [data-key="{key}"] b').inner_text()
            assert shown == str(report['summary'][key]), key
        assert 'not an image' in page.locator('#failures').inner_text()

        def order() -> list[str]:
            return page.eval_on_selector_all(
                '#grid .card:not([hidden])', 'cs => cs.map(c => c.dataset.name)')

        by_name = order()
        assert by_name == sorted(r['name'] for r in rows)
        page.select_option('#sort', 'count')
        by_count = order()
        assert by_count != by_name
        expected = sorted(rows, key=lambda r: -(r['blast_count'] if r['blast_count']
                                                is not None else -1))
        assert [(r['blast_count']) for r in expected] == \
            [next(x['blast_count'] for x in rows if x['name'] == n) for n in by_count]

        page.select_option('#filter', 'suspected')
        suspected = {r['name'] for r in rows if r['all_suspected']}
        assert 0 < len(suspected) < 6
        assert set(order()) == suspected          # healthy and failed are hidden
        page.select_option('#filter', 'failed')
        assert order() == ['notes']
        page.select_option('#filter', 'all')
        assert len(order()) == 7

        # Every thumbnail decodes (relative paths work from file://).
        page.evaluate('window.scrollTo(0, document.body.scrollHeight)')
        page.wait_for_function(
            "Array.from(document.querySelectorAll('img.thumb'))"
            ".every(i => i.complete && i.naturalWidth > 0)")
        first = next(n for n in by_count if n != 'notes')
        page.locator(f'#grid .card[data-name="{first}"]').click()
        viewer = page.locator('#viewer-img')
        assert page.locator('#viewer').is_visible()
        page.wait_for_function("document.getElementById('viewer-img').naturalWidth > 0")
        assert viewer.get_attribute('src') == f'overlays/{first}.png'
        page.screenshot(path=str(tmp_path / 'review_viewer.png'))
        page.locator('#toggle').click()
        assert viewer.get_attribute('src') == f'review/images/{first}.jpg'
        page.wait_for_function("document.getElementById('viewer-img').naturalWidth > 0")
        assert page.locator('#toggle').inner_text() == 'mask: off'
        page.keyboard.press('m')
        assert viewer.get_attribute('src') == f'overlays/{first}.png'
        page.keyboard.press('Escape')
        assert not page.locator('#viewer').is_visible()
        page.screenshot(path=str(tmp_path / 'review_page.png'), full_page=True)
    assert not errors, errors
    assert requests and all(u.startswith('file://') for u in requests), requests
    shot = cv2.imread(str(tmp_path / 'review_page.png'))
    assert shot is not None and shot.shape[1] == 1280 and shot.std() > 10
    print(f'screenshots: {tmp_path}')


def test_labelled_page_sorts_the_worst_images_first(tmp_path):
    """tools/test.py's page: TP/FP/FN colours, per-image IoU, worst first."""
    from allidb_mmseg.products.labelled_review import (FN_RGB, FP_RGB, TP_RGB,
                                                   review_labelled_image,
                                                   write_labelled_review)
    rng = np.random.default_rng(0)
    true = np.zeros((80, 100), np.uint8)
    cv2.circle(true, (50, 40), 15, 1, -1)
    rows = []
    for name, shift in (('good', 1), ('bad', 12), ('healthy', None)):
        img = np.clip(200 + rng.normal(0, 5, (80, 100, 3)), 0, 255).astype(np.uint8)
        pred = np.zeros_like(true)
        label = true.copy() if shift is not None else np.zeros_like(true)
        if shift is not None:
            cv2.circle(pred, (50 + shift, 40), 15, 1, -1)
        label[0, :] = 255                           # ignored pixels
        prob = pred.astype(np.float32) * 0.9
        rows.append(review_labelled_image(tmp_path, f'{name}.png', name, img, pred,
                                          prob, label, min_area=50))
    by = {r['name']: r for r in rows}
    assert by['healthy']['iou'] is None and by['healthy']['true_count'] == 0
    assert 0 < by['bad']['iou'] < by['good']['iou'] < 1
    assert by['good']['tp'] / (by['good']['tp'] + by['good']['fp'] + by['good']['fn']) \
        == by['good']['iou']
    overlay = cv2.imread(str(tmp_path / 'overlays' / 'bad.png'))
    # Shifted right: FN on the left edge, FP on the right, TP in the middle.
    for (x, y), rgb in (((37, 40), FN_RGB), ((75, 40), FP_RGB), ((50, 40), TP_RGB)):
        b, g, r = overlay[y, x].astype(int)
        assert np.argmax([r, g, b]) == int(np.argmax(rgb)), (x, rgb, (r, g, b))
    page = write_labelled_review(tmp_path, rows, dict(config='x.py'))
    doc = json.loads((tmp_path / 'report.json').read_text())
    tp, fp, fn = (sum(r[k] for r in rows) for k in ('tp', 'fp', 'fn'))
    assert doc['summary']['iou'] == pytest.approx(tp / (tp + fp + fn))
    assert doc['summary']['true_blasts'] == 2
    need_browser()
    from benchmarks.browser import open_page
    with open_page(page) as p:
        assert p.locator('#sort').input_value() == 'iou'
        names = p.eval_on_selector_all('#grid .card', 'cs => cs.map(c => c.dataset.name)')
        assert names == ['bad', 'good', 'healthy']
        assert 'false positive' in p.locator('#legend').inner_text()
        assert p.locator('#summary [data-key="iou"] b').inner_text() == \
            f"{doc['summary']['iou']:.3f}"


def stain_report(out: Path, flags: dict) -> dict:
    """A report of three smears whose stain check gave ``flags`` (None: no
    stain reference), with their pictures written."""
    from allidb_mmseg.products.report import ImageRow, summary
    from allidb_mmseg.products.review_page import write_review_images

    rows = []
    for k, (name, flag) in enumerate(flags.items()):
        img = np.full((60, 80, 3), 40 * k + 100, np.uint8)
        (out / 'overlays').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / 'overlays' / f'{name}.png'), img)
        write_review_images(out, name, img, img)
        rows.append(ImageRow(file=f'{name}.png', name=name, blast_count=k,
                             mean_blast_prob=0.8, all_suspected=k > 0,
                             overlay=f'overlays/{name}.png', ood_flag=flag,
                             ood_score=None if flag is None else 3.0 * flag))
    return dict(summary=summary(rows), images=[vars(r) for r in rows])


def test_stain_flag_is_a_badge_a_summary_and_a_filter(tmp_path):
    """Smears unlike the training stain are marked on their cards, counted
    in the summary and can be shown alone; without a stain check none of it."""
    from allidb_mmseg.products.review_page import write_review_page

    flagged = tmp_path / 'flagged'
    report = stain_report(flagged, dict(lab_a=False, yellow=True, pale=True))
    assert report['summary']['ood_flagged'] == 2
    page = write_review_page(flagged, report)
    plain = tmp_path / 'plain'
    plain_page = write_review_page(plain, stain_report(plain, dict(a=None, b=None)))
    need_browser()
    from benchmarks.browser import open_page
    with open_page(page) as p:
        assert p.locator('#summary [data-key="ood_flagged"] b').inner_text() == '2'
        badges = p.eval_on_selector_all(
            '#grid .card', 'cs => cs.map(c => [c.dataset.name, '
            '!!c.querySelector(".badge.ood")])')
        assert sorted(badges) == [['lab_a', False], ['pale', True], ['yellow', True]]
        p.select_option('#filter', 'ood')
        shown = p.eval_on_selector_all('#grid .card:not([hidden])',
                                       'cs => cs.map(c => c.dataset.name)')
        assert sorted(shown) == ['pale', 'yellow']
    with open_page(plain_page) as p:
        assert p.locator('#summary [data-key="ood_flagged"]').count() == 0
        assert p.locator('#filter option[value="ood"]').count() == 0
        assert p.locator('.badge.ood').count() == 0
