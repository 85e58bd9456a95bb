"""Inference API: segment folders of smears, or one image at its native resolution.

>>> from allidb_mmseg.apis import BlastInferencer
>>> rows = BlastInferencer('configs/segformer_allidb_native_aug.py',
...                        'best.pth')(['smears/'], out_dir='results')
>>> from allidb_mmseg.apis import load_model, segment
>>> model = load_model('configs/segformer_allidb_128.py', 'latest.pth', 'cpu')
>>> mask, prob = segment(model, 'smear.jpg', return_prob=True)
"""
from ..inference.model import BLAST_CLASS, load_model, segment
from ..io.image_io import ImageReadError, read_image, to_bgr8
from .batch import collect_inputs, existing_outputs, plan_names, run_batch
from .inferencer import BlastInferencer

__all__ = ['BlastInferencer', 'load_model', 'segment', 'read_image', 'to_bgr8',
           'ImageReadError', 'BLAST_CLASS', 'collect_inputs', 'plan_names',
           'existing_outputs', 'run_batch']
