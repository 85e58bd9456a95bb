#!/usr/bin/env python
"""Screenshot a review page (index.html of tools/infer.py or tools/test.py --show-dir).

    python tools/analysis_tools/review_screenshot.py work_dirs/demo/infer/index.html \
        --out docs/img/review_page.png [--width 1280] [--height 900] [--force]

Opens the page from disk in headless Chromium (Debian's package chromium,
driven by Playwright; nothing is downloaded) and saves the first screen as a
PNG. The README's screenshot was made this way from `make demo`'s output.
"""
from __future__ import annotations

import argparse
import sys

from allidb_mmseg.cli import command
from allidb_mmseg.utils import refuse_existing


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('page', help='the review page (OUT/index.html)')
    p.add_argument('--out', required=True, help='PNG to write')
    p.add_argument('--width', type=int, default=1280, help='viewport width')
    p.add_argument('--height', type=int, default=900, help='viewport height')
    p.add_argument('--force', action='store_true', help='overwrite --out')
    args = p.parse_args(argv)
    refuse_existing(args.out, args.force)

    from benchmarks.browser import screenshot
    print(f'screenshot: {screenshot(args.page, args.out, args.width, args.height)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
