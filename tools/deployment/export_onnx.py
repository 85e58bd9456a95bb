#!/usr/bin/env python
"""Export a trained segmentor to ONNX, with a JSON sidecar, checked against torch.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--opset 17] [--tolerance 1e-4] [--force]
        [--int8 --data-root DIR [--split val] [--calib-split train] [--calib-images 16]]

Writes model.onnx (dynamic batch, height and width) and model.json (what
inference needs: mean/std, channel order, resize or working scale, tiles,
classes and palette, minimum blast area). The export runs torch and
onnxruntime on the same inputs and writes nothing if any logit differs by
more than --tolerance. --int8 also writes model.int8.onnx (static
quantization), but only if its mIoU on the labelled --split is within 0.5
points of the fp32 model's. Segment with it, without torch:

    python tools/infer.py model.onnx smears/ --out-dir results

Installed as ``allidb-export`` (the same program).
"""
import sys

from allidb_mmseg.cli.export_onnx import main, parse_args  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
