"""Named stain profiles: one lab's May-Grunwald-Giemsa batch, staining time and white balance.

A profile moves the generator's per-image stain distribution, as a second lab's slides do:
it scales the OD of the basic dye (azure/methylene blue: nuclei, blue cytoplasm, platelets)
and of the acid dye (eosin: red cells, neutrophil granules) per RGB channel and sets the
lamp colour. Random draws do not depend on it: the same seed gives the same cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['StainProfile', 'STAIN_PROFILES', 'get_stain_profile']


@dataclass(frozen=True)
class StainProfile:
    """Per-channel (R, G, B) OD multipliers of both dyes and the lamp colour.

    Attributes:
        description: one line for ``--help`` and the docs.
        basic_od: multiplier of the basic dye's optical density per channel.
        acid_od: multiplier of the acid dye's optical density per channel.
        background_rgb: the lamp colour, i.e. an empty field's RGB (0-255).
    """

    name: str
    description: str
    basic_od: tuple[float, float, float] = (1.0, 1.0, 1.0)
    acid_od: tuple[float, float, float] = (1.0, 1.0, 1.0)
    background_rgb: tuple[float, float, float] = (236.0, 226.0, 224.0)

    def apply(self, stain: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The per-image stain ODs (from the generator) under this profile."""
        basic = np.asarray(self.basic_od, np.float32)
        acid = np.asarray(self.acid_od, np.float32)
        return {k: (v * (acid if k in ('rbc', 'neut_cyto') else basic)).astype(np.float32)
                for k, v in stain.items()}


STAIN_PROFILES: dict[str, StainProfile] = {p.name: p for p in (
    StainProfile('lab_a', 'the generator\'s default: balanced MGG, warm pinkish-grey '
                 'background'),
    StainProfile('lab_b', 'an azure-rich MGG batch (violet-blue nuclei), strong eosin '
                 '(deep pink red cells), a cool blue-white lamp',
                 basic_od=(1.35, 1.0, 0.7), acid_od=(1.0, 1.25, 1.4),
                 background_rgb=(214.0, 226.0, 242.0)),
    StainProfile('yellow', 'an old, weak stain on a yellowish background (buffer pH, '
                 'warm white balance)',
                 basic_od=(0.85, 0.9, 1.15), acid_od=(1.15, 0.95, 0.8),
                 background_rgb=(240.0, 228.0, 170.0)),
    StainProfile('pale', 'under-stained (short staining time) under a bright lamp',
                 basic_od=(0.4, 0.42, 0.42), acid_od=(0.45, 0.45, 0.45),
                 background_rgb=(248.0, 244.0, 242.0)),
)}


def get_stain_profile(name: str | StainProfile | None) -> StainProfile | None:
    """The profile called ``name`` (a profile passes through; None stays None).

    Raises:
        ValueError: no profile has that name (the message lists them).
    """
    if name is None or isinstance(name, StainProfile):
        return name
    if name not in STAIN_PROFILES:
        raise ValueError(f'unknown stain profile {name!r}; choose one of '
                         f'{", ".join(STAIN_PROFILES)}')
    return STAIN_PROFILES[name]
