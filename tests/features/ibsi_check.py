"""IBSI 1 reference values, IBSI's comparison rule, and the CT phantom run through radscore.

Comparison (IBSI 1 reference manual, "Benchmarks"): every value contributed to the
consensus was rounded to 3 significant digits, and the tolerance is the reference's own
column (0 for the digital phantom; 5 % of the interquartile range over perturbed images
for the CT phantom). So a feature matches when ``|round_3_significant(ours) - ref| <= tol``;
nothing is widened by how many digits the reference happens to be printed with.

The CT phantom's configurations A-E run on radscore only: its resampling
(:func:`radscore.imaging.resample.resample_to_spacing`, centre-aligned grid, and
:func:`~radscore.imaging.resample.resample_mask_like` with IBSI's partial-volume mask),
its re-segmentation (:func:`radscore.imaging.resegment.resegment`) and its extraction
runner (:func:`radscore.features.runner.extract_prepared`, which runs
:func:`radscore.features.engine.extract_image` and the shape task). PyRadiomics produces
none of the values under test.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radscore.features.ibsi_names import IBSI_TAGS
from radscore.features.runner import extract_prepared
from radscore.features.settings import spec_from_params
from radscore.imaging.preprocess import PreparedScan
from radscore.imaging.resample import resample_mask_like, resample_to_spacing
from radscore.imaging.resegment import resegment

#: The 102 features PyRadiomics has an IBSI counterpart for (see ``ibsi_names``).
FEATURES = sorted(f"original_{k}" for k in IBSI_TAGS)


@cache
def reference(path: Path) -> dict[str, tuple[Decimal, Decimal]]:
    """IBSI tag -> (consensus value, tolerance), exactly as printed in a ``value;tolerance;tag`` file."""
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))[1:]
    return {r[2]: (Decimal(r[0]), Decimal(r[1])) for r in rows if r[0] != ""}


def round_significant(x: float, digits: int = 3) -> Decimal:
    """``x`` rounded to ``digits`` significant digits, as a decimal (IBSI's rounding of contributed values)."""
    return Decimal(f"{float(x):.{digits - 1}e}")


def within(value: float, ref: Decimal, tol: Decimal) -> bool:
    """IBSI's match: ``value`` rounded to 3 significant digits within ``tol`` of ``ref``.

    In decimal arithmetic, so a difference equal to the tolerance (0.0511 - 0.0506 vs
    0.0005) is inside it rather than decided by binary floating-point representation.
    """
    if not np.isfinite(value):
        return False
    return abs(round_significant(value) - ref) <= tol


# ------------------------------------------------------------------ the CT phantom
#: IBSI 1 configurations (reference manual, "Reference data sets"): spacing (x, y, z) mm
#: (None: keep that axis; no interpolation at all for A), image interpolator,
#: re-segmentation range and outlier sigma, discretisation, 2.5-D (force2D) or 3-D.
CT_CONFIGS = {
    "a": {"spacing": None, "interpolator": None, "range": (-500, 400), "sigma": None,
          "setting": {"binWidth": 25, "force2D": True}, "dims": "2.5D"},
    "b": {"spacing": (2.0, 2.0, None), "interpolator": "linear", "range": (-500, 400), "sigma": None,
          "setting": {"binCount": 32, "force2D": True}, "dims": "2.5D"},
    "c": {"spacing": (2.0, 2.0, 2.0), "interpolator": "linear", "range": (-1000, 400), "sigma": None,
          "setting": {"binWidth": 25}, "dims": "3D"},
    "d": {"spacing": (2.0, 2.0, 2.0), "interpolator": "linear", "range": None, "sigma": 3.0,
          "setting": {"binCount": 32}, "dims": "3D"},
    "e": {"spacing": (2.0, 2.0, 2.0), "interpolator": "bspline", "range": (-1000, 400), "sigma": 3.0,
          "setting": {"binCount": 32}, "dims": "3D"},
}


def ibsi_interpolate(image: sitk.Image, mask: sitk.Image, spacing, interpolator: str) -> tuple[sitk.Image, sitk.Image]:
    """IBSI 1 image and mask interpolation (centre-aligned grid, rounded HU, partial-volume mask).

    ``spacing``: new (x, y, z) spacing in mm, ``None`` keeping that axis (2-D, in-plane
    only). Returns the float32 image with integer HU and the uint8 mask (fraction >= 0.5)
    on its grid.
    """
    new_spacing = [old if s is None else s for s, old in zip(spacing, image.GetSpacing())]
    # IBSI: interpolate at full (32-bit float) precision; -1000 HU (air) beyond the CT's
    # edge: the ROI is far inside, so IBSI's nearest-boundary padding gives the same ROI values
    resampled = resample_to_spacing(sitk.Cast(image, sitk.sitkFloat32), new_spacing, interpolator, -1000.0)
    rounded = sitk.GetImageFromArray(np.rint(sitk.GetArrayFromImage(resampled)).astype(np.float32))
    rounded.CopyInformation(resampled)
    return rounded, resample_mask_like(mask, rounded, "partial_volume")


@cache
def ct_prepared(root: Path, config: str) -> tuple[sitk.Image, np.ndarray, np.ndarray]:
    """Configuration ``config``'s image, morphological mask and intensity mask (IBSI preprocessing)."""
    c = CT_CONFIGS[config]
    image = sitk.Cast(sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/image/phantom.nii.gz")), sitk.sitkFloat32)
    mask = sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/mask/mask.nii.gz"))
    if c["spacing"] is not None:
        image, mask = ibsi_interpolate(image, mask, c["spacing"], c["interpolator"])
    morph = sitk.GetArrayFromImage(mask) > 0
    intensity = resegment(sitk.GetArrayFromImage(image), morph, c["range"], c["sigma"])
    return image, morph, intensity


@cache
def ct_features(root: Path, config: str) -> dict[str, float]:
    """PyRadiomics-named features of a configuration, from radscore's extraction runner.

    Shape from the morphological mask, all other classes from the intensity mask (IBSI).
    """
    image, morph, intensity = ct_prepared(root, config)
    setting = {"label": 1, "voxelArrayShift": 0, **CT_CONFIGS[config]["setting"]}
    spec = spec_from_params({"setting": setting, "imageType": {"Original": {}}, "featureClass": None})
    scan = PreparedScan.from_images(f"ibsi_{config}", {"image": image}, {"morph": morph, "intensity": intensity})
    result = extract_prepared([scan], spec, workers=1).scans[0]
    assert result.error is None, result.error
    out = {}
    for key, value in result.features.items():
        _, voi, name = key.split("_", 2)
        if (voi == "morph") == ("_shape_" in name):
            out[name] = value
    return out
