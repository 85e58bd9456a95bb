"""Segment smear images: masks, overlays, blast counts and a report.

    python tools/infer.py CONFIG CHECKPOINT INPUTS... --out-dir DIR
        [--device cpu|cuda] [--min-blast-area PX] [--all-min-count N]
        [--mpp MICRONS] [--force]
        [--coco-out FILE] [--geojson] [--tta] [--threads N]
        [--stain-normalize [reinhard|macenko] [--stain-normalize-all]]
        [--stain-reference JSON]
    python tools/infer.py MODEL.onnx INPUTS... --out-dir DIR [same options]

A MODEL.onnx (tools/deployment/export_onnx.py) runs on onnxruntime, without
torch or mmseg; several processes: tools/dist_infer.sh. The same run from
Python: ``allidb_mmseg.apis.BlastInferencer``; installed as ``allidb-infer``.

INPUTS are files, folders (their files) or glob patterns. Writes
DIR/masks/<name>.png, DIR/overlays/<name>.png, DIR/report.csv,
DIR/report.json and the review page DIR/index.html (pictures in DIR/review/).
Whole-slide images (.svs, .ndpi, .mrxs, tiled or pyramidal TIFF, ...) are
read region by region; their mask is DIR/masks/<name>.ome.tif (tiled,
pyramidal) and their overlay is downsampled. Refuses (exit 2) if any of those
files exists, unless --force. Files that cannot be read are listed as failed
in the report; the exit code is non-zero only if no file was segmented.
Ctrl-C or SIGTERM stop the run (exit 130 or 143) after writing the report of
the images done so far.
"""
import sys

from allidb_mmseg.cli.infer import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
