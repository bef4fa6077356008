"""Feature extraction for one patient: images x VOIs -> one row of PyRadiomics features.

Column names are ``f"{image}_{voi}_{pyradiomics_name}"`` (``pet_tumor_original_glcm_Contrast``).
The values follow PyRadiomics' definitions exactly (it is the oracle in the tests, see
``tests/features/test_parity.py``); the imaging stage has already resampled, so nothing is
resampled here. The work is done by :mod:`radscore.features.engine` (filters shared by
all VOIs of an image, computed on a padded crop).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np
import SimpleITK as sitk

from radscore.config import FeatureSettings
from radscore.errors import ImageError

log = logging.getLogger(__name__)

#: Bumped whenever a change to the engine can change a value (invalidates caches).
ENGINE_VERSION = "3"

IMAGE_NAMES = ("ct", "pet", "petct")
VOI_NAMES = ("tumor", "core", "ring", "tumor_ring")


def full_protocol_image_types() -> dict[str, dict[str, Any]]:
    """The seed's 22 image types (PROTOCOL.md A5), PyRadiomics ``imageType`` format.

    original; wavelet (8 sub-bands, coif1, level 1); LoG sigma 1-5 mm; square, square root,
    logarithm, exponential, gradient; LBP-3D (m1, m2, kurtosis). With all 7 classes this
    gives 14 shape + 22 x 93 = 2060 features per VOI.
    """
    return {
        "Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0, 3.0, 4.0, 5.0]},
        "Square": {}, "SquareRoot": {}, "Logarithm": {}, "Exponential": {}, "Gradient": {}, "LBP3D": {},
    }


def full_protocol_settings(**overrides: Any) -> FeatureSettings:
    """:class:`FeatureSettings` for the full 2060-feature protocol (other fields overridable)."""
    return FeatureSettings(image_types=full_protocol_image_types(), **overrides)


def discretisation(image: str, settings: FeatureSettings) -> dict[str, float]:
    """PyRadiomics discretisation setting for one image (fixed bin width, or count for fused)."""
    if image == "ct":
        return {"binWidth": float(settings.bin_width_ct)}
    if image == "pet":
        return {"binWidth": float(settings.bin_width_pet)}
    if image == "petct":
        return {"binCount": int(settings.bin_count_fused)}
    raise ImageError(f"unknown image '{image}'.", fix=f"use one of {', '.join(IMAGE_NAMES)}.")


def settings_fingerprint(settings: FeatureSettings) -> str:
    """Hash of everything that changes a feature value, plus the engine version.

    Used as part of the cache key, so a changed setting or engine recomputes.
    """
    import radiomics

    payload = {
        "image_types": settings.image_types,
        "feature_classes": sorted(settings.feature_classes),
        "bin_width_ct": settings.bin_width_ct,
        "bin_width_pet": settings.bin_width_pet,
        "bin_count_fused": settings.bin_count_fused,
        "engine": ENGINE_VERSION,
        "pyradiomics": str(radiomics.__version__),
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _check_inputs(images: dict[str, sitk.Image], vois: dict[str, np.ndarray], patient: str | None) -> None:
    sizes = set()
    for name, img in images.items():
        if name not in IMAGE_NAMES:
            raise ImageError(f"unknown image '{name}'.", patient=patient, fix=f"use {', '.join(IMAGE_NAMES)}.")
        if not isinstance(img, sitk.Image):
            raise ImageError(f"image '{name}' is a {type(img).__name__}, not a SimpleITK.Image.", patient=patient)
        sizes.add(tuple(img.GetSize()[::-1]))
    if len(sizes) > 1:
        raise ImageError(
            f"images are on different grids (array shapes {sorted(sizes)}).", patient=patient,
            fix="resample all images onto the CT grid before extraction.",
        )
    shape = sizes.pop() if sizes else None
    for name, voi in vois.items():
        if name not in VOI_NAMES:
            raise ImageError(f"unknown VOI '{name}'.", patient=patient, fix=f"use {', '.join(VOI_NAMES)}.")
        arr = np.asarray(voi)
        if shape is not None and arr.shape != shape:
            raise ImageError(
                f"VOI '{name}' has shape {arr.shape}, the images {shape} (z, y, x).", patient=patient,
                fix="build the VOIs on the image grid.",
            )


def pyradiomics_settings(image: str, settings: FeatureSettings) -> dict[str, Any]:
    """The PyRadiomics extractor settings equivalent to ``settings`` for one image."""
    out: dict[str, Any] = {
        "label": 1,
        "additionalInfo": False,
        "resampledPixelSpacing": None,
        "normalize": False,
        "correctMask": False,
    }
    out.update(discretisation(image, settings))
    return out


def extract_features(
    images: dict[str, sitk.Image],
    vois: dict[str, np.ndarray],
    settings: FeatureSettings,
    *,
    patient: str | None = None,
) -> dict[str, float]:
    """All features of one patient as one flat row.

    Parameters
    ----------
    images : dict of str to SimpleITK.Image
        Keys among ``"ct"`` (HU), ``"pet"`` (SUV), ``"petct"`` (fused, [0, 1]); one grid.
    vois : dict of str to ndarray of bool
        Keys among ``"tumor"``, ``"core"``, ``"ring"``, ``"tumor_ring"``, arrays in
        SimpleITK order (z, y, x) on the images' grid. Absent VOIs are skipped.
    settings : FeatureSettings
        Image types, feature classes and discretisation.
    patient : str, optional
        For error messages.

    Returns
    -------
    dict of str to float
        ``{f"{image}_{voi}_{pyradiomics_name}": value}``.
    """
    from radscore.features import engine

    _check_inputs(images, vois, patient)
    return engine.extract_patient(images, vois, settings, patient=patient)
