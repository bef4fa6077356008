"""PET/CT fusion into a third image (PROTOCOL item 3).

Both images are first brought to a common scale, [0, 1], by min-max normalisation
over the whole volume:

- PET: min-max of the SUV volume, no percentile clipping. The tumour's uptake is the
  brightest part of the image and the signal radiomics measures; clipping at, say, the
  99.5th percentile of a whole-body scan would saturate exactly the tumour voxels.
- CT: clipped first to the 12-bit CT range [-1024, 3071] HU, so that scanner padding
  values (-2000, -3024 HU outside the reconstruction circle) and metal do not compress
  the tissue range, then min-max.

Wavelet fusion follows the usual pixel-level rule (Pajares & de la Cruz, Pattern
Recognit. 2004; Li, Manjunath & Mitra, Graph. Models Image Process. 1995): a 3-D
discrete wavelet transform of each normalised image (:func:`pywt.wavedecn`), the mean of
the approximation coefficients, for every detail band the coefficient with the larger
absolute value, and the inverse transform cropped to the input shape. Weighted fusion is
``w * pet + (1 - w) * ct`` of the normalised images.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pywt

from radscore.config import FusionSettings

logger = logging.getLogger(__name__)

CT_RANGE_HU = (-1024.0, 3071.0)


def _range(x: np.ndarray, clip: tuple[float, float] | None) -> tuple[float, float]:
    """Minimum and maximum of ``x`` after clipping (clipping is monotone: the clipped extremes)."""
    lo, hi = float(np.min(x)), float(np.max(x))
    return (float(np.clip(lo, *clip)), float(np.clip(hi, *clip))) if clip is not None else (lo, hi)


def _scaled(x: np.ndarray, lo: float, hi: float, clip: tuple[float, float] | None) -> np.ndarray:
    """``(clip(x) - lo) / (hi - lo)`` as a new float64 array; zeros when ``hi <= lo``."""
    a = np.array(x, dtype=np.float64)  # a copy, so the steps below can work in place
    if hi - lo <= 0:
        return np.zeros_like(a)
    if clip is not None:
        np.clip(a, clip[0], clip[1], out=a)
    a -= lo
    a /= hi - lo
    return a


def normalise(x: np.ndarray, clip: tuple[float, float] | None = None) -> np.ndarray:
    """Min-max normalise to [0, 1] (float64) after optional clipping; a constant image gives zeros."""
    return _scaled(x, *_range(x, clip), clip)


def wavelet_fuse(a: np.ndarray, b: np.ndarray, wavelet: str = "db2", level: int = 1) -> np.ndarray:
    """Fuse two same-shape arrays: mean approximation, max-abs details, inverse DWT.

    Parameters
    ----------
    a, b : ndarray
        Normalised images of the same shape.
    wavelet : str
        PyWavelets wavelet name.
    level : int
        Decomposition level (capped at the largest level the shortest axis allows).

    Returns
    -------
    ndarray of float64, same shape as ``a``
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    lev = _level(a.shape, wavelet, level)
    return _fuse_coefficients(_decompose(a, wavelet, lev), _decompose(b, wavelet, lev), wavelet, a.shape)


def _level(shape: tuple[int, ...], wavelet: str, level: int) -> int:
    """``level``, capped at the largest level the shortest axis allows (at least 1)."""
    max_level = min(pywt.dwt_max_level(n, pywt.Wavelet(wavelet).dec_len) for n in shape)
    lev = max(1, min(level, max_level)) if max_level > 0 else 1
    if lev != level:
        logger.info("wavelet level %d reduced to %d for shape %s", level, lev, shape)
    return lev


def _decompose(a: np.ndarray, wavelet: str, level: int) -> list:
    with warnings.catch_warnings():
        # images (or slabs) thinner than the filter: pywt warns of boundary effects, which the
        # symmetric extension handles (reconstruction stays exact)
        warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
        return pywt.wavedecn(a, pywt.Wavelet(wavelet), mode="symmetric", level=level)


