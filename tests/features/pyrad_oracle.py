"""Plain PyRadiomics, one ``execute`` per VOI: the oracle radscore's engine is tested against.

Test-only (PyRadiomics is in the ``test`` extra, not a run-time dependency); also used by
``benchmarks/extraction.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import SimpleITK as sitk

log = logging.getLogger(__name__)


def quiet_pyradiomics() -> None:
    """PyRadiomics attaches a handler at import and logs every step at INFO; keep errors only."""
    import radiomics

    radiomics.setVerbosity(40)
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def make_extractor(
    settings: dict[str, Any],
    image_types: dict[str, dict[str, Any]],
    feature_classes: list[str] | dict[str, list[str]] | None,
):
    """A configured ``RadiomicsFeatureExtractor``.

    Parameters
    ----------
    settings : dict
        PyRadiomics ``setting`` section (binWidth, binCount, label, ...).
    image_types : dict
        PyRadiomics ``imageType`` section, ``{"original": {}, "LoG": {"sigma": [1.0]}}``.
    feature_classes : list or dict, optional
        Class names (all features of each), or PyRadiomics' ``featureClass`` mapping of
        class -> feature names (empty list / None = all). None enables all classes.
    """
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from radscore.features.settings import canonical_image_types

    quiet_pyradiomics()
    ext = RadiomicsFeatureExtractor(**settings)
    ext.disableAllImageTypes()
    ext.enableImageTypes(**canonical_image_types(image_types))
    if feature_classes is not None:
        ext.disableAllFeatures()
        if isinstance(feature_classes, dict):
            ext.enableFeaturesByName(**{k: list(v or []) for k, v in feature_classes.items()})
        else:
            for name in feature_classes:
                ext.enableFeatureClassByName(name)
    return ext


def execute(extractor, image: sitk.Image, mask: np.ndarray | sitk.Image, label: int = 1) -> dict[str, float]:
    """One PyRadiomics ``execute``; diagnostics columns dropped, values as floats."""
    if not isinstance(mask, sitk.Image):
        m = sitk.GetImageFromArray(np.asarray(mask).astype(np.uint8))
        m.CopyInformation(image)
        mask = m
    out = extractor.execute(image, mask, label=label)
    return {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}


def _lbp3d_generator(inputImage, inputMask, **kwargs):  # noqa: N803 (PyRadiomics' signature)
    """Drop-in for ``imageoperations.getLBP3DImage`` on current SciPy (see :mod:`.lbp3d`)."""
    from radscore.features.lbp3d import lbp3d

    im = sitk.GetArrayFromImage(inputImage)
    ma = sitk.GetArrayFromImage(inputMask) == kwargs.get("label", 1)
    res = lbp3d(
        im, ma, levels=int(kwargs.get("lbp3DLevels", 2)), radius=float(kwargs.get("lbp3DIcosphereRadius", 1)),
        subdivisions=int(kwargs.get("lbp3DIcosphereSubdivision", 1)),
    )
    for name, arr in res.items():
        out = sitk.GetImageFromArray(arr)
        out.CopyInformation(inputImage)
        yield out, name, kwargs


def install_lbp3d() -> None:
    """Make PyRadiomics' ``LBP3D`` image type use :func:`radscore.features.lbp3d.lbp3d`.

    PyRadiomics' own version needs SciPy functions removed in SciPy 1.15+, and without them
    silently yields no image. Used so the plain-PyRadiomics oracle and benchmark cover the
    full protocol.
    """
    from radiomics import imageoperations

    imageoperations.getLBP3DImage = _lbp3d_generator
