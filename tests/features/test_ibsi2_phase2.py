"""IBSI 2 phase 2: intensity statistics of filtered images of the IBSI CT phantom.

The image processing is IBSI 2's for phase 2 (reference manual arXiv:2006.05470, chapter 6),
on radscore's own functions:

* configuration A (2-D): no interpolation; each axial slice filtered in 2-D;
* configuration B (3-D): resampling to 1 mm isotropic voxels (centre-aligned grid, cubic
  B-spline, intensities rounded to integers) and the partial-volume mask (fraction >= 0.5)
  (``ibsi_check.ibsi_interpolate``, shared with the IBSI 1 tests); 3-D filters;
* both: re-segmentation of the mask to [-1000, 400] HU on the unfiltered image
  (:func:`radscore.imaging.resegment.resegment`), the filter with the mirror boundary on
  the image, and the 18 statistics (:func:`radscore.features.ibsi2.statistics.intensity_statistics`)
  of the response inside the re-segmented mask.

The filter runs on the ROI's bounding box plus a 30 mm margin, which is inside the image and
beyond every configured filter's reach (largest: Gabor 4 sigma = 20 mm; Laws energy 9
voxels), so the ROI's responses equal those of the whole image.

A statistic passes when it is within the consensus tolerance. Configurations 6-9 (wavelets,
Simoncelli, Riesz) belong to the wavelet filters (``test_ibsi2_phase1_wavelets.py``'s owner
adds them to :data:`CONFIGS`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import require_reference
from ibsi2_check import phase2_reference, record
from ibsi_check import ibsi_interpolate

from radscore.features.ibsi2.dispatch import apply_filter
from radscore.features.ibsi2.statistics import STATISTIC_TAGS, intensity_statistics
from radscore.imaging.resegment import resegment

pytestmark = pytest.mark.reference

MARGIN_MM = 30.0
BOUNDARY = "mirror"
_GABOR = {"sigma_mm": 5.0, "lambda_mm": 2.0, "gamma": 1.5, "rotation_invariance": True, "theta_step_deg": 22.5,
          "pooling": "mean"}

#: configuration id -> (filter family or None for the unfiltered image, parameters);
#: the letter fixes 2-D (A) or 3-D (B)
CONFIGS: dict[str, tuple[str | None, dict]] = {
    "1.A": (None, {}),
    "1.B": (None, {}),
    "2.A": ("mean", {"support": 5}),
    "2.B": ("mean", {"support": 5}),
    "3.A": ("log", {"sigma_mm": 1.5, "truncate": 4.0}),
    "3.B": ("log", {"sigma_mm": 1.5, "truncate": 4.0}),
    "4.A": ("laws", {"kernel": "L5E5", "rotation_invariance": True, "pooling": "max", "energy_delta": 7}),
    "4.B": ("laws", {"kernel": "L5E5E5", "rotation_invariance": True, "pooling": "max", "energy_delta": 7}),
    "5.A": ("gabor", _GABOR),
    "5.B": ("gabor", _GABOR),
}


@cache
def _prepared(letter: str) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Image (cropped), its (z, y, x) spacing and the re-segmented mask of configuration A or B."""
    root = require_reference("ibsi") / "ct_radiomics_phantom" / "nifti"
    image = sitk.Cast(sitk.ReadImage(str(root / "image" / "phantom.nii.gz")), sitk.sitkFloat32)
    mask = sitk.ReadImage(str(root / "mask" / "mask.nii.gz"))
    if letter == "B":
        image, mask = ibsi_interpolate(image, mask, (1.0, 1.0, 1.0), "bspline")
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    roi = resegment(values, sitk.GetArrayFromImage(mask) > 0, (-1000.0, 400.0), None)
    spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
    box = []
    for axis in range(3):
        idx = np.nonzero(roi.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        pad = int(np.ceil(MARGIN_MM / spacing[axis]))
        assert idx[0] - pad >= 0 and idx[-1] + pad < roi.shape[axis], "margin must stay inside the image"
        box.append(slice(idx[0] - pad, idx[-1] + pad + 1))
    return values[tuple(box)], spacing, roi[tuple(box)]  # type: ignore[return-value]


@cache
def phase2_statistics(config: str):
    family, params = CONFIGS[config]
    letter = config.split(".")[1]
    image, spacing, roi = _prepared(letter)
    dimensions = "2D" if letter == "A" else "3D"
    response = image if family is None else apply_filter(
        family, image, spacing, boundary=BOUNDARY, dimensions=dimensions, params=params)
    return intensity_statistics(response[roi])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_statistics_within_consensus_tolerance(config: str) -> None:
    reference = phase2_reference()
    ours = phase2_statistics(config)
    failures = []
    for tag in STATISTIC_TAGS:
        if (config, tag) not in reference:  # no consensus value
            continue
        value, tolerance = reference[(config, tag)]
        passed = bool(abs(ours[tag] - value) <= tolerance)
        record(f"phase2 {config} {tag}", float(ours[tag]), value, tolerance, passed)
        if not passed:
            failures.append(f"{tag}: ours {ours[tag]:.4g}, reference {value:.4g} +- {tolerance:.2g}")
    assert not failures, f"{config}: " + "; ".join(failures)
