"""IBSI 1 CT phantom: radscore's preprocessing against IBSI's diagnostics, and the deviations explained.

``test_ibsi_ct.py`` checks every feature of configurations A-E on radscore's own path
(:func:`ibsi_check.ct_prepared`, :func:`ibsi_check.ct_features`). Here:

* the preprocessing itself, against IBSI's diagnostic values of the interpolated image,
  the interpolated ROI and the re-segmented ROI (dimensions, voxel counts, mean/min/max),
  within their tolerances, so a feature failure cannot hide a preprocessing error. The
  IBSI 1 preprocessing (reference manual, "Reference data sets", configurations B-E and
  "Notes on interpolation"): the image at 32-bit float, resampled on a grid whose centre
  is the original grid's centre, of size ``ceil(size * spacing / new spacing)``
  (:func:`radscore.imaging.resample.resample_to_spacing`), to 2 x 2 mm in-plane keeping the
  3 mm slices (B) or 2 x 2 x 2 mm (C-E); (bi/tri)linear for B-D, tricubic spline for E
  (``sitkBSpline``: ITK's ``BSplineInterpolateImageFunction`` of order 3, which
  prefilters to B-spline coefficients and so interpolates, as IBSI's cubic spline does);
  intensities rounded to integer HU; the mask interpolated linearly as a fraction and kept
  where >= 0.5 (:func:`radscore.imaging.resample.resample_mask_like`, ``partial_volume``);
  then range re-segmentation and, for D and E, 3-sigma outlier filtering computed on the
  range-re-segmented ROI (:func:`radscore.imaging.resegment.resegment`);
* the documented PyRadiomics definitions that ``test_ibsi_ct.py`` lists as expected
  failures, quantitatively: Kurtosis - 3 is IBSI's excess kurtosis in every configuration,
  and C's fixed-bin-size features shifted by the anchor difference (2 bins) match IBSI.

Each preprocessing step matters (measured when it was written, with PyRadiomics'
extraction, whose values radscore's equal; not asserted): undoing one at a time gave (features within tolerance of 102) B 101 -> 32 with the grid origin at the
input origin instead of centre-aligned, -> 89 without rounding, -> 99 with a
nearest-neighbour mask; D 101 -> 42, 101, 37 respectively.
"""

from __future__ import annotations

import math

import pytest
import SimpleITK as sitk
from ibsi_check import CT_CONFIGS, ct_features, ct_prepared, reference, within

pytestmark = pytest.mark.reference


@pytest.mark.parametrize("config", sorted(CT_CONFIGS))
def test_preprocessing_matches_ibsi_diagnostics(reference_dir, config):
    root = reference_dir / "ibsi"
    image, morph, intensity = ct_prepared(root, config)
    ref = reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    arr = sitk.GetArrayFromImage(image)
    ours = {
        "img_dim_x_interp_img": image.GetSize()[0], "img_dim_y_interp_img": image.GetSize()[1],
        "img_dim_z_interp_img": image.GetSize()[2],
        "mean_int_interp_img": arr.mean(), "min_int_interp_img": arr.min(), "max_int_interp_img": arr.max(),
        "int_mask_vox_count_interp_roi": morph.sum(), "int_mask_mean_int_interp_roi": arr[morph].mean(),
        "int_mask_min_int_interp_roi": arr[morph].min(), "int_mask_max_int_interp_roi": arr[morph].max(),
        "morph_mask_vox_count_reseg_roi": morph.sum(),
        "int_mask_vox_count_reseg_roi": intensity.sum(), "int_mask_mean_int_reseg_roi": arr[intensity].mean(),
        "int_mask_min_int_reseg_roi": arr[intensity].min(), "int_mask_max_int_reseg_roi": arr[intensity].max(),
    }
    bad = {k: (float(v), *map(str, ref[k])) for k, v in ours.items() if not within(float(v), *ref[k])}
    assert not bad, f"config {config}: diagnostics off (ours, ref, tol): {bad}"


@pytest.mark.parametrize("config", sorted(CT_CONFIGS))
def test_kurtosis_is_ibsi_excess_kurtosis_plus_3(reference_dir, config):
    root = reference_dir / "ibsi"
    ref = reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    k = ct_features(root, config)["original_firstorder_Kurtosis"]
    assert not within(k, *ref["stat_kurt"])
    assert within(k - 3, *ref["stat_kurt"])


def test_config_c_grey_levels_shifted_by_the_bin_anchor(reference_dir):
    """C: PyRadiomics' grey levels are IBSI's - 2; joint average + 2 and sum average + 4 match IBSI."""
    root = reference_dir / "ibsi"
    image, _, intensity = ct_prepared(root, "c")
    roi_min = float(sitk.GetArrayFromImage(image)[intensity].min())
    width, low = CT_CONFIGS["c"]["setting"]["binWidth"], CT_CONFIGS["c"]["range"][0]
    # bins between IBSI's anchor (the range minimum) and PyRadiomics' (a multiple of the width below the ROI minimum)
    shift = math.floor(roi_min / width) - math.floor(low / width)
    assert shift == 2
    values = ct_features(root, "c")
    ref = reference(root / "reference_values/ibsi_1_chest_config_c.csv")
    for name, tag, k in [("glcm_JointAverage", "cm_joint_avg_3D_avg", 1), ("glcm_SumAverage", "cm_sum_avg_3D_avg", 2)]:
        v = values[f"original_{name}"]
        assert not within(v, *ref[tag]) and within(v + k * shift, *ref[tag]), name
