"""One synthetic ALL-IDB1-like smear field: layout, staining, optics and camera.

Sizes scale with the image width (red cell diameter ~ width / 25, as in a 2592 px wide
ALL-IDB1 field), so a small test image is the same scene, only sampled more coarsely.
Lymphoblasts are the only labelled cells; mature lymphocytes (small, dark, clumped) and
neutrophils (lobed) are there unlabelled, so a model must learn size, chromatin texture,
nucleoli and the thin cytoplasm rim rather than "purple means blast".
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cells import (Canvas, Nucleolus, add_template, rbc_template, smooth_noise,
                    stamp_mononuclear, stamp_neutrophil, stamp_platelet)
from ..converters.cvat_coco import polygons_to_mask
from .shapes import RadialShape
from .stain_profiles import StainProfile, get_stain_profile

# Optical densities (-ln transmittance) per RGB channel of May-Grunwald-Giemsa parts.
OD_RBC = np.array([0.07, 0.38, 0.31], np.float32)        # eosin-pink red cells
OD_PLATELET = np.array([0.55, 0.95, 0.35], np.float32)   # purple granules
OD_LYMPH_NUC = np.array([1.20, 1.70, 0.72], np.float32)  # dense dark purple
OD_LYMPH_CYTO = np.array([0.30, 0.15, 0.02], np.float32)  # pale sky blue
OD_BLAST_NUC = np.array([0.88, 1.30, 0.52], np.float32)  # lighter, even purple
OD_BLAST_CYTO = np.array([0.40, 0.28, 0.10], np.float32)  # basophilic blue
OD_NEUT_NUC = np.array([1.05, 1.55, 0.62], np.float32)
OD_NEUT_CYTO = np.array([0.12, 0.30, 0.14], np.float32)  # pinkish lilac
BACKGROUND_RGB = np.array([236.0, 226.0, 224.0], np.float32)  # warm pinkish grey


@dataclass
class _Cell:
    kind: str
    cx: float
    cy: float
    shape: RadialShape


def _stain(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image stain: strength and hue of the basic (purple/blue) and acid (pink) dyes."""
    k_basic = rng.uniform(0.8, 1.2)
    k_acid = rng.uniform(0.75, 1.25)
    hue_basic = 1.0 + rng.uniform(-0.12, 0.12, 3).astype(np.float32)
    hue_acid = 1.0 + rng.uniform(-0.15, 0.15, 3).astype(np.float32)
    basic = {'plt': OD_PLATELET, 'lymph_nuc': OD_LYMPH_NUC, 'lymph_cyto': OD_LYMPH_CYTO,
             'blast_nuc': OD_BLAST_NUC, 'blast_cyto': OD_BLAST_CYTO, 'neut_nuc': OD_NEUT_NUC}
    out = {k: (v * k_basic * hue_basic).astype(np.float32) for k, v in basic.items()}
    out['rbc'] = (OD_RBC * k_acid * hue_acid).astype(np.float32)
    out['neut_cyto'] = (OD_NEUT_CYTO * (0.5 * (k_acid + k_basic)) * hue_acid).astype(np.float32)
    return out


def _fits(cx: float, cy: float, r: float, cells: list[_Cell], gap: float,
          ignore: _Cell | None = None) -> bool:
    return all(c is ignore or np.hypot(cx - c.cx, cy - c.cy) >= r + c.shape.rmax + gap
               for c in cells)


