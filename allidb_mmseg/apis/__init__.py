"""Inference API: load a trained model, segment images at native resolution.

>>> from allidb_mmseg.apis import load_model, segment
>>> model = load_model('configs/segformer_allidb_128.py', 'latest.pth', 'cpu')
>>> mask, prob = segment(model, 'smear.jpg', return_prob=True)
"""
from .batch import collect_inputs, existing_outputs, plan_names, run_batch
from ..io.image_io import ImageReadError, read_image, to_bgr8
from ..inference.model import BLAST_CLASS, load_model, segment

__all__ = ['load_model', 'segment', 'read_image', 'to_bgr8', 'ImageReadError',
           'BLAST_CLASS', 'collect_inputs', 'plan_names', 'existing_outputs',
           'run_batch']
