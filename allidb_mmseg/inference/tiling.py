"""Segment an image of any size tile by tile, in bounded memory, with any backend.

The engine is numpy only; a backend is a callback ``predict(tiles) -> logits``.
Source rows are resized to the working scale a band at a time, cut into tiles
on mmseg's ``slide`` grid, predicted, blended (:func:`blend_window`) and
resized back to the source as :class:`Band` s.

Only the tile row in flight is held, so memory is set by the tile size, the
image width and the batch, never by the image height.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..io.rows import ArraySource, Band, RowSource
from ..utils import BLAST_CLASS

__all__ = ['Predict', 'RowSource', 'ArraySource', 'Preprocessing',
           'TileSettings', 'Band', 'tile_starts', 'blend_window',
           'resize_rows', 'tiled_bands', 'upsampled_bands', 'collect_bands',
           'working_size', 'BLAST_CLASS']

Predict = Callable[[np.ndarray], np.ndarray]
# Output columns resampled at once (bounds the float32 temporaries).
_RESAMPLE_COLS = 4096
# Float32 values per plane converted to a band of output at once.
_EMIT_VALUES = 8 * 2**20


@dataclass(frozen=True)
class Preprocessing:
    """What mmseg's ``SegDataPreProcessor`` does to an image, in numpy."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    bgr_to_rgb: bool = False

    @classmethod
    def from_config(cls, data_preprocessor: Mapping[str, Any]) -> 'Preprocessing':
        """From a config's ``model.data_preprocessor`` dict."""
        mean, std = data_preprocessor.get('mean'), data_preprocessor.get('std')
        return cls(mean=None if mean is None else tuple(map(float, mean)),
                   std=None if std is None else tuple(map(float, std)),
                   bgr_to_rgb=bool(data_preprocessor.get('bgr_to_rgb', False)
                                   or data_preprocessor.get('rgb_to_bgr', False)))

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """uint8 BGR tiles ``(N, h, w, 3)`` to float32 ``(N, 3, h, w)``."""
        x = tiles[..., ::-1] if self.bgr_to_rgb else tiles
        x = x.astype(np.float32)
        if self.mean is not None:
            x -= np.asarray(self.mean, np.float32)
            x /= np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class TileSettings:
    """How to tile: mmseg's ``test_cfg`` (slide mode) plus the head's output.

    Attributes:
        crop: tile (height, width) at the working scale.
        stride: step between tiles (height, width); ``crop - stride`` overlap.
        batch_size: tiles per call of ``predict``.
        blend: ``'cosine'`` (smooth weights, no seam) or ``'mean'`` (mmseg's
            uniform average).
        align_corners: the decode head's, for the resize back to the source.
        threshold: blast probability threshold of a one-channel (sigmoid) head.
    """

    crop: tuple[int, int]
    stride: tuple[int, int]
    batch_size: int = 4
    blend: str = 'cosine'
    align_corners: bool = False
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if min(*self.crop, *self.stride) < 1:
            raise ValueError(f'crop {self.crop} and stride {self.stride} must be positive')
        if any(s > c for s, c in zip(self.stride, self.crop)):
            raise ValueError(f'stride {self.stride} larger than crop '
                             f'{self.crop} would leave gaps')
        if self.blend not in ('cosine', 'mean'):
            raise ValueError(f"blend must be 'cosine' or 'mean', not {self.blend!r}")
        if self.batch_size < 1:
            raise ValueError('batch_size must be at least 1')

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **overrides: Any
                    ) -> 'TileSettings | None':
        """From a config (mmengine ``Config`` or dict); None unless its
        ``model.test_cfg.mode`` is ``'slide'``."""
        model = cfg.get('model', {})
        test_cfg = model.get('test_cfg') or {}
        if test_cfg.get('mode') != 'slide':
            return None
        head = model.get('decode_head') or {}
        if isinstance(head, (list, tuple)):  # cascade: the last head predicts
            head = head[-1]
        kw = dict(crop=as_pair(test_cfg['crop_size']), stride=as_pair(test_cfg['stride']),
                  align_corners=bool(head.get('align_corners', False)),
                  threshold=float(head.get('threshold') or 0.5))
        return cls(**(kw | overrides))