def _place_blasts(rng: np.random.Generator, n: int, width: int, height: int, d_rbc: float,
                  touching_prob: float, cells: list[_Cell]) -> list[_Cell]:
    """Blasts lie wholly inside the field, apart, except the odd touching pair."""
    blasts: list[_Cell] = []
    for _ in range(n):
        radius = 0.5 * d_rbc * rng.uniform(1.6, 2.3)
        shape = RadialShape.random(rng, radius, rng.uniform(0.03, 0.07))
        m = shape.rmax + 1.0
        placed = None
        if blasts and rng.random() < touching_prob:
            partner = blasts[int(rng.integers(len(blasts)))]
            for _try in range(30):
                ang = rng.uniform(0, 2 * np.pi)
                dist = (partner.shape.radius + radius) * rng.uniform(0.92, 1.0)
                cx, cy = partner.cx + dist * np.cos(ang), partner.cy + dist * np.sin(ang)
                if (m <= cx <= width - m and m <= cy <= height - m
                        and _fits(cx, cy, shape.rmax, cells, 0.1 * d_rbc, ignore=partner)):
                    placed = (cx, cy)
                    break
        if placed is None:
            for _try in range(400):
                cx, cy = rng.uniform(m, width - m), rng.uniform(m, height - m)
                if _fits(cx, cy, shape.rmax, cells, 0.2 * d_rbc):
                    placed = (cx, cy)
                    break
        if placed is None:
            raise ValueError(f'cannot fit {n} blasts into a {width}x{height} field')
        cell = _Cell('blast', float(placed[0]), float(placed[1]), shape)
        blasts.append(cell)
        cells.append(cell)
    return blasts


def _place_confounder(rng: np.random.Generator, kind: str, radius: float, width: int,
                      height: int, d_rbc: float, cells: list[_Cell]) -> None:
    shape = RadialShape.random(rng, radius, rng.uniform(0.02, 0.05))
    for _try in range(200):
        # Confounders may be cut by the field's edge, as on a real photo.
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if _fits(cx, cy, shape.rmax, cells, 0.15 * d_rbc):
            cells.append(_Cell(kind, float(cx), float(cy), shape))
            return


def _mononuclear_parts(rng: np.random.Generator, cell: RadialShape, nc_ratio: float,
                       max_shift: float, n_nucleoli: int
                       ) -> tuple[RadialShape, tuple[float, float], tuple[Nucleolus, ...]]:
    """Nucleus outline, its offset from the cell centre, and nucleoli (blasts only)."""
    nucleus = RadialShape.random(rng, cell.radius * nc_ratio, rng.uniform(0.02, 0.05))
    ang = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(0, max_shift) * cell.radius
    offset = (float(shift * np.cos(ang)), float(shift * np.sin(ang)))
    nucleoli = []
    for _ in range(n_nucleoli):
        a, rr = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.5) * nucleus.radius
        nucleoli.append(Nucleolus(float(rr * np.cos(a)), float(rr * np.sin(a)),
                                  max(0.7, nucleus.radius * rng.uniform(0.11, 0.19)),
                                  rng.uniform(0.4, 0.6)))
    return nucleus, offset, tuple(nucleoli)


