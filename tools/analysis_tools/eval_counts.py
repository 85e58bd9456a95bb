"""Score predicted blast masks against ALL-IDB1 centre files (.xyc).

    python tools/analysis_tools/eval_counts.py PRED_MASK_DIR XYC_DIR [--images DIR] [--min-blast-area PX]
        [--all-min-count N] [--missing-as-healthy] [--out SCORES.json] [--force]

PRED_MASK_DIR holds class-index PNGs as tools/infer.py writes them
(OUT/masks/<stem>.png); XYC_DIR holds <stem>.xyc. Blasts are counted as
infer.py counts them. A centre inside a predicted blast is a hit; a predicted
blast with no centre is a false positive; a centre in no blast, or a second
centre in the same blast, is a miss. Prints one line per image and the totals.

Installed as ``allidb-eval-counts`` (the same program).
"""
import sys

from allidb_mmseg.cli.eval_counts import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