def _fuse_coefficients(ca: list, cb: list, wavelet: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fusion rule on two decompositions, written into ``ca`` (``cb``'s bands freed as used).

    The same values as ``(ca0 + cb0) / 2`` and ``where(|da| >= |db|, da, db)``, without a
    third set of coefficients.
    """
    ca[0] += cb[0]
    ca[0] /= 2.0
    for da, db in zip(ca[1:], cb[1:]):
        for k in da:
            take_b = np.abs(da[k]) < np.abs(db[k])
            da[k][take_b] = db[k][take_b]
            db[k] = None
    cb.clear()
    out = pywt.waverecn(ca, pywt.Wavelet(wavelet), mode="symmetric")
    return out[tuple(slice(0, n) for n in shape)]


#: Slices fused at a time (plus margins): the float64 images and coefficients of a whole
#: chest CT's 1 mm grid (60 M voxels) would take ~2 GB at once.
SLAB = 64


def _slabs(n: int, step: int, margin: int):
    """``(z0, z1, a0, a1)``: slices ``z0:z1`` computed on ``a0:a1`` (with margins, cut at the edges)."""
    for z0 in range(0, n, step):
        z1 = min(z0 + step, n)
        yield z0, z1, max(0, z0 - margin), min(n, z1 + margin)


def fuse(pet: np.ndarray, ct: np.ndarray, settings: FusionSettings | None = None) -> np.ndarray:
    """Fuse PET (SUV) and CT (HU) arrays on the same grid into one float32 image.

    The volume is fused in slabs of :data:`SLAB` slices along z, each transformed with
    margins of ``2 (filter length - 1)(2^level - 1)`` slices (rounded up) and starting on a multiple of
    ``2^level``: a slice's coefficients and reconstruction then involve the same samples in
    the same order as on the whole volume, so the values are the whole volume's, bit for
    bit (tested), at a fraction of the memory. The normalisation uses the whole volume's
    range.

    Parameters
    ----------
    pet, ct : ndarray (z, y, x)
        Same shape.
    settings : FusionSettings
        ``method`` "wavelet" (``wavelet``, ``level``) or "weighted" (``pet_weight``).

    Returns
    -------
    ndarray of float32, same shape, values near [0, 1].
    """
    settings = settings or FusionSettings()
    pet = np.asarray(pet)
    ct = np.asarray(ct)
    if pet.shape != ct.shape:
        raise ValueError(f"PET shape {pet.shape} differs from CT shape {ct.shape}; resample PET onto the CT grid first")
    if settings.method not in ("weighted", "wavelet"):  # pragma: no cover - the config's Literal forbids it
        raise ValueError(f"unknown fusion method {settings.method!r}")
    pet_range, ct_range = _range(pet, None), _range(ct, CT_RANGE_HU)
    step, margin = SLAB, 0
    if settings.method == "wavelet":
        lev = _level(pet.shape, settings.wavelet, settings.level)
        align = 2 ** lev
        # a sample's reconstruction reaches (L - 1)(2^level - 1) samples through the analysis
        # and as far through the synthesis: twice that, rounded up to the alignment
        reach = 2 * (pywt.Wavelet(settings.wavelet).dec_len - 1) * (align - 1)
        margin = -(-reach // align) * align + align
        step = -(-SLAB // align) * align
    out = np.empty(pet.shape, np.float32)
    for z0, z1, a0, a1 in _slabs(pet.shape[0], step, margin):
        p = _scaled(pet[a0:a1], *pet_range, None)
        if settings.method == "weighted":
            p *= settings.pet_weight
            p += (1.0 - settings.pet_weight) * _scaled(ct[a0:a1], *ct_range, CT_RANGE_HU)
            fused = p
        else:
            # each normalised slab is dropped once decomposed
            ca = _decompose(p, settings.wavelet, lev)
            del p
            cb = _decompose(_scaled(ct[a0:a1], *ct_range, CT_RANGE_HU), settings.wavelet, lev)
            fused = _fuse_coefficients(ca, cb, settings.wavelet, (a1 - a0, *pet.shape[1:]))
        out[z0:z1] = fused[z0 - a0:z1 - a0]
    return out


def fusion_record(settings: FusionSettings) -> dict:
    """JSON-able description of the fusion for the run record."""
    rec = {"method": settings.method, "pet_normalisation": "min-max over the volume",
           "ct_normalisation": f"clip to {list(CT_RANGE_HU)} HU, then min-max"}
    if settings.method == "wavelet":
        rec.update(wavelet=settings.wavelet, level=settings.level, rule="mean approximation, max-abs details",
                   mode="symmetric")
    else:
        rec.update(pet_weight=settings.pet_weight)
    return rec
