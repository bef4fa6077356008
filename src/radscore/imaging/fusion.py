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


def normalise(x: np.ndarray, clip: tuple[float, float] | None = None) -> np.ndarray:
    """Min-max normalise to [0, 1] (float64) after optional clipping; a constant image gives zeros."""
    a = np.array(x, dtype=np.float64)  # a copy, so the steps below can work in place
    if clip is not None:
        np.clip(a, clip[0], clip[1], out=a)
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 0:
        return np.zeros_like(a)
    # in place: a whole-body grid's float64 copies are hundreds of MB each
    a -= lo
    a /= hi - lo
    return a


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
    return _fuse_coefficients(_decompose(a, wavelet, level), _decompose(b, wavelet, level), wavelet, a.shape)


def _decompose(a: np.ndarray, wavelet: str, level: int) -> list:
    w = pywt.Wavelet(wavelet)
    max_level = min(pywt.dwt_max_level(n, w.dec_len) for n in a.shape)
    lev = max(1, min(level, max_level)) if max_level > 0 else 1
    if lev != level:
        logger.info("wavelet level %d reduced to %d for shape %s", level, lev, a.shape)
    with warnings.catch_warnings():
        # images thinner than the filter: pywt warns of boundary effects, which the
        # symmetric extension handles (reconstruction stays exact)
        warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
        return pywt.wavedecn(a, w, mode="symmetric", level=lev)


def _fuse_coefficients(ca: list, cb: list, wavelet: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fusion rule on two decompositions, written into ``ca`` (``cb``'s bands freed as used).

    The same values as ``(ca0 + cb0) / 2`` and ``where(|da| >= |db|, da, db)``, without a
    third set of coefficients: on a chest CT's grid each set is ~0.5 GB.
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


def fuse(pet: np.ndarray, ct: np.ndarray, settings: FusionSettings | None = None) -> np.ndarray:
    """Fuse PET (SUV) and CT (HU) arrays on the same grid into one float32 image.

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
    if settings.method == "weighted":
        out = settings.pet_weight * normalise(pet) + (1.0 - settings.pet_weight) * normalise(ct, CT_RANGE_HU)
    elif settings.method == "wavelet":
        # each normalised image is dropped once decomposed: peak memory on large grids
        ca = _decompose(normalise(pet), settings.wavelet, settings.level)
        cb = _decompose(normalise(ct, CT_RANGE_HU), settings.wavelet, settings.level)
        out = _fuse_coefficients(ca, cb, settings.wavelet, pet.shape)
    else:  # pragma: no cover - the config's Literal forbids it
        raise ValueError(f"unknown fusion method {settings.method!r}")
    return out.astype(np.float32)


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
