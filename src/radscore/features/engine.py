"""Patient-level extraction: every image x VOI x image type, PyRadiomics definitions.

What PyRadiomics does per VOI is done here once where it can be shared, or in a faster
form, without changing a value beyond rounding (PyRadiomics is the oracle in
``tests/features``; the benchmark's largest relative difference is ~1e-8):

- each filter runs once per image on the union box of all VOIs (:mod:`.filters`), not once
  per VOI on the whole volume; the LoG runs only the 1-D recursive passes the box needs
  (:mod:`.log_filter`), LBP-3D samples the sphere with separable spline sums (:mod:`.lbp3d`);
- shape features depend on the mask and spacing only: computed once per VOI, not per image;
- the gray-level discretisation of one (image type, VOI) is computed once (:mod:`.discretise`)
  and shared by the classes that each redo it in PyRadiomics (:func:`_shared_class`);
- first-order features of all image types of a VOI are computed in one batch (:mod:`.firstorder`);
- texture matrices come from numba kernels equal to PyRadiomics' C ones (:mod:`.matrices`);
  the texture feature formulas are PyRadiomics' own classes, with the slow GLCM steps
  replaced (:mod:`.glcm_fast`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import SimpleITK as sitk
from threadpoolctl import threadpool_limits

from radscore.catalog import TEXTURE_CLASSES, image_type_of
from radscore.errors import ImageError
from radscore.features import pyrad
from radscore.features.discretise import bin_image
from radscore.features.firstorder import firstorder_features
from radscore.features.filters import Box, bounding_box, filtered_images

log = logging.getLogger(__name__)

def _feature_classes() -> dict[str, type]:
    from radiomics import getFeatureClasses

    return getFeatureClasses()


_SHARED: dict[type, type] = {}


def warm_up() -> None:
    """Import PyRadiomics, build the shared feature classes and load the numba kernels.

    Called before forking worker processes, so each starts ready (~0.6 s less per worker).
    """
    from radscore.features import matrices

    for name, cls in _feature_classes().items():
        if name in TEXTURE_CLASSES:
            _shared_class(cls)
    matrices.warm_up()


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

        names = cls.getFeatureNames()  # PyRadiomics re-inspects the class on every instance

        def getFeatureNames(klass):  # noqa: N802
            return dict(names)

        body = {"_applyBinning": _applyBinning, "__module__": cls.__module__,
                "getFeatureNames": classmethod(getFeatureNames)}
        if "_calculateMatrix" in vars(cls):
            body["_calculateMatrix"] = _with_numba_matrices(vars(cls)["_calculateMatrix"])
        if cls.__name__ == "RadiomicsGLCM":
            from radscore.features import glcm_fast

            body.update(
                getMCCFeatureValue=_mcc_symmetric,
                _calculateCoefficients=glcm_fast.calculate_coefficients,
                getClusterProminenceFeatureValue=glcm_fast.cluster_prominence,
                getClusterShadeFeatureValue=glcm_fast.cluster_shade,
                getClusterTendencyFeatureValue=glcm_fast.cluster_tendency,
            )
        _SHARED[cls] = type(cls.__name__, (cls,), body)
    return _SHARED[cls]


def _with_numba_matrices(method):
    """PyRadiomics' own ``_calculateMatrix`` with its ``cMatrices`` global bound to :mod:`.matrices`.

    The post-processing around the matrix (deleting absent gray levels, symmetrising,
    normalising) stays PyRadiomics' code, unchanged; only the C call is swapped for the
    numba kernels, which return element-for-element the same matrices 4x faster
    (``tests/features/test_matrices.py``). PyRadiomics' module itself is left alone, so the
    plain-PyRadiomics oracle in the tests keeps its C functions.
    """
    import types

    from radscore.features import matrices

    module_globals = {**method.__globals__, "cMatrices": matrices}
    return types.FunctionType(method.__code__, module_globals, method.__name__, method.__defaults__,
                              method.__closure__)


def _mcc_symmetric(self):  # noqa: N802
    r"""Maximal correlation coefficient, PyRadiomics' definition, via a symmetric eigenproblem.

    PyRadiomics forms :math:`Q(i,j) = \sum_k p(i,k)p(j,k)/(p_x(i)p_y(k))` and calls the general
    ``eigvals`` per angle (the slowest single feature). For a symmetric GLCM (its default),
    :math:`Q = D^{-1}PD^{-1}P` with :math:`D = \mathrm{diag}(p_x)`, which is similar to
    :math:`S^2`, :math:`S = D^{-1/2}PD^{-1/2}` symmetric; so the eigenvalues of Q are the
    squares of ``eigvalsh(S)`` (rows with :math:`p_x(i) = 0` give Q's zero eigenvalues).
    MCC = sqrt(second largest), averaged over angles; 1 for a flat region, as PyRadiomics.
    PyRadiomics adds ``eps`` (2.2e-16) to :math:`p_x(i)p_y(k)` in Q's denominator; this form
    has no such term, so where a gray level occurs about once (:math:`p_x p_y \sim 1e-10`)
    the two differ by up to ~1e-8 relative (measured 8.5e-9 on the benchmark patients),
    within the 1e-6 parity tolerance; with ``eps = 0`` PyRadiomics' formula gives this value.

    References: Haralick RM et al., IEEE Trans SMC 1973; PyRadiomics glcm.getMCCFeatureValue.
    """
    if not self.symmetricalGLCM:
        return type(self).__mro__[1].getMCCFeatureValue(self)
    P = self.P_glcm[0].transpose(2, 0, 1)  # (angles, Ng, Ng)
    if P.shape[1] < 2:
        return 1
    px = P.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(px > 0, 1.0 / np.sqrt(px), 0.0)
    S = P * inv[:, :, None] * inv[:, None, :]
    ev = np.sort(np.linalg.eigvalsh(S) ** 2, axis=1)
    return np.nanmean(np.sqrt(ev[:, -2]))


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
    """PyRadiomics 3-D shape features per VOI (``original_shape_<name>``); image-independent."""
    out = {}
    for name, m in masks.items():
        own = bounding_box(m)
        img = _sitk(np.zeros(m[own].shape, np.float32), spacing)
        vals = _class_features("shape", img, _sitk(m[own].astype(np.uint32), spacing), {"label": 1})
        out[name] = {f"original_shape_{k}": x for k, x in vals.items()}
    return out


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
    pyrad.quiet_pyradiomics()
    union = np.logical_or.reduce(list(masks.values()))
    ubox = bounding_box(union)
    spacing = image.GetSpacing()
    boxes = {name: _voi_box(m, ubox) for name, m in masks.items()}
    mask_imgs = {name: _sitk(m[boxes[name][0]].astype(np.uint32), spacing) for name, m in masks.items()}
    per_voi: dict[str, dict[str, float]] = {v: {} for v in masks}
    # The matrices are small (Ng x Ng): threaded BLAS only adds overhead there, and under
    # load it is catastrophic (measured 60x slower eigvalsh on 2 busy cores).
    with threadpool_limits(1):
        _extract_image_loop(image, masks, image_types, classes, settings, ubox, union, boxes, mask_imgs,
                            per_voi, patient, image_name)
    return per_voi


def _extract_image_loop(image, masks, image_types, classes, settings, ubox, union, boxes, mask_imgs,
                        per_voi, patient, image_name) -> None:
    spacing = image.GetSpacing()
    # results[v][itype_name][class] = {feature: value}; first order is batched per VOI over
    # all image types (:mod:`.firstorder`), so the row is assembled at the end, in PyRadiomics' order
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {v: {} for v in masks}
    first_order: dict[tuple[str, float], tuple[list[str], list[np.ndarray], list[np.ndarray]]] = {}
    # The texture classes read only the grid (shape, spacing) of the image they are given: its
    # values are replaced by the shared binned array (_applyBinning). One grid per VOI box
    # serves every image type instead of a new SimpleITK image per (image type, VOI).
    grids = {v: _sitk(np.zeros(m[boxes[v][0]].shape, np.float32), spacing) for v, m in masks.items()}
    for itype_name, arr in filtered_images(image, ubox, image_types, union, settings):
        # the VOIs are handed over as 0/1 masks, whatever label they had in the user's file
        class_kw = {**settings, **_custom_for(itype_name, image_types), "label": 1}
        for v, m in masks.items():
            own, rel = boxes[v]
            a = np.ascontiguousarray(arr[rel])
            mk = m[own]
            binned = bin_image(a, mk, **class_kw)
            results[v][itype_name] = {}
            if "firstorder" in classes:
                names, values, levels = first_order.setdefault((v, float(class_kw.get("voxelArrayShift", 0))),
                                                               ([], [], []))
                names.append(itype_name)
                values.append(a[mk])
                levels.append(binned[mk])
            shared = {**class_kw, "_radscore_binned": (binned, np.unique(binned[mk]))}
            for c in classes:
                if c == "firstorder":
                    continue
                try:
                    results[v][itype_name][c] = _class_features(c, grids[v], mask_imgs[v], shared)
                except Exception as exc:  # PyRadiomics' own failure, reported with context
                    raise ImageError(
                        f"{c} features failed on '{image_name}' {itype_name}, VOI '{v}': {exc}", patient=patient,
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
