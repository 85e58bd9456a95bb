"""Convert a CVAT "COCO 1.0" export into ALLIDBDataset's img_dir/ann_dir layout.

    python tools/dataset_converters/coco_to_masks.py --ann ANN.json --img-dir DIR --out DATA_ROOT \\
        [--ratios 0.8 0.1 0.1] [--seed 0] [--category-map SRC=DST ...] [--force]

Bad input prints one line, ``error: <file>: <problem>``, and exits with 2;
nothing is written to DATA_ROOT then. A run that is killed leaves DATA_ROOT
as it was; the next run removes the temporary folder it left. See
docs/data.md.

Installed as ``allidb-convert`` (the same program).
"""
import sys

from allidb_mmseg.cli.coco_to_masks import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