def _illumination(rng: np.random.Generator, height: int, width: int,
                  background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lamp level with vignetting and a gentle tilt (H, W), and the lamp colour (RGB)."""
    y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height - 0.5
    x = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width - 0.5
    # Python floats, not numpy float64 scalars, so the float32 arrays stay float32.
    vx, vy, gx, gy = (float(v) for v in rng.uniform(-1, 1, 4) * (0.15, 0.15, 0.08, 0.08))
    rn2 = ((x - vx) ** 2 + (y - vy) ** 2) / 0.5
    light = rng.uniform(0.86, 1.04) * (1 - rng.uniform(0.04, 0.16) * rn2) * (1 + gx * x + gy * y)
    tint = background + rng.uniform(-9, 9, 3).astype(np.float32)
    return light, tint


def _camera(rng: np.random.Generator, rgb: list[np.ndarray], d_rbc: float) -> np.ndarray:
    """Saturation, defocus, sensor noise and a JPEG pass (nothing geometric): float R, G,
    B planes (0..255) to uint8 BGR."""
    bgr = cv2.merge(rgb[::-1])
    gray = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    sat = rng.uniform(0.85, 1.2)
    bgr = cv2.addWeighted(bgr, sat, gray, 1.0 - sat, 0.0)
    sigma = rng.uniform(0.25, 1.0) * d_rbc / 25.6
    if sigma > 0.3:
        bgr = cv2.GaussianBlur(bgr, (0, 0), sigma)
    # Sensor noise: uniform from random bytes (cheap at 5 Mpx), std noise_sd grey levels.
    noise_sd = rng.uniform(1.0, 3.5)
    noise = rng.integers(0, 256, bgr.shape, dtype=np.uint8).astype(np.float32)
    bgr = cv2.scaleAdd(noise, noise_sd / 73.9, bgr)
    bgr = cv2.convertScaleAbs(bgr, alpha=1.0, beta=-127.5 * noise_sd / 73.9)
    if rng.random() < 0.5:
        quality = int(rng.integers(75, 96))
        ok, buf = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr)


def render_field(rng: np.random.Generator, size: tuple[int, int] = (640, 480),
                 n_blasts: int = 3, *, n_lymphocytes: int | None = None,
                 n_neutrophils: int | None = None, rbc_density: float | None = None,
                 touching_prob: float = 0.3, info: dict | None = None,
                 stain_profile: str | StainProfile | None = None
                 ) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int]]]:
    """Render one smear field.

    Returns ``(img_bgr, polygons, centres)``: a uint8 (H, W, 3) BGR image, one (N, 2)
    float x,y outline per lymphoblast (rounded to 2 decimals: exactly what is written
    to COCO), and each blast's centre as integer (x, y) pixel indices, inside its mask.
    Pass a dict as ``info`` to receive the scene's other facts (cell radii, counts).
    ``stain_profile`` (a name of :data:`STAIN_PROFILES` or a :class:`StainProfile`)
    stains and lights the same scene like another lab; None is the default look.
    """
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 32:
        raise ValueError(f'field size {width}x{height} is too small (min 32x32)')
    if n_blasts < 0:
        raise ValueError(f'n_blasts must be >= 0, got {n_blasts}')
    d_rbc = width / 25.0 * rng.uniform(0.93, 1.07)
    profile = get_stain_profile(stain_profile)
    stain = _stain(rng)
    if profile is not None:
        stain = profile.apply(stain)
    cv = Canvas(rng, height, width, d_rbc)

    cells: list[_Cell] = []
    blasts = _place_blasts(rng, n_blasts, width, height, d_rbc, touching_prob, cells)
    n_lymph = int(rng.integers(1, 4)) if n_lymphocytes is None else n_lymphocytes
    n_neut = int(rng.integers(0, 3)) if n_neutrophils is None else n_neutrophils
    for kind, count, lo, hi in (('lymph', n_lymph, 0.85, 1.2), ('neut', n_neut, 1.4, 1.8)):
        for _ in range(count):
            _place_confounder(rng, kind, 0.5 * d_rbc * rng.uniform(lo, hi),
                              width, height, d_rbc, cells)

    # Red cells: dense, overlapping, pushed away from white cells.
    density = rng.uniform(0.6, 1.05) if rbc_density is None else rbc_density
    n_rbc = int(density * width * height / (np.pi * (0.5 * d_rbc) ** 2))
    pts = rng.uniform((0, 0), (width, height), (n_rbc, 2))
    if cells:
        wbc = np.array([(c.cx, c.cy, c.shape.rmax) for c in cells])
        dist = np.hypot(pts[:, None, 0] - wbc[None, :, 0], pts[:, None, 1] - wbc[None, :, 1])
        near = (dist < wbc[None, :, 2] + 0.25 * d_rbc).any(1)
        pts = pts[~near | (rng.random(n_rbc) < 0.08)]
    bank = [rbc_template(RadialShape.random(rng, 0.5 * d_rbc * rng.uniform(0.88, 1.1),
                                            rng.uniform(0.015, 0.05)),
                         rng.uniform(0.4, 0.8)) for _ in range(24)]
    picks = rng.integers(0, len(bank), len(pts))
    flips = rng.integers(0, 4, len(pts))
    weights = rng.uniform(0.85, 1.15, len(pts))
    for (cx, cy), k, f, w in zip(pts, picks, flips, weights):
        tmpl = bank[k].T if f & 1 else bank[k]
        add_template(cv.rbc, tmpl[::-1] if f & 2 else tmpl, cx, cy, w)

    # Platelets, single and in small clumps.
    n_single = int(rng.uniform(0.01, 0.035) * width * height / d_rbc ** 2)
    spots = [rng.uniform((0, 0), (width, height)) for _ in range(n_single)]
    for _ in range(int(rng.integers(0, 4))):
        centre = rng.uniform((0, 0), (width, height))
        for _k in range(int(rng.integers(3, 9))):
            spots.append(centre + rng.normal(0, 0.25 * d_rbc, 2))
    for cx, cy in spots:
        shape = RadialShape.random(rng, d_rbc * rng.uniform(0.05, 0.1), 0.15)
        stamp_platelet(cv, cx, cy, shape, stain['plt'] * rng.uniform(0.8, 1.2))

    for c in cells:
        if c.kind == 'lymph':
            nucleus, off, _ = _mononuclear_parts(rng, c.shape, rng.uniform(0.8, 0.9),
                                                 0.08, 0)
            stamp_mononuclear(cv, c.cx, c.cy, c.shape, nucleus, off, stain['lymph_cyto'],
                              stain['lymph_nuc'] * rng.uniform(0.9, 1.1), 'clumped',
                              rim_min=max(0.6, 0.05 * c.shape.radius))
        elif c.kind == 'neut':
            stamp_neutrophil(cv, rng, c.cx, c.cy, c.shape, stain['neut_cyto'],
                             stain['neut_nuc'] * rng.uniform(0.9, 1.1))

    polygons: list[np.ndarray] = []
    centres: list[tuple[int, int]] = []
    for c in blasts:
        n_vert = int(np.clip(2 * np.pi * c.shape.radius / (3.0 * d_rbc / 25.6), 24, 96))
        poly = np.clip(c.shape.polygon(c.cx, c.cy, n_vert), 0, (width, height))
        truth = polygons_to_mask([poly], height, width).astype(bool)
        nucleus, off, nucleoli = _mononuclear_parts(
            rng, c.shape, rng.uniform(0.8, 0.9), 0.06, int(rng.integers(1, 4)))
        stamp_mononuclear(cv, c.cx, c.cy, c.shape, nucleus, off, stain['blast_cyto'],
                          stain['blast_nuc'] * rng.uniform(0.88, 1.12), 'fine',
                          rim_min=max(0.8, 0.06 * c.shape.radius), nucleoli=nucleoli,
                          truth=truth)
        centre = (int(np.floor(c.cx)), int(np.floor(c.cy)))
        if not truth[centre[1], centre[0]]:  # cannot happen for a star-shaped outline
            raise RuntimeError('blast centre outside its own outline')
        polygons.append(poly)
        centres.append(centre)

    plasma = 0.03 + 0.015 * smooth_noise(rng, height, width, 1.5 * d_rbc)
    rbc = cv.rbc * (1.0 + 0.06 * cv.mid)
    keep = 1.0 - 0.93 * cv.cover
    light, tint = _illumination(rng, height, width, BACKGROUND_RGB if profile is None
                                else np.asarray(profile.background_rgb, np.float32))
    planes = []
    for c, plasma_k in enumerate((0.6, 1.0, 0.8)):
        od = ((rbc * float(stain['rbc'][c]) + cv.od_bg[c]) * keep + cv.od_wbc[c]
              + plasma * plasma_k)
        planes.append(cv2.exp(-od) * light * float(tint[c]))
    img = _camera(rng, planes, d_rbc)

    if info is not None:
        info.update(rbc_diameter=d_rbc, n_rbc=len(pts), n_platelets=len(spots),
                    blast_radii=[c.shape.radius for c in blasts],
                    lymphocyte_radii=[c.shape.radius for c in cells if c.kind == 'lymph'],
                    neutrophil_radii=[c.shape.radius for c in cells if c.kind == 'neut'])
    return img, polygons, centres
