"""Patient-level extraction: every image x VOI x image type, PyRadiomics definitions.

What PyRadiomics does per VOI is done here once where it can be shared, or in a faster
form, without changing a value beyond rounding (PyRadiomics is the oracle in
``tests/features``; the benchmark's largest relative difference is ~1e-8):

- each filter runs once per image on the union box of all VOIs (:mod:`.filters`), not once
  per VOI on the whole volume; the LoG runs only the 1-D recursive passes the box needs
  (:mod:`.log_filter`), LBP-3D samples the sphere with separable spline sums (:mod:`.lbp3d`);
- shape features depend on the mask and spacing only: computed once per VOI, not per image,
  by radscore's own mesh code (:mod:`.shape`), whose diameters compare only convex-hull
  points instead of every pair of mesh vertices;
- the gray-level discretisation of one (image type, VOI) is computed once (:mod:`.discretise`)
  and shared by the five texture classes, which in PyRadiomics each redo it;
- first-order features of all image types of a VOI are computed in one batch (:mod:`.firstorder`);
- texture features (GLCM, GLRLM, GLSZM, GLDM, NGTDM) are radscore's own implementation of
  PyRadiomics' post-processing and formulas (:mod:`.texture`), on matrices from numba
  kernels equal to PyRadiomics' C ones (:mod:`.matrices`), GLDM and NGTDM from one pass:
  no PyRadiomics feature object per (image type, VOI), whose per-feature Python overhead
  was most of an extraction's CPU time.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import SimpleITK as sitk

from radscore.catalog import TEXTURE_CLASSES, image_type_of
from radscore.errors import ImageError
from radscore.features import log_filter, shape, texture
from radscore.features.discretise import bin_image, gray_levels
from radscore.features.filters import Box, bounding_box, filtered_images
from radscore.features.firstorder import firstorder_features
from radscore.runtime.threads import limit_blas_threads

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Load the numba kernels and the marching-cubes case table.

    Called before forking worker processes, so each starts ready (~0.6 s less per worker).
    """
    shape.warm_up()
    texture.warm_up()
    log_filter.warm_up()


def _voi_box(voi: np.ndarray, union_box: Box) -> tuple[Box, Box]:
    """The VOI's own bounding box, in whole-image and in union-box coordinates."""
    own = bounding_box(voi)
    rel = tuple(slice(s.start - u.start, s.stop - u.start) for s, u in zip(own, union_box))
    return own, rel  # type: ignore[return-value]


def check_vois(vois: dict[str, np.ndarray], patient: str | None) -> dict[str, np.ndarray]:
    masks = {}
    for name, voi in vois.items():
        voi = np.asarray(voi, dtype=bool)
        if not voi.any():
            raise ImageError(
                f"VOI '{name}' is empty.", patient=patient,
                fix="check the segmentation and the VOI distances (voi.core_mm, voi.ring_mm).",
            )
        masks[name] = voi
    return masks


def shape_features(masks: dict[str, np.ndarray], spacing: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """PyRadiomics' 3-D shape features per VOI (``original_shape_<name>``); image-independent."""
    # on the VOI's bounding box, as PyRadiomics' extractor gives it to its shape class
    return {name: {f"original_shape_{k}": x for k, x in shape.shape_features(m[bounding_box(m)], spacing).items()}
            for name, m in masks.items()}


def extract_image(
    image: sitk.Image,
    masks: dict[str, np.ndarray],
    image_types: dict[str, dict[str, Any]],
    classes: list[str],
    settings: dict[str, Any],
    *,
    patient: str | None = None,
    image_name: str = "image",
) -> dict[str, dict[str, float]]:
    """Texture and first-order features of one image for several VOIs, filters shared.

    Parameters
    ----------
    image : SimpleITK.Image
    masks : dict of str to ndarray of bool
        Non-empty VOIs on the image grid (z, y, x).
    image_types : dict
        PyRadiomics ``imageType`` section, canonical spelling.
    classes : list of str
        Non-shape feature classes.
    settings : dict
        PyRadiomics ``setting`` section (binWidth / binCount, ...).

    Returns
    -------
    dict of VOI name to {pyradiomics feature name: value}
    """
    unknown = [c for c in classes if c not in TEXTURE_CLASSES]
    if unknown:
        raise ValueError(f"not first-order or texture feature classes: {unknown}")
    union = np.logical_or.reduce(list(masks.values()))
    ubox = bounding_box(union)
    boxes = {name: _voi_box(m, ubox) for name, m in masks.items()}
    per_voi: dict[str, dict[str, float]] = {v: {} for v in masks}
    # The matrices are small (Ng x Ng): threaded BLAS only adds overhead there, and under
    # load it is catastrophic (measured 60x slower eigvalsh on 2 busy cores).
    with limit_blas_threads(1):
        _extract_image_loop(image, masks, image_types, classes, settings, ubox, union, boxes, per_voi, patient,
                            image_name)
    return per_voi


def _extract_image_loop(image, masks, image_types, classes, settings, ubox, union, boxes, per_voi, patient,
                        image_name) -> None:
    spacing = image.GetSpacing()
    # results[v][itype_name][class] = {feature: value}; first order is batched per VOI over
    # all image types (:mod:`.firstorder`), so the row is assembled at the end, in PyRadiomics' order
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {v: {} for v in masks}
    first_order: dict[tuple[str, float], tuple[list[str], list[np.ndarray], list[np.ndarray]]] = {}
    for itype_name, arr in filtered_images(image, ubox, image_types, union, settings):
        # the VOIs are handed over as 0/1 masks, whatever label they had in the user's file
        class_kw = {**settings, **_custom_for(itype_name, image_types), "label": 1}
        for v, m in masks.items():
            own, rel = boxes[v]
            a = np.ascontiguousarray(arr[rel])
            mk = m[own]
            binned = bin_image(a, mk, **class_kw)
            codes = binned[mk]
            results[v][itype_name] = {}
            if "firstorder" in classes:
                names, values, levels = first_order.setdefault((v, float(class_kw.get("voxelArrayShift", 0))),
                                                               ([], [], []))
                names.append(itype_name)
                values.append(a[mk])
                levels.append(codes)
            try:
                results[v][itype_name].update(
                    texture.texture_features(classes, binned, mk, class_kw, gray_levels(codes), spacing))
            except texture.TextureError as exc:  # e.g. a VOI box without neighbours, reported with context
                raise ImageError(
                    f"{exc.feature_class} features failed on '{image_name}' {itype_name}, VOI '{v}': {exc}",
                    patient=patient,
                ) from None
    for (v, shift), (names, values, levels) in first_order.items():
        try:
            rows = firstorder_features(np.array(values, dtype=np.float64), np.array(levels), spacing, shift)
        except ValueError as exc:
            raise ImageError(f"first-order features failed on '{image_name}', VOI '{v}': {exc}",
                             patient=patient) from None
        for itype_name, row in zip(names, rows):
            results[v][itype_name]["firstorder"] = row
    for v, by_type in results.items():
        for itype_name, by_class in by_type.items():
            for c in classes:
                per_voi[v].update({f"{itype_name}_{c}_{k}": x for k, x in by_class[c].items()})


def _custom_for(itype_name: str, image_types: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Custom settings of the image type that produced ``itype_name`` (``wavelet-LLH`` -> Wavelet)."""
    return dict(image_types.get(image_type_of(itype_name).name, {}) or {})
