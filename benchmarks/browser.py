"""Open a review page in headless Chromium (Debian's ``chromium``, driven by Playwright).

Playwright normally downloads its own browser build; here the system's is
used (``executable_path``), started with a fresh profile and without any of
its background network traffic, so nothing is fetched from anywhere. The
browser test and ``tools/analysis_tools/review_screenshot.py`` use this.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from allidb_mmseg.utils import AllidbError

__all__ = ['CHROMIUM_PACKAGE', 'find_chromium', 'missing_browser', 'open_page',
           'screenshot']

CHROMIUM_PACKAGE = 'chromium'  # Debian's package (apt-get install chromium)
CHROMIUM_NAMES = ('chromium', 'chromium-browser')
CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu',
                 '--disable-background-networking', '--disable-component-update',
                 '--no-first-run', '--disable-sync']


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_browser() -> str | None:
    """Why a page cannot be opened here (what to install), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ('the Python package playwright is not installed '
                '(pip install -r requirements-test.txt)')
    if find_chromium() is None:
        return (f'no Chromium found; install the Debian package '
                f'{CHROMIUM_PACKAGE} (apt-get install {CHROMIUM_PACKAGE})')
    return None


@contextlib.contextmanager
def open_page(html: str | Path, width: int = 1280, height: int = 900
              ) -> Iterator[Any]:
    """A Playwright page showing the local file ``html`` (``file://``).

    Args:
        html: the page file.
        width: viewport width in CSS pixels.
        height: viewport height.

    Yields:
        The ``playwright.sync_api.Page``, after the page has loaded.

    Raises:
        AllidbError: no Chromium or no Playwright here (the message names
            what to install), or the file does not exist.
    """
    html = Path(html)
    if not html.is_file():
        raise AllidbError(html, 'no such file')
    problem = missing_browser()
    if problem:
        raise AllidbError('chromium', problem)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix='allidb-chromium-') as profile, \
            sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=find_chromium(), headless=True,
            args=CHROMIUM_ARGS, viewport=dict(width=width, height=height))
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(html.resolve().as_uri(), wait_until='load')
            yield page
        finally:
            context.close()


def screenshot(html: str | Path, png: str | Path, width: int = 1280,
               height: int = 900) -> Path:
    """Save a PNG of the page as it first appears (the viewport)."""
    from allidb_mmseg.utils import atomic_write

    with open_page(html, width, height) as page:
        page.wait_for_function(
            'Array.from(document.images).every(i => i.complete)')
        atomic_write(png, lambda tmp: page.screenshot(path=str(tmp),
                                                      type='png'))
    return Path(png)