def as_pair(v: Any) -> tuple[int, int]:
    """``(h, w)`` of an mmseg size: one number or two."""
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def working_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Size of a ``height`` x ``width`` image rescaled by ``scale``."""
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f'scale must be positive, got {scale}')
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def tile_starts(size: int, crop: int, stride: int) -> list[int]:
    """Tile start positions along one axis, on mmseg's slide grid.

    The last tile ends at the border; ``crop`` larger than ``size`` gives
    one tile of the whole ``size`` (unpadded, as mmseg does).
    """
    crop = min(crop, size)
    n = max(size - crop + stride - 1, 0) // stride + 1
    return [max(min(i * stride + crop, size) - crop, 0) for i in range(n)]


def blend_window(starts: list[int], crop: int, index: int, blend: str
                 ) -> np.ndarray:
    """1-D blending weights of tile ``index`` (length ``crop``).

    With ``'cosine'``, across an overlap of ``L`` pixels with a neighbour the
    weight is 0 for the ``L // 4`` pixels next to the tile's edge (where a
    model sees least context), then rises as sin^2 to 1 at ``L - L // 4``;
    the neighbour's weights mirror these, so every pixel keeps a positive
    total weight. Sides without a neighbour keep weight 1. A model whose
    receptive field reaches less than ``L // 4`` pixels thus gives exactly
    its whole-image result.
    """
    w = np.ones(crop, np.float32)
    if blend == 'mean':
        return w
    y = starts[index]
    before = starts[index - 1] + crop - y if index > 0 else 0
    after = y + crop - starts[index + 1] if index + 1 < len(starts) else 0
    for length, flip in ((before, False), (after, True)):
        length = min(max(length, 0), crop)
        if not length:
            continue
        margin = length // 4
        ramp = np.zeros(length, np.float64)
        rise = length - 2 * margin
        ramp[margin:margin + rise] = np.sin(
            0.5 * np.pi * (np.arange(rise) + 0.5) / rise) ** 2
        ramp[margin + rise:] = 1.0
        side = w[crop - length:][::-1] if flip else w[:length]
        side *= ramp.astype(np.float32)
    return w


def _axis_map(n_src: int, n_out: int, align_corners: bool
              ) -> tuple[float, float]:
    """(a, b): output index i samples source coordinate a * i + b."""
    if align_corners:
        return ((n_src - 1) / (n_out - 1) if n_out > 1 else 0.0), 0.0
    a = n_src / n_out
    return a, 0.5 * a - 0.5


def _lerp_axis(n_src: int, first: int, n_out: int, a: float, b: float,
               offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices lo, hi (minus ``offset``) and weight f of outputs ``first:first + n_out``
    at source coordinate ``a * i + b``, clamped as torch and OpenCV do.

    From the global output index, so a band gets bit-identical weights anywhere."""
    u = np.clip(a * np.arange(first, first + n_out, dtype=np.float64) + b, 0, n_src - 1)
    lo = np.floor(u)
    f = (u - lo).astype(np.float32)
    lo = lo.astype(np.intp)
    return lo - offset, np.minimum(lo + 1, n_src - 1) - offset, f


def resize_rows(src: np.ndarray, out_w: int, out_h: int, y0: int, y1: int,
                align_corners: bool, src_y0: int = 0,
                src_h: int | None = None) -> np.ndarray:
    """Rows ``y0:y1`` of the bilinear resize of an image to (out_h, out_w).

    Same sampling grid as ``torch.nn.functional.interpolate(mode='bilinear')``
    and ``cv2.resize(INTER_LINEAR)`` (half-pixel centres, edge clamping; or
    corner alignment); only the band is materialised. In float32 from exact
    coordinates, so a band equals the whole image's rows; uint8 is rounded
    back. Columns go in chunks to bound temporaries.

    Args:
        src: rows ``src_y0:src_y0 + len(src)`` of the image being resized;
            they must cover the rows the band samples (else ValueError).
        out_w, out_h: the size of the whole resized image.
        y0, y1: the output rows wanted.
        align_corners: corner-aligned grid instead of half-pixel centres.
        src_y0: the image row of ``src[0]``.
        src_h: the image's height (default: ``src_y0 + len(src)``).
    """
    src_h = len(src) + src_y0 if src_h is None else src_h
    ay, by = _axis_map(src_h, out_h, align_corners)
    ax, bx = _axis_map(src.shape[1], out_w, align_corners)
    ylo, yhi, fy = _lerp_axis(src_h, y0, y1 - y0, ay, by, src_y0)
    xlo, xhi, fx = _lerp_axis(src.shape[1], 0, out_w, ax, bx)
    if len(ylo) and (ylo.min() < 0 or yhi.max() >= len(src)):
        raise ValueError(f'rows {src_y0}:{src_y0 + len(src)} do not cover '
                         f'output rows {y0}:{y1}')
    extra = (None,) * (src.ndim - 2)
    fy, fx = fy[(slice(None), None) + extra], fx[(slice(None),) + extra]
    out = np.empty((y1 - y0, out_w) + src.shape[2:], src.dtype)
    for x0 in range(0, out_w, _RESAMPLE_COLS):
        x1 = min(out_w, x0 + _RESAMPLE_COLS)
        c0, c1 = int(xlo[x0]), int(xhi[x1 - 1]) + 1
        block = src[:, c0:c1]
        top = block[ylo].astype(np.float32)
        rows = top + (block[yhi].astype(np.float32) - top) * fy
        del top
        left = rows[:, xlo[x0:x1] - c0]
        val = left + (rows[:, xhi[x0:x1] - c0] - left) * fx[x0:x1]
        if src.dtype == np.uint8:
            val = np.clip(np.rint(val), 0, 255)
        out[:, x0:x1] = val
    return out


