"""Reading CONFIG CHECKPOINT INPUTS... or MODEL.onnx INPUTS... from a command line."""
from __future__ import annotations

import pytest

from allidb_mmseg.apis.backends import split_model_args
from allidb_mmseg.utils import AllidbError


def test_onnx_model_takes_the_place_of_config_and_checkpoint():
    a = split_model_args(['m.onnx', 'x.jpg', 'dir/'])
    assert (a.backend, a.files, a.inputs) == ('onnxruntime', ['m.onnx'], ['x.jpg', 'dir/'])
    assert a.settings() == {'model': 'm.onnx'}
    b = split_model_args(['model.bin', 'x.jpg'], backend='onnxruntime')
    assert b.files == ['model.bin'] and b.inputs == ['x.jpg']
    c = split_model_args(['cfg.py', 'w.pth', 'x.jpg'])
    assert (c.backend, c.files, c.inputs) == ('torch', ['cfg.py', 'w.pth'], ['x.jpg'])
    assert c.settings() == {'config': 'cfg.py', 'checkpoint': 'w.pth'}


@pytest.mark.parametrize('argv, backend, problem', [
    (['m.onnx', 'x.jpg'], 'torch', 'runs with --backend onnxruntime'),
    (['cfg.py', 'w.pth', 'x.jpg'], 'onnxruntime', 'needs an exported model'),
    (['m.onnx'], None, 'no input images given (MODEL.onnx INPUTS...)'),
    (['cfg.py', 'w.pth'], None, 'no input images given (CONFIG CHECKPOINT'),
])
def test_mismatched_arguments_are_one_line_errors(argv, backend, problem):
    with pytest.raises(AllidbError) as e:
        split_model_args(argv, backend)
    assert problem in str(e.value)
