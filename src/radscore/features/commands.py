"""``radscore extract``: features of one scan as one CSV row.

Two ways in, both through the one scan loader (:func:`radscore.io.scan.load_scan`) and the
one extraction runner (:mod:`radscore.features.runner`):

- **PyRadiomics style** (``--image --mask [--params]``): a user's PyRadiomics parameter file
  (``setting``, ``imageType``, ``featureClass``), PyRadiomics' feature names
  (``original_glcm_Contrast``) and values, computed by radscore's engine (PyRadiomics is not
  needed). Covered: discretisation, texture and filter settings, ``force2D``, ``normalize``
  (with ``normalizeScale``, ``removeOutliers``), ``resegmentRange`` (all three modes,
  ``resegmentShape``), the ROI checks, and a subset of classes or named features. Refused
  with a :class:`~radscore.errors.ConfigError` naming the setting and the fix:
  ``resampledPixelSpacing``, ``preCrop``, LBP2D, shape2D, force2D with Wavelet, unknown
  settings or feature names (:func:`radscore.features.settings.check_params`).
- **Study style** (``--ct --pet --mask [--mask-roi] [--config study.yaml]``): the study's
  whole scan path (SUV, resampling, fusion, four VOIs), the study's column names
  (``pet_tumor_original_glcm_Contrast``): the same row ``radscore run`` puts in
  ``features.parquet`` for that scan.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

from radscore.errors import ConfigError, ImageError
from radscore.imaging.resample import same_grid
from radscore.imaging.resegment import resegment_range
from radscore.runtime.files import atomic_write_csv

log = logging.getLogger(__name__)

PARAM_SECTIONS = ("setting", "imageType", "featureClass", "voxelSetting")


def read_params(path: str | Path | None) -> dict[str, Any]:
    """A PyRadiomics parameter file as a dict (PyRadiomics' defaults when ``path`` is None).

    Raises
    ------
    ConfigError
        Missing file, invalid YAML/JSON, or an unknown top-level section.
    """
    if path is None:
        return {"setting": {}, "imageType": {"Original": {}}, "featureClass": None}
    path = Path(path)
    if not path.is_file():
        raise ConfigError("parameter file not found.", file=str(path), fix="pass an existing PyRadiomics params file.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc.__class__.__name__}).", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("the parameter file must be a mapping.", file=str(path))
    unknown = sorted(set(data) - set(PARAM_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {unknown}.", file=str(path), fix=f"use PyRadiomics' sections: {', '.join(PARAM_SECTIONS)}.",
        )
    classes = data.get("featureClass")
    if classes is not None and not isinstance(classes, dict):
        raise ConfigError("featureClass must map class names to feature lists (or null).", file=str(path))
    for section in ("setting", "imageType"):
        if not isinstance(data.get(section) or {}, dict):
            raise ConfigError(f"{section} must map names to values.", file=str(path))
    from radscore.features.settings import setting_value_problems

    problems = setting_value_problems(data.get("setting") or {})
    if problems:  # here, not only in check_params: cmd_extract reads the label before extracting
        raise ConfigError("; ".join(problems) + ".", file=str(path),
                          fix="use the values PyRadiomics' parameter schema allows.")
    return {
        "setting": dict(data.get("setting") or {}),
        "imageType": dict(data.get("imageType") or {"Original": {}}),
        "featureClass": classes,
    }


def extract_with_params(image: sitk.Image, mask: sitk.Image, params: dict[str, Any], *,
                        patient: str = "image", where: str = "params",
                        mask_file: str | None = None) -> dict[str, float]:
    """PyRadiomics features of one image + 0/1 mask on its grid for a PyRadiomics parameter dict.

    ``mask_file`` (the mask's path) is named in the errors about the mask.

    Steps in PyRadiomics' order (``RadiomicsFeatureExtractor.execute``): normalise the
    image, check the ROI, re-segment it, shape on the original mask (the re-segmented one
    with ``resegmentShape``), the other classes on the re-segmented mask; then keep the
    features ``featureClass`` names.

    Raises
    ------
    ConfigError
        A setting, image type, feature class or feature name radscore does not compute
        exactly (:func:`radscore.features.settings.check_params`).
    ImageError
        The mask is not on the image's grid, is empty, or too small for the ROI checks.
    """
    from radscore.features.settings import canonical_image_types, check_params

    setting = dict(params.get("setting") or {})
    image_types = canonical_image_types(params.get("imageType") or {"Original": {}})
    classes = params.get("featureClass")
    check_params(setting, image_types, classes, where=where)
    if image.GetDimension() != 3:
        raise ImageError(f"the image is {image.GetDimension()}-D; radscore extracts 3-D images.", patient=patient,
                         fix="save a 2-D image as a one-slice 3-D volume and set force2D: true.")
    if image.GetSize() != mask.GetSize() or not same_grid(image, mask):
        # PyRadiomics' correctMask would resample the mask onto the image: not done here
        raise ImageError(
            f"the mask's grid (size {mask.GetSize()}, spacing {mask.GetSpacing()}, origin {mask.GetOrigin()}) is "
            f"not the image's (size {image.GetSize()}, spacing {image.GetSpacing()}, origin {image.GetOrigin()}).",
            patient=patient, file=mask_file,
            fix="use a mask drawn on this image, or resample it onto the image's grid (nearest neighbour) beforehand; "
                "radscore does not do correctMask's resampling.")
    if setting.get("normalize"):
        image = normalize_image(image, float(setting.get("normalizeScale", 1)), setting.get("removeOutliers"))
    roi = sitk.GetArrayFromImage(mask) != 0
    _check_roi(roi, setting, patient, "the mask", mask_file)
    shape_roi = roi
    if setting.get("resegmentRange") is not None:
        roi = resegment_range(sitk.GetArrayFromImage(image), roi, setting["resegmentRange"],
                              setting.get("resegmentMode", "absolute"))
        _check_roi(roi, setting, patient, "the re-segmented mask", mask_file)
        if setting.get("resegmentShape"):
            shape_roi = roi
    values = _run_engine(image, roi, shape_roi, params, patient)
    return _selected(values, classes, where)


def _run_engine(image: sitk.Image, roi: np.ndarray, shape_roi: np.ndarray, params: dict[str, Any],
                patient: str) -> dict[str, float]:
    """The engine on one image; shape on ``shape_roi``, the other classes on ``roi``."""
    from radscore.features.runner import extract_prepared
    from radscore.features.settings import spec_from_params
    from radscore.imaging.preprocess import PreparedScan
    from radscore.io.scan import ScanRef
    from radscore.runtime.provenance import ScanProvenance

    spec = spec_from_params(params)
    runs = [(spec, roi)]
    if shape_roi is not roi and "shape" in spec.classes:  # re-segmented: shape keeps the original mask
        runs = [(spec_from_params(params, classes=("shape",)), shape_roi),
                (spec_from_params(params, classes=tuple(c for c in spec.classes if c != "shape")), roi)]
    values: dict[str, float] = {}
    for run_spec, voi in runs:
        if not run_spec.classes:
            continue
        prepared = PreparedScan(ScanRef(patient), {"image": image}, {"roi": voi}, ScanProvenance(patient))
        result = extract_prepared([prepared], run_spec, workers=1).scans[0]
        if result.error is not None:
            raise ImageError(result.error)
        values.update({k[len("image_roi_"):]: v for k, v in result.features.items()})
    return values


def _selected(values: dict[str, float], classes: dict[str, Any] | None, where: str) -> dict[str, float]:
    """The features ``featureClass`` names (all of a class for an empty list); unknown names refused."""
    if not classes:
        return values
    wanted = {c: set(names or ()) for c, names in classes.items()}
    computed: dict[str, set[str]] = {c: set() for c in wanted}
    out = {}
    for key, v in values.items():
        _itype, cls, name = key.rsplit("_", 2)
        computed.setdefault(cls, set()).add(name)
        if cls in wanted and (not wanted[cls] or name in wanted[cls]):
            out[key] = v
    unknown = {c: sorted(n - computed[c]) for c, n in wanted.items() if n - computed[c]}
    if unknown:
        listing = "; ".join(f"{c}: {', '.join(sorted(computed[c]))}" for c in unknown)
        raise ConfigError(f"unknown feature name(s) in featureClass: {unknown}.", file=where,
                          fix=f"use the names radscore computes (PyRadiomics' enabled-by-default features): {listing}.")
    return out


def normalize_image(image: sitk.Image, scale: float = 1.0, outliers: float | None = None) -> sitk.Image:
    """PyRadiomics' ``normalize`` (``imageoperations.normalizeImage``): z-score of the whole image.

    ``(x - mean) / sd`` over all voxels (SimpleITK's ``Normalize``, the filter PyRadiomics
    uses, so the values are the same), clipped to +-``outliers`` (``removeOutliers``),
    times ``scale`` (``normalizeScale``).
    """
    normalized = sitk.Normalize(image)
    arr = sitk.GetArrayFromImage(normalized)
    if outliers is not None:
        arr = np.clip(arr, -outliers, outliers)
    out = sitk.GetImageFromArray(arr * scale)
    out.CopyInformation(image)
    return out


def _check_roi(roi: np.ndarray, setting: dict[str, Any], patient: str, what: str, file: str | None) -> None:
    """PyRadiomics' ROI checks (``checkMask``, ``resegmentMask``): why it would refuse the ROI of the mask ``file``."""
    n = int(np.count_nonzero(roi))
    if n == 0:
        raise ImageError(f"{what} is empty.", patient=patient, file=file,
                         fix="check the mask, its label and resegmentRange.")
    if what != "the mask" and n <= 1:  # resegmentMask's own limit
        raise ImageError(f"{what} keeps {n} voxel; features need at least 2.", patient=patient, file=file,
                         fix="widen resegmentRange.")
    extent = [int(np.ptp(ax)) + 1 for ax in np.nonzero(roi)]
    dims = sum(e > 1 for e in extent)
    need = int(setting.get("minimumROIDimensions", 2))
    if dims < need:
        raise ImageError(f"{what} spans {dims} dimension(s) (bounding box {extent[::-1]} voxels, x y z); "
                         f"minimumROIDimensions is {need}.", patient=patient, file=file, fix="check the mask.")
    least = setting.get("minimumROISize")
    if least is not None and n < int(least):
        raise ImageError(f"{what} has {n} voxels; minimumROISize is {least}.", patient=patient, file=file,
                         fix="check the mask.")


def cmd_extract(image: str | Path | None, mask: str | Path, params: str | Path | None, out: str | Path, *,
                label: int | None = None, modality: str = "ct", ct: str | Path | None = None,
                pet: str | Path | None = None, mask_roi: str | None = None, config: str | Path | None = None,
                patient_id: str = "scan", workers: int | None = 1) -> int:
    """Write one CSV row of features for one scan (see the module docstring for the two styles).

    Returns
    -------
    int
        0 on success (errors are raised as :class:`~radscore.errors.RadscoreError`).
    """
    from radscore.io.scan import ScanRef, load_scan

    if image is not None:
        p = read_params(params)
        explicit = label if label is not None else p["setting"].get("label")
        role = "pet" if modality == "pet" else "ct"
        ref = ScanRef(patient_id, mask=str(mask), mask_roi=mask_roi, **{role: str(image)},
                      mask_label=None if explicit is None else int(explicit))
        loaded = load_scan(ref, expect_label=None if explicit is not None else 1)
        img = loaded.pet if role == "pet" else loaded.ct
        values = extract_with_params(img, loaded.mask, p, patient=patient_id, mask_file=str(mask),
                                     where=str(params) if params is not None else "params")
        row = {"Image": str(image), "Mask": str(mask), **values}
    else:
        values = extract_study_scan(ScanRef(patient_id, ct=_str(ct), pet=_str(pet), mask=str(mask), mask_roi=mask_roi),
                                    config, workers=workers)
        row = {"patient_id": patient_id, **values}
    atomic_write_csv(out, pd.DataFrame([row]), float_format="%.17g")
    log.info("wrote %d features to %s", len(values), out)
    return 0


def _str(path) -> str | None:
    return None if path is None else str(path)


def extract_study_scan(ref, config: str | Path | None, *, workers: int | None = 1) -> dict[str, float]:
    """A study's features of one scan (``config``: a study.yaml; None: the default protocol)."""
    from radscore.config import StudyConfig, load_config
    from radscore.features.runner import extract_scans

    cfg = load_config(config) if config is not None else StudyConfig()
    result = extract_scans([ref], cfg.scan, workers=workers).scans[0]
    if result.error is not None:
        raise ImageError(result.error)
    return dict(sorted(result.features.items()))