def _planes(logits: np.ndarray) -> np.ndarray:
    """What gets blended and resized: the logit difference for two classes
    (argmax and softmax depend only on it), else every class."""
    return logits[:, 1:2] - logits[:, 0:1] if logits.shape[1] == 2 else logits


def _classify(planes: np.ndarray, num_classes: int, threshold: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Class mask (uint8) and blast probability (float16) from planes."""
    if num_classes <= 2:
        p1 = 1.0 / (1.0 + np.exp(-planes[0]))
        mask = (p1 > threshold) if num_classes == 1 else (planes[0] > 0)
    else:
        mask = planes.argmax(0)
        e = np.exp(planes - planes.max(0, keepdims=True))
        p1 = e[BLAST_CLASS] / e.sum(0)
    return mask.astype(np.uint8), p1.astype(np.float16)


def upsampled_bands(logits: np.ndarray, out_h: int, out_w: int,
                    align_corners: bool, threshold: float = 0.5
                    ) -> Iterator[Band]:
    """Bands of low-resolution logits ``(C, h, w)`` upsampled to the output
    (the whole-image path: the model saw the whole, resized image)."""
    yield from _ToSource(logits.shape[1:], (out_h, out_w), logits.shape[0],
                         align_corners, threshold).feed(0, _planes(logits[None])[0])


def collect_bands(bands: Iterator[Band], height: int, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The whole mask (uint8) and blast probability (float16) from bands."""
    mask = np.empty((height, width), np.uint8)
    prob = np.empty((height, width), np.float16)
    for b in bands:
        mask[b.y0:b.y0 + len(b.mask)] = b.mask
        prob[b.y0:b.y0 + len(b.prob)] = b.prob
    return mask, prob


class _ToSource:
    """Finished working-scale planes, fed in row order, to source bands."""

    def __init__(self, work: tuple[int, int], out: tuple[int, int],
                 num_classes: int, align_corners: bool, threshold: float) -> None:
        self.work_h = work[0]
        self.out_h, self.out_w = out
        self.c, self.threshold, self.align_corners = num_classes, threshold, align_corners
        self.same = tuple(work) == out
        # The working rows each output row samples: lo and hi = lo + 1 (clamped).
        self.lo, self.hi, _ = _lerp_axis(self.work_h, 0, self.out_h,
                                         *_axis_map(self.work_h, self.out_h, align_corners))
        self.buf: np.ndarray | None = None
        self.buf_y0 = self.next_row = 0

    def feed(self, y0: int, planes: np.ndarray) -> Iterator[Band]:
        """Working rows ``y0:y0 + planes.shape[1]``, final, in order."""
        rows = max(1, _EMIT_VALUES // self.out_w)
        if self.same:
            for r in range(0, planes.shape[1], rows):
                yield Band(y0 + r, *_classify(planes[:, r:r + rows], self.c, self.threshold))
            return
        if self.buf is None:
            self.buf, self.buf_y0 = planes, y0
        else:
            self.buf = np.concatenate([self.buf, planes], axis=1)
        end = self.buf_y0 + self.buf.shape[1]
        stop = self.out_h if end >= self.work_h else \
            int(np.searchsorted(self.hi, end, side='left'))
        while self.next_row < stop:
            r0, r1 = self.next_row, min(stop, self.next_row + rows)
            band = np.stack([resize_rows(p, self.out_w, self.out_h, r0, r1, self.align_corners,
                                         self.buf_y0, self.work_h) for p in self.buf])
            yield Band(r0, *_classify(band, self.c, self.threshold))
            self.next_row = r1
        if self.next_row < self.out_h:
            keep = int(self.lo[self.next_row]) - self.buf_y0
            if keep > 0:
                self.buf = self.buf[:, keep:].copy()
                self.buf_y0 += keep


def _working_rows(source: RowSource, y0: int, y1: int,
                  work: tuple[int, int]) -> np.ndarray:
    """Working-scale rows ``y0:y1`` (full width), reading only what they need."""
    hw, ww = work
    if (hw, ww) == (source.height, source.width):
        return source.read_rows(y0, y1)
    ay, by = _axis_map(source.height, hw, False)
    r0 = min(max(0, int(math.floor(ay * y0 + by))), source.height - 1)
    r1 = min(source.height, max(r0 + 1, int(math.floor(ay * (y1 - 1) + by)) + 2))
    return resize_rows(source.read_rows(r0, r1), ww, hw, y0, y1, False, r0, source.height)


def tiled_bands(source: RowSource, predict: Predict,
                preprocessing: Preprocessing, settings: TileSettings,
                work: tuple[int, int] | None = None, progress: bool = False,
                desc: str = 'tiles') -> Iterator[Band]:
    """Segment ``source`` tile by tile; yield the result in row bands.

    Args:
        source: the pixels, read a band of rows at a time.
        predict: normalised tiles ``(N, 3, h, w)`` float32 to logits
            ``(N, C, h, w)``, C = 1 (sigmoid head) or the number of classes.
        preprocessing: the normalisation the model expects.
        settings: crop, stride, batch size, blending, head settings.
        work: (height, width) of the working image the tiles are cut from;
            default: the source's size (no rescaling).
        progress, desc: a tqdm bar over the tiles, and its label.

    Yields:
        :class:`Band` s covering the source's rows in order, at the source's
        resolution.
    """
    out = (source.height, source.width)
    work = tuple(work or out)
    hw, ww = work
    ch, cw = min(settings.crop[0], hw), min(settings.crop[1], ww)
    ys = tile_starts(hw, ch, settings.stride[0])
    xs = tile_starts(ww, cw, settings.stride[1])
    wys = [blend_window(ys, ch, i, settings.blend) for i in range(len(ys))]
    wxs = [blend_window(xs, cw, j, settings.blend) for j in range(len(xs))]
    norm_y = np.zeros(hw, np.float32)
    norm_x = np.zeros(ww, np.float32)
    for y, w in zip(ys, wys):
        norm_y[y:y + ch] += w
    for x, w in zip(xs, wxs):
        norm_x[x:x + cw] += w

    from tqdm import tqdm
    bar = tqdm(total=len(ys) * len(xs), unit='tile', desc=desc, leave=False,
               disable=not progress, dynamic_ncols=True)
    acc: np.ndarray | None = None  # planes of the working rows y:y + ch
    to_source: _ToSource | None = None
    try:
        for i, y in enumerate(ys):
            pixels = _working_rows(source, y, y + ch, work)
            for k in range(0, len(xs), settings.batch_size):
                cols = list(range(k, min(len(xs), k + settings.batch_size)))
                tiles = np.stack([pixels[:, xs[j]:xs[j] + cw] for j in cols])
                logits = np.asarray(predict(preprocessing(tiles)))
                if logits.ndim != 4 or logits.shape[0] != len(cols) or \
                        logits.shape[2:] != (ch, cw):
                    raise ValueError(f'predict returned shape {logits.shape} '
                                     f'for {len(cols)} tiles of {ch}x{cw}')
                planes = _planes(logits.astype(np.float32, copy=False))
                if acc is None:
                    to_source = _ToSource(work, out, logits.shape[1],
                                          settings.align_corners, settings.threshold)
                    acc = np.zeros((planes.shape[1], ch, ww), np.float32)
                for t, j in enumerate(cols):
                    weight = wys[i][:, None] * wxs[j][None, :]
                    acc[:, :, xs[j]:xs[j] + cw] += planes[t] * weight
                bar.update(len(cols))
            del pixels
            done = ys[i + 1] if i + 1 < len(ys) else hw  # ys[i + 1] - y <= stride <= ch
            final = acc[:, :done - y] / (norm_y[y:done, None] * norm_x[None, :])
            # The rows the next tile row overlaps carry over, the new ones start at 0.
            acc = np.pad(acc[:, done - y:], ((0, 0), (0, done - y), (0, 0)))
            yield from to_source.feed(y, final)
    finally:
        bar.close()
