"""``radscore extract``: features of one scan as one CSV row.

Two ways in, both through the one scan loader (:func:`radscore.io.scan.load_scan`) and the
one extraction runner (:mod:`radscore.features.runner`):

- **PyRadiomics style** (``--image --mask [--params]``): a user's PyRadiomics parameter file
  (``setting``, ``imageType``, ``featureClass``), PyRadiomics' feature names
  (``original_glcm_Contrast``). Files the engine covers run on it; anything else
  (resampling, normalisation, re-segmentation, 2-D, a subset of features) runs through
  plain PyRadiomics, so every parameter file gives PyRadiomics' values.
- **Study style** (``--ct --pet --mask [--mask-roi] [--config study.yaml]``): the study's
  whole scan path (SUV, resampling, fusion, four VOIs), the study's column names
  (``pet_tumor_original_glcm_Contrast``): the same row ``radscore run`` puts in
  ``features.parquet`` for that scan.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk
import yaml

from radscore.errors import ConfigError, ImageError
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
    return {
        "setting": dict(data.get("setting") or {}),
        "imageType": dict(data.get("imageType") or {"Original": {}}),
        "featureClass": classes,
    }


def extract_with_params(image: sitk.Image, mask: sitk.Image, params: dict[str, Any], *,
                        patient: str = "image") -> dict[str, float]:
    """PyRadiomics features of one image + 0/1 mask on its grid for a PyRadiomics parameter dict."""
    from radscore.features import pyrad
    from radscore.features.runner import extract_prepared
    from radscore.features.settings import canonical_image_types, engine_covers, spec_from_params
    from radscore.imaging.preprocess import PreparedScan
    from radscore.imaging.resample import same_grid
    from radscore.io.scan import ScanRef
    from radscore.runtime.provenance import ScanProvenance

    setting = dict(params.get("setting") or {})
    image_types = canonical_image_types(params.get("imageType") or {"Original": {}})
    classes = params.get("featureClass")
    if image.GetSize() != mask.GetSize() or not (same_grid(image, mask) or setting.get("correctMask")):
        raise ImageError(
            f"the mask's grid (size {mask.GetSize()}, spacing {mask.GetSpacing()}, origin {mask.GetOrigin()}) is "
            f"not the image's (size {image.GetSize()}, spacing {image.GetSpacing()}, origin {image.GetOrigin()}).",
            patient=patient, fix="use a mask drawn on this image (or set correctMask: true in the params).")
    if not sitk.GetArrayViewFromImage(mask).any():
        raise ImageError("the mask is empty.", patient=patient, fix="check the mask and its label.")
    if engine_covers(setting, image_types, classes) and image.GetDimension() == 3:
        roi = sitk.GetArrayFromImage(mask) != 0
        prepared = PreparedScan(ScanRef(patient), {"image": image}, {"roi": roi}, ScanProvenance(patient))
        result = extract_prepared([prepared], spec_from_params(params), workers=1).scans[0]
        if result.error is not None:
            raise ImageError(result.error)
        return {k[len("image_roi_"):]: v for k, v in result.features.items()}
    log.info("settings outside radscore's engine: running plain PyRadiomics")
    if "LBP3D" in image_types:
        pyrad.install_lbp3d()
    setting = {**setting, "additionalInfo": False, "label": 1}  # the loader made the mask 0/1
    ext = pyrad.make_extractor(setting, image_types, classes)
    try:
        return pyrad.execute(ext, image, mask, label=1)
    except ValueError as exc:
        raise ImageError(f"PyRadiomics refused the input: {exc}", patient=patient) from None


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
        values = extract_with_params(img, loaded.mask, p, patient=patient_id)
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
