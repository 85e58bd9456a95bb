"""Reading smear images: formats converted, bad files named in one line."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import ImageReadError, read_image, to_bgr8
from allidb_mmseg.io.image_io import read_label
from helpers import blob_image, png_claiming


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


def test_read_label_takes_class_indices_only(tmp_path):
    labels = np.array([[0, 1, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / 'ok.png'), labels)
    assert (read_label(tmp_path / 'ok.png') == labels).all()
    cv2.imwrite(str(tmp_path / 'rgb.png'), np.zeros((3, 3, 3), np.uint8))
    (tmp_path / 'junk.png').write_bytes(b'not a png')
    for name in ('rgb.png', 'junk.png', 'missing.png'):
        with pytest.raises(ImageReadError, match='single-channel label mask') as e:
            read_label(tmp_path / name)
        assert str(e.value).startswith(str(tmp_path / name))


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


def test_large_images_decoded_once_by_imagecodecs(tmp_path, monkeypatch):
    """Above LARGE_IMAGE_PIXELS, JPEG/PNG are decoded into one array (OpenCV
    needs twice the image); the result is what OpenCV gives."""
    from allidb_mmseg.io import image_io

    monkeypatch.setattr(image_io, 'LARGE_IMAGE_PIXELS', 100)
    img = blob_image(90, 130)
    rgba = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    rgba[:10, :, 3] = 0
    files = {'a.png': img, 'rgba.png': rgba, 'deep.png': img.astype(np.uint16) * 200,
             'gray.png': cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 'a.jpg': img}
    calls = []
    real = image_io._decode_large
    monkeypatch.setattr(image_io, '_decode_large',
                        lambda *a: calls.append(a[0].name) or real(*a))
    for name, arr in files.items():
        cv2.imwrite(str(tmp_path / name), arr)
        got = read_image(tmp_path / name)
        assert calls[-1:] == [name]             # the imagecodecs path was taken
        ref = image_io.to_bgr8(cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED))
        assert got.shape == ref.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - ref).max() <= (2 if name.endswith('jpg') else 0), name
    data = (tmp_path / 'a.png').read_bytes()
    (tmp_path / 'bad.png').write_bytes(data[:60] + b'\x00' * 200 + data[-16:])
    with pytest.raises(ImageReadError, match='corrupt PNG') as e:
        read_image(tmp_path / 'bad.png')
    assert '\n' not in str(e.value)


def test_a_header_above_the_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    """An 18 KB PNG may claim 100000 x 100000 pixels: refused from its header
    in one honest line, never decoded (nor called truncated)."""
    from allidb_mmseg.io import image_io

    def decoder(*args):
        raise ImageReadError('decoded')

    monkeypatch.setattr(image_io, '_decode_large', decoder)
    monkeypatch.setattr(cv2, 'imread', decoder)
    path = tmp_path / 'huge.png'
    path.write_bytes(png_claiming(100_000, 100_000))
    assert image_io.header_size(path) == (100_000, 100_000)
    with pytest.raises(ImageReadError) as e:
        read_image(path)
    assert str(e.value) == (
        'header says 100000x100000 pixels (10000 MP), above the 1000 MP this '
        'reader decodes in memory; convert it to a tiled pyramidal TIFF to '
        'read it as a slide')
    # Below the limit, the header sends a large PNG to the one-array decoder.
    path.write_bytes(png_claiming(8000, 6000))
    with pytest.raises(ImageReadError, match='decoded'):
        read_image(path)
