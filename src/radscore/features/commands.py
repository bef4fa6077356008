"""``radscore extract``: one image + mask -> one CSV row, PyRadiomics' parameter files and names.

Users bring their existing PyRadiomics parameter file (``setting``, ``imageType``,
``featureClass``). Settings the shared-filter engine covers run there; anything else
(resampling, normalisation, re-segmentation, 2-D, a subset of features) runs through
plain PyRadiomics, so every parameter file gives PyRadiomics' values.
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
    return {
        "setting": dict(data.get("setting") or {}),
        "imageType": dict(data.get("imageType") or {"Original": {}}),
        "featureClass": data.get("featureClass"),
    }


def _read(path: str | Path, what: str, pixel: int | None = None) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path), pixel) if pixel is not None else sitk.ReadImage(str(path))
    except RuntimeError:
        raise ImageError(f"cannot read the {what}.", file=str(path), fix="check the path and format (NIfTI, NRRD, MHA).") from None


def extract_with_params(image: sitk.Image, mask: sitk.Image, params: dict[str, Any]) -> dict[str, float]:
    """PyRadiomics features of one image + mask for a PyRadiomics parameter dict."""
    from radscore.features import engine, pyrad

    setting = dict(params.get("setting") or {})
    setting["additionalInfo"] = False
    label = int(setting.get("label", 1))
    image_types = pyrad.canonical_image_types(params.get("imageType") or {"Original": {}})
    classes = params.get("featureClass")
    if classes is not None and not isinstance(classes, dict):
        raise ConfigError("featureClass must map class names to feature lists (or null).", file="featureClass")
    whole_classes = classes is None or all(not v for v in classes.values())
    if image.GetSize() != mask.GetSize():
        raise ImageError(
            f"image size {image.GetSize()} and mask size {mask.GetSize()} differ.",
            fix="use a mask on the image grid (or set resampledPixelSpacing in the params).",
        )
    roi = sitk.GetArrayFromImage(mask) == label
    if not roi.any():
        raise ImageError(f"the mask has no voxel with label {label}.", fix="set setting: label: in the params file.")
    if engine.fast_path_supported(setting, image_types) and whole_classes and image.GetDimension() == 3:
        names = list(classes) if classes is not None else ["shape", *engine.TEXTURE_CLASSES]
        texture = [c for c in names if c in engine.TEXTURE_CLASSES]
        out: dict[str, float] = {}
        if "shape" in names:
            out.update(engine.shape_features({"roi": roi}, image.GetSpacing())["roi"])
        out.update(engine.extract_image(image, {"roi": roi}, image_types, texture, setting)["roi"])
        return out
    log.info("settings outside the shared-filter engine: running plain PyRadiomics")
    if "LBP3D" in image_types:
        pyrad.install_lbp3d()
    ext = pyrad.make_extractor(setting, image_types, classes)
    try:
        return pyrad.execute(ext, image, mask, label=label)
    except ValueError as exc:
        raise ImageError(f"PyRadiomics refused the input: {exc}") from None


def cmd_extract(image: str | Path, mask: str | Path, params: str | Path | None, out: str | Path) -> int:
    """Write one CSV row of PyRadiomics features (``original_glcm_Contrast``, ...) for image + mask.

    Returns
    -------
    int
        0 on success (errors are raised as :class:`~radscore.errors.RadscoreError`).
    """
    p = read_params(params)
    img = _read(image, "image")
    msk = _read(mask, "mask", sitk.sitkUInt32)
    values = extract_with_params(img, msk, p)
    row = {"Image": str(image), "Mask": str(mask), **values}
    atomic_write_csv(out, pd.DataFrame([row]), float_format="%.17g")
    log.info("wrote %d features to %s", len(values), out)
    return 0
