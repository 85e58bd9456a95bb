"""Write synthetic ALL-IDB1-like smear fields as a CVAT "COCO 1.0" export plus truth.

    python tools/dataset_converters/make_synthetic.py OUT --num-images 40 [--size 640 480] [--seed 0]
                                   [--healthy-fraction 0.5] [--stain-profile NAME] [--force]

Installed as ``allidb-synthetic`` (the same program).
"""
import sys

from allidb_mmseg.cli.make_synthetic import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
