"""Bootstrap COCO blast polygons from ALL-IDB1 centre files (.xyc).

    python tools/dataset_converters/xyc_to_coco.py IMG_DIR XYC_DIR --out ANN.json
        [--radius PX] [--missing-as-healthy] [--force]

Segments the cell around every centre (allidb_mmseg.converters.bootstrap_polygons)
and writes a CVAT-style COCO 1.0 file, category 'lymphoblast', that
tools/dataset_converters/coco_to_masks.py --ann ANN.json --img-dir IMG_DIR
accepts. Images
without a .xyc are left out unless --missing-as-healthy. Check a few results
before training on them: they are a starting point, not ground truth.

Installed as ``allidb-xyc-to-coco`` (the same program).
"""
import sys

from allidb_mmseg.cli.xyc_to_coco import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
