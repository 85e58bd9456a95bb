"""Reading smear images: formats converted, bad files named in one line."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import ImageReadError, read_image, to_bgr8
from helpers import blob_image


def test_read_image_converts_gray_rgba_16bit(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    g = read_image(tmp_path / 'g.png')
    assert g.shape == (20, 25, 3) and g.dtype == np.uint8
    assert (g[..., 0] == gray).all() and (g[..., 2] == gray).all()

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:5, :, 3] = 255          # top opaque, bottom transparent
    cv2.imwrite(str(tmp_path / 'a.png'), rgba)
    a = read_image(tmp_path / 'a.png')
    assert a.shape == (10, 12, 3)
    assert (a[:5] == (10, 20, 30)).all() and (a[5:] == 255).all()  # white, not black

    deep = (np.arange(20 * 30 * 3).reshape(20, 30, 3) % 4096).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'd.png'), deep)  # a 12-bit camera in 16 bits
    d = read_image(tmp_path / 'd.png')
    assert d.dtype == np.uint8 and d.max() == 255
    np.testing.assert_allclose(d.astype(float), deep * 255.0 / deep.max(), atol=0.51)


def test_to_bgr8_arrays():
    assert to_bgr8(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    f = to_bgr8(np.full((3, 3, 3), 0.5, np.float32))
    assert (f == 127).all()
    with pytest.raises(ImageReadError):
        to_bgr8(np.zeros((3, 3, 7), np.uint8))


def test_read_image_bad_files(tmp_path):
    ok, buf = cv2.imencode('.jpg', blob_image())
    (tmp_path / 'cut.jpg').write_bytes(buf.tobytes()[: len(buf) // 2])
    (tmp_path / 'notes.txt').write_text('not an image\n')
    (tmp_path / 'empty.png').write_bytes(b'')
    (tmp_path / 'junk.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 100)
    cases = {'cut.jpg': 'truncated', 'notes.txt': 'not an image',
             'empty.png': 'empty file', 'missing.jpg': 'no such file',
             'junk.png': 'corrupt|not an image'}
    for name, words in cases.items():
        with pytest.raises(ImageReadError, match=words) as e:
            read_image(tmp_path / name)
        assert '\n' not in str(e.value)


def test_read_image_jpeg_cut_inside_header(tmp_path, capfd):
    # Cut before the scan data: OpenCV cannot even read the header, which
    # used to be reported as "not an image".
    ok, buf = cv2.imencode('.jpg', blob_image())
    assert ok and len(buf) > 1000
    data = buf.tobytes()
    cases = {'head.jpg': data[:200],
             # header cut, but an end-of-image marker tacked on: decoding
             # fails, and the magic bytes still say JPEG.
             'head_eoi.jpg': data[:200] + b'\xff\xd9',
             'head.png': cv2.imencode('.png', blob_image())[1].tobytes()[:40]}
    words = {'head.jpg': 'truncated or corrupt JPEG',
             'head_eoi.jpg': 'truncated or corrupt JPEG',
             'head.png': 'truncated or corrupt PNG'}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        capfd.readouterr()
        with pytest.raises(ImageReadError, match=words[name]) as e:
            read_image(tmp_path / name)
        assert '\n' not in str(e.value)
        assert 'not an image' not in str(e.value)
        if name == 'head.jpg':
            # Caught before decoding: nothing from libjpeg on stderr.
            assert 'Premature end' not in capfd.readouterr().err
