"""Patient-level extraction: every image x VOI, PyRadiomics definitions.

Version 1 runs PyRadiomics per VOI (the oracle); the fast path replaces it per image type
as it reaches parity.
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from radscore.config import FeatureSettings
from radscore.errors import ConfigError, ImageError
from radscore.features import pyrad
from radscore.features.extract import pyradiomics_settings

log = logging.getLogger(__name__)


def extract_patient(
    images: dict[str, sitk.Image],
    vois: dict[str, np.ndarray],
    settings: FeatureSettings,
    *,
    patient: str | None = None,
) -> dict[str, float]:
    if "LBP3D" in pyrad.canonical_image_types(settings.image_types):
        raise ConfigError("image type LBP3D is not available yet.", file="features.image_types")
    row: dict[str, float] = {}
    for image_name, image in images.items():
        ext = pyrad.make_extractor(
            pyradiomics_settings(image_name, settings), settings.image_types, list(settings.feature_classes)
        )
        for voi_name, voi in vois.items():
            if not np.any(voi):
                raise ImageError(
                    f"VOI '{voi_name}' is empty.", patient=patient,
                    fix="check the segmentation and the VOI distances (voi.core_mm, voi.ring_mm).",
                )
            try:
                values = pyrad.execute(ext, image, voi)
            except ValueError as exc:
                raise ImageError(f"VOI '{voi_name}' on '{image_name}': {exc}", patient=patient) from None
            prefix = f"{image_name}_{voi_name}_"
            row.update({prefix + k: v for k, v in values.items()})
    return row
