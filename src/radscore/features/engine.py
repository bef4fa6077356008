"""Patient-level extraction: every image x VOI x image type, PyRadiomics definitions.

What PyRadiomics does per VOI is done here once where it can be shared, without changing
a value (PyRadiomics is the oracle in ``tests/features``):

- each filter runs once per image on the union box of all VOIs (:mod:`.filters`), not once
  per VOI on the whole volume;
- shape features depend on the mask and spacing only: computed once per VOI, not per image;
- the gray-level discretisation of one (image type, VOI) is computed once and shared by
  the six classes that each redo it in PyRadiomics (:class:`_SharedBinning`);
- the feature formulas and C texture matrices are PyRadiomics' own classes, called on the
  shared, cropped arrays.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import SimpleITK as sitk

from radscore.config import FeatureSettings
from radscore.errors import ImageError
from radscore.features import pyrad
from radscore.features.filters import Box, bounding_box, filtered_images

log = logging.getLogger(__name__)

TEXTURE_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _feature_classes() -> dict[str, type]:
    from radiomics import getFeatureClasses

    return getFeatureClasses()


_SHARED: dict[type, type] = {}


def _shared_class(cls: type) -> type:
    """``cls`` with its discretisation taken from the precomputed ``_radscore_binned`` setting.

    PyRadiomics bins the same array again in each of the six classes; the binned array is
    identical (same values, mask and settings), so it is computed once and handed in.
    """
    if cls not in _SHARED:
        def _applyBinning(self, matrix):  # noqa: N802 (PyRadiomics' name)
            binned, gray_levels = self.settings["_radscore_binned"]
            self.coefficients["grayLevels"] = gray_levels
            self.coefficients["Ng"] = int(np.max(gray_levels))
            return binned.copy()

        _SHARED[cls] = type(cls.__name__, (cls,), {"_applyBinning": _applyBinning, "__module__": cls.__module__})
    return _SHARED[cls]


def _sitk(arr: np.ndarray, spacing: tuple[float, ...]) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    return img


def _class_features(
    name: str, image: sitk.Image, mask: sitk.Image, kwargs: dict[str, Any]
) -> dict[str, float]:
    cls = _feature_classes()[name]
    if name != "shape":
        cls = _shared_class(cls)
    obj = cls(image, mask, **kwargs)
    obj.enableAllFeatures()
    return {k: float(v) for k, v in obj.execute().items()}


def _voi_box(voi: np.ndarray, union_box: Box) -> tuple[Box, Box]:
    """The VOI's own bounding box, in whole-image and in union-box coordinates."""
    own = bounding_box(voi)
    rel = tuple(slice(s.start - u.start, s.stop - u.start) for s, u in zip(own, union_box))
    return own, rel  # type: ignore[return-value]


def extract_patient(
    images: dict[str, sitk.Image],
    vois: dict[str, np.ndarray],
    settings: FeatureSettings,
    *,
    patient: str | None = None,
) -> dict[str, float]:
    """All features of one patient (see :func:`radscore.features.extract.extract_features`)."""
    from radiomics import imageoperations

    from radscore.features.extract import pyradiomics_settings

    pyrad.quiet_pyradiomics()
    image_types = pyrad.canonical_image_types(settings.image_types)
    classes = [c for c in settings.feature_classes if c in TEXTURE_CLASSES]
    masks = {}
    for name, voi in vois.items():
        voi = np.asarray(voi, dtype=bool)
        if not voi.any():
            raise ImageError(
                f"VOI '{name}' is empty.", patient=patient,
                fix="check the segmentation and the VOI distances (voi.core_mm, voi.ring_mm).",
            )
        masks[name] = voi
    if not masks or not images:
        return {}
    union = np.logical_or.reduce(list(masks.values()))
    ubox = bounding_box(union)
    first = next(iter(images.values()))
    spacing = first.GetSpacing()
    boxes = {name: _voi_box(m, ubox) for name, m in masks.items()}
    mask_imgs = {name: _sitk(m[own].astype(np.uint32), spacing) for name, m in masks.items() for own in [boxes[name][0]]}

    shape_rows: dict[str, dict[str, float]] = {}
    if "shape" in settings.feature_classes:
        for name, m in masks.items():
            own = boxes[name][0]
            img = _sitk(np.zeros(m[own].shape, np.float32), spacing)
            shape_rows[name] = _class_features("shape", img, mask_imgs[name], {"label": 1})

    row: dict[str, float] = {}
    for image_name, image in images.items():
        kw = pyradiomics_settings(image_name, settings)
        per_voi: dict[str, dict[str, float]] = {v: {} for v in masks}
        for v in masks:
            per_voi[v].update({f"original_shape_{k}": x for k, x in shape_rows.get(v, {}).items()})
        for itype_name, arr in filtered_images(image, ubox, image_types, union, kw):
            custom = _custom_for(itype_name, image_types)
            class_kw = {**kw, **custom}
            for v, m in masks.items():
                own, rel = boxes[v]
                a = np.ascontiguousarray(arr[rel])
                mk = m[own]
                binned, _ = imageoperations.binImage(a, mk, **class_kw)
                shared = {**class_kw, "_radscore_binned": (binned, np.unique(binned[mk]))}
                img = _sitk(a, spacing)
                for c in classes:
                    try:
                        vals = _class_features(c, img, mask_imgs[v], shared)
                    except Exception as exc:  # PyRadiomics' own failure, reported with context
                        raise ImageError(
                            f"{c} features failed on '{image_name}' {itype_name}, VOI '{v}': {exc}",
                            patient=patient,
                        ) from None
                    per_voi[v].update({f"{itype_name}_{c}_{k}": x for k, x in vals.items()})
        for v, values in per_voi.items():
            prefix = f"{image_name}_{v}_"
            row.update({prefix + k: x for k, x in values.items()})
    return row


def _custom_for(itype_name: str, image_types: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Custom settings of the image type that produced ``itype_name`` (``wavelet-LLH`` -> Wavelet)."""
    prefix = itype_name.split("-")[0].rstrip("0123456789")
    key = {"original": "Original", "wavelet": "Wavelet", "log": "LoG", "square": "Square",
           "squareroot": "SquareRoot", "logarithm": "Logarithm", "exponential": "Exponential",
           "gradient": "Gradient", "lbp": "LBP3D"}.get(prefix)
    return dict(image_types.get(key, {}) or {})
