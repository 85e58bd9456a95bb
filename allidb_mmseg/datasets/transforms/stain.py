"""Stain transforms for training pipelines: MGG stain jitter and stain normalization."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...smear.stain import NORMALIZE_METHODS, StainReference, white_balance, white_point

__all__ = ['MGGStainJitter', 'StainNormalize', 'MGG_STAIN_OD']

# Unit OD vectors (R, G, B) of MGG's two dyes as they appear on a smear:
# azure-eosinate purple of nuclei, eosin pink of red cells.
MGG_STAIN_OD = np.array([[0.55, 0.78, 0.30],
                         [0.14, 0.76, 0.63]], np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@TRANSFORMS.register_module()
class MGGStainJitter(BaseTransform):
    """Random May-Grunwald-Giemsa stain amount and colour, like another batch or staining time.

    The image is unmixed in optical density into the basic dye (nuclei, blue cytoplasm),
    the acid dye (eosin: red cells) and a residual, which, unlike in albumentations'
    ``HEStain``, is kept; each dye's amount is scaled and its colour tilted.

    Args:
        amount_range: multiplier of each dye's amount (drawn per dye).
        tilt: standard deviation of the per-channel change of each dye's OD
            vector, before it is renormalised (0 keeps the dye colours).
        p: probability of applying it.
    """

    def __init__(self, amount_range: tuple[float, float] = (0.6, 1.4),
                 tilt: float = 0.1, p: float = 0.5) -> None:
        self.amount_range = tuple(amount_range)
        self.tilt = float(tilt)
        self.p = float(p)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.p:
            return results
        img = results['img']
        white = white_point(img)
        rgb = white_balance(img, white, 255.0)[..., ::-1].astype(np.float64)
        od = -np.log((rgb.reshape(-1, 3) + 1.0) / 256.0)
        dyes = _unit(MGG_STAIN_OD)  # mixing rows: the two dyes, a residual orthogonal to both
        mix = np.vstack([dyes, _unit(np.cross(dyes[0], dyes[1]))])
        conc = od @ np.linalg.inv(mix)
        amounts = np.random.uniform(*self.amount_range, size=2)
        new = MGG_STAIN_OD * (1 + self.tilt * np.random.randn(2, 3))
        new_mix = np.vstack([_unit(np.clip(new, 1e-3, None)), mix[2]])
        conc[:, :2] *= amounts
        out = 256.0 * np.exp(-(conc @ new_mix)) - 1.0
        out = out.reshape(rgb.shape)[..., ::-1]
        results['img'] = white_balance(np.clip(out + 0.5, 0, 255).astype(np.uint8),
                                       255.0, white)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(amount_range={self.amount_range}, '
                f'tilt={self.tilt}, p={self.p})')


@TRANSFORMS.register_module()
class StainNormalize(BaseTransform):
    """Map the image onto a saved :class:`~allidb_mmseg.smear.stain.StainReference`
    (white point, then the method).

    Args:
        reference: a ``stain_reference.json`` (from
            ``tools/analysis_tools/fit_stain_reference.py`` or a training work
            dir), or its content as a dict.
        method: ``'reinhard'`` or ``'macenko'``.
    """

    def __init__(self, reference: str | dict, method: str = 'reinhard') -> None:
        if method not in NORMALIZE_METHODS:
            raise ValueError(f'unknown normalization {method!r}; choose one of '
                             f'{", ".join(NORMALIZE_METHODS)}')
        self.reference_source = reference if isinstance(reference, str) else 'dict'
        self.reference = StainReference.load(reference) if isinstance(reference, str) \
            else StainReference.from_dict(dict(reference))
        self.method = method

    def transform(self, results: dict) -> dict:
        results['img'] = self.reference.normalize(results['img'], self.method)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reference={self.reference_source!r}, '
                f'method={self.method!r})')
