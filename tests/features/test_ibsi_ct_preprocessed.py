"""IBSI 1 CT phantom, configurations B-E, with IBSI's interpolation done before PyRadiomics.

``test_ibsi_ct.py`` lets PyRadiomics resample (``resampledPixelSpacing``) and finds most
B-E features outside the IBSI tolerances (B 51/102, C 23/102, D 20/102, E 13/102). Here
the IBSI 1 preprocessing (reference manual, "Reference data sets", configurations B-E and
"Notes on interpolation") is done outside the extractor:

* the image is converted to 32-bit float and resampled with SimpleITK on a grid whose
  centre coincides with the original grid's centre, of size ``ceil(size * spacing /
  new spacing)`` (:func:`radscore.imaging.resample.resample_to_spacing`), to 2 x 2 mm
  in-plane keeping the 3 mm slices (B, 2-D) or 2 x 2 x 2 mm (C-E); (bi/tri)linear for
  B-D, tricubic spline for E (``sitkBSpline``: ITK's ``BSplineInterpolateImageFunction``
  of order 3, which prefilters to B-spline coefficients and so interpolates, as IBSI's
  cubic spline does); the interpolated intensities are rounded to integer HU;
* the mask is interpolated linearly as a float fraction and kept where >= 0.5
  (:func:`radscore.imaging.resample.resample_mask_like`, ``partial_volume``);

then ``extract_with_params`` runs without ``resampledPixelSpacing``, with IBSI's
re-segmentation and discretisation as PyRadiomics parameters (``force2D`` for B, which
is IBSI's 2.5-D aggregation). The IBSI diagnostic values of the interpolated image and
ROI (dimensions, voxel count, mean/min/max) are checked first, so the preprocessing
itself is verified against the reference before the features are.

Measured (SimpleITK 2.5, PyRadiomics 3): after this preprocessing every family of B and
D passes except one feature, and C/E fail only where PyRadiomics documents a deviation:

* ``Kurtosis`` (all configs): PyRadiomics reports kurtosis, IBSI excess kurtosis
  (PyRadiomics docs, "Radiomic Features", first order: IBSI + 3); checked as value - 3.
* C (fixed bin size 25 HU, range [-1000, 400]): IBSI anchors the bins at the
  re-segmentation minimum (-1000 HU); PyRadiomics at a multiple of the bin width below
  the ROI minimum and renumbers so the lowest bin is 1 (``imageoperations.getBinEdges``
  docstring: "the minimum gray level intensity inside the ROI after binning is always
  1"). The ROI minimum here is -939 HU, so every PyRadiomics grey level is IBSI's - 2.
  Exactly the features that depend on the absolute grey-level number fail (joint/sum
  average, autocorrelation, low/high grey-level emphases, NGTDM busyness whose
  denominator ``|i p_i - j p_j|`` is not shift invariant); joint average + 2 and sum
  average + 4 then match IBSI.
* E (range [-1000, 400] and 3-sigma): PyRadiomics applies one ``resegmentMode``; with
  sigma alone the voxels above 400 HU stay in (maximum 627 HU, IBSI 345), so first-order
  maximum/range and all texture families fail while morphology passes. Applying the
  range to the intensity mask before extraction (sigma then computed on it, as IBSI)
  and taking morphology from the un-resegmented mask makes E pass like D.

PCA axis lengths (PyRadiomics' n-1 covariance, failing on the 74-voxel digital phantom)
pass here: with ~30 000-46 000 voxels sqrt((n-1)/n) differs from 1 by ~1e-5.

No failure is left that these documented conventions do not explain; the remaining
deviations of ``test_ibsi_ct.py`` are PyRadiomics' resampling (corner-aligned grid,
nearest-neighbour mask, no intensity rounding), not its feature definitions. Each of the
three matters (measured by undoing one step of :func:`ibsi_interpolate` at a time, not
asserted; features within tolerance of 102): B 101 -> 32 with the grid origin at the
input origin instead of centre-aligned, -> 89 without rounding, -> 99 with a
nearest-neighbour mask; D 101 -> 42, 101, 37 respectively.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.features.commands import extract_with_params
from radscore.imaging.resample import resample_mask_like, resample_to_spacing

from test_ibsi import _reference  # noqa: E402  (same folder, rootdir conftest)
from test_ibsi_ct import family_results  # noqa: E402

BASE = {"label": 1, "voxelArrayShift": 0}
#: config -> (spacing (x, y, z) mm with None = keep, interpolator, PyRadiomics setting, IBSI dims)
CONFIGS = {
    "b": ((2.0, 2.0, None), "linear",
          {**BASE, "force2D": True, "resegmentRange": [-500, 400], "binCount": 32}, "2.5D"),
    "c": ((2.0, 2.0, 2.0), "linear", {**BASE, "resegmentRange": [-1000, 400], "binWidth": 25}, "3D"),
    "d": ((2.0, 2.0, 2.0), "linear",
          {**BASE, "resegmentMode": "sigma", "resegmentRange": [-3, 3], "binCount": 32}, "3D"),
    # PyRadiomics has one re-segmentation mode: sigma here, IBSI's range is added in
    # test_config_e_range_and_sigma
    "e": ((2.0, 2.0, 2.0), "bspline",
          {**BASE, "resegmentMode": "sigma", "resegmentRange": [-3, 3], "binCount": 32}, "3D"),
}
FAMILIES = {"morph", "stat", "ih", "cm", "rlm", "szm", "ngl", "ngt"}
KURTOSIS = "original_firstorder_Kurtosis"
#: C: the features that depend on the absolute grey-level number (PyRadiomics' FBS bins are
#: IBSI's shifted by a constant), measured to be exactly C's failures besides Kurtosis.
C_ANCHOR = {f"original_{n}" for n in (
    "glcm_Autocorrelation", "glcm_JointAverage", "glcm_SumAverage", "ngtdm_Busyness",
    "gldm_HighGrayLevelEmphasis", "gldm_LowGrayLevelEmphasis", "gldm_LargeDependenceHighGrayLevelEmphasis",
    "gldm_LargeDependenceLowGrayLevelEmphasis", "gldm_SmallDependenceHighGrayLevelEmphasis",
    "gldm_SmallDependenceLowGrayLevelEmphasis",
    "glrlm_HighGrayLevelRunEmphasis", "glrlm_LowGrayLevelRunEmphasis", "glrlm_LongRunHighGrayLevelEmphasis",
    "glrlm_LongRunLowGrayLevelEmphasis", "glrlm_ShortRunHighGrayLevelEmphasis", "glrlm_ShortRunLowGrayLevelEmphasis",
    "glszm_HighGrayLevelZoneEmphasis", "glszm_LowGrayLevelZoneEmphasis", "glszm_LargeAreaHighGrayLevelEmphasis",
    "glszm_LargeAreaLowGrayLevelEmphasis", "glszm_SmallAreaHighGrayLevelEmphasis",
    "glszm_SmallAreaLowGrayLevelEmphasis")}


def ibsi_interpolate(image: sitk.Image, mask: sitk.Image, spacing, interpolator: str) -> tuple[sitk.Image, sitk.Image]:
    """IBSI 1 image and mask interpolation (centre-aligned grid, rounded HU, partial-volume mask).

    Parameters
    ----------
    image : SimpleITK.Image
        CT image (HU).
    mask : SimpleITK.Image
        Binary ROI mask on the image grid.
    spacing : sequence of 3 float or None
        New spacing (x, y, z) in mm; ``None`` keeps that axis' spacing (2-D, in-plane only).
    interpolator : {"linear", "bspline"}
        Image interpolator (IBSI "trilinear" / "tricubic spline").

    Returns
    -------
    (SimpleITK.Image, SimpleITK.Image)
        float32 image with integer HU, and the uint8 mask (fraction >= 0.5) on its grid.
    """
    new_spacing = [old if s is None else s for s, old in zip(spacing, image.GetSpacing())]
    # IBSI: interpolate at full (32-bit float) precision; an integer pixel type would truncate
    # -1000 HU is air, the value beyond the CT's edge; the ROI is far inside, so IBSI's
    # nearest-boundary padding would give the same ROI values
    resampled = resample_to_spacing(sitk.Cast(image, sitk.sitkFloat32), new_spacing, interpolator, -1000.0)
    rounded = sitk.GetImageFromArray(np.rint(sitk.GetArrayFromImage(resampled)).astype(np.float32))
    rounded.CopyInformation(resampled)
    return rounded, resample_mask_like(mask, rounded, "partial_volume")


def _load(root):
    image = sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/image/phantom.nii.gz"))
    mask = sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/mask/mask.nii.gz"))
    return image, mask


def _check_diagnostics(image: sitk.Image, mask: sitk.Image, ref) -> None:
    """The IBSI diagnostic features of the interpolated image and ROI, within their tolerances."""
    arr = sitk.GetArrayFromImage(image)
    roi = sitk.GetArrayFromImage(mask) > 0
    ours = {
        "img_dim_x_interp_img": image.GetSize()[0], "img_dim_y_interp_img": image.GetSize()[1],
        "img_dim_z_interp_img": image.GetSize()[2],
        "mean_int_interp_img": arr.mean(), "min_int_interp_img": arr.min(), "max_int_interp_img": arr.max(),
        "int_mask_vox_count_interp_roi": roi.sum(), "int_mask_mean_int_interp_roi": arr[roi].mean(),
        "int_mask_min_int_interp_roi": arr[roi].min(), "int_mask_max_int_interp_roi": arr[roi].max(),
    }
    bad = {k: (float(v), ref[k]) for k, v in ours.items() if abs(v - ref[k][0]) > ref[k][1]}
    assert not bad, f"interpolation diagnostics off (ours, (ref, tol)): {bad}"


def _families(values, ref, dims, config):
    fams = family_results(values, ref, dims)
    print(config, {f: f"{p}/{n}" for f, (p, n, _) in sorted(fams.items())})
    assert set(fams) == FAMILIES and sum(n for _, n, _ in fams.values()) == 102
    return fams


def _assert_kurtosis_plus_3(values, ref):
    r, tol = ref["stat_kurt"]
    assert abs(values[KURTOSIS] - 3 - r) <= tol


@pytest.mark.reference
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ct_phantom_preprocessed(reference_dir, config):
    root = reference_dir / "ibsi"
    spacing, interpolator, setting, dims = CONFIGS[config]
    image, mask = ibsi_interpolate(*_load(root), spacing, interpolator)
    ref = _reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    _check_diagnostics(image, mask, ref)

    values = extract_with_params(image, mask, {"setting": setting, "imageType": {"Original": {}}, "featureClass": None})
    fams = _families(values, ref, dims, config)
    failed = {name for _, _, names in fams.values() for name in names}
    _assert_kurtosis_plus_3(values, ref)
    if config in ("b", "d"):
        assert failed == {KURTOSIS}
    elif config == "c":
        assert failed == C_ANCHOR | {KURTOSIS}
        # the shift is the number of 25 HU bins between IBSI's anchor and PyRadiomics' one
        roi_min = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) > 0].min()
        shift = math.floor(roi_min / 25) - math.floor(-1000 / 25)
        assert shift == 2
        for name, tag, k in [("glcm_JointAverage", "cm_joint_avg_3D_avg", 1),
                             ("glcm_SumAverage", "cm_sum_avg_3D_avg", 2)]:
            r, tol = ref[tag]
            assert abs(values[f"original_{name}"] + k * shift - r) <= tol, name
    else:  # e: sigma alone keeps the voxels above IBSI's 400 HU range
        assert fams["morph"][0] == fams["morph"][1]
        assert set(fams["stat"][2]) == {KURTOSIS, "original_firstorder_Maximum", "original_firstorder_Range"}
        assert values["original_firstorder_Maximum"] > 400
        for fam in ("cm", "rlm", "szm", "ngl", "ngt"):
            assert fams[fam][0] < fams[fam][1]


@pytest.mark.reference
def test_config_e_range_and_sigma(reference_dir):
    """E with IBSI's range applied to the intensity mask first, then PyRadiomics' 3-sigma."""
    root = reference_dir / "ibsi"
    spacing, interpolator, setting, dims = CONFIGS["e"]
    image, mask = ibsi_interpolate(*_load(root), spacing, interpolator)
    ref = _reference(root / "reference_values/ibsi_1_chest_config_e.csv")
    arr = sitk.GetArrayFromImage(image)
    morph = sitk.GetArrayFromImage(mask) > 0
    in_range = morph & (arr >= -1000) & (arr <= 400)
    intensity = sitk.GetImageFromArray(in_range.astype(np.uint8))
    intensity.CopyInformation(mask)

    params = {"setting": setting, "imageType": {"Original": {}}, "featureClass": None}
    values = extract_with_params(image, intensity, params)
    # IBSI's morphological mask is not re-segmented: shape from the interpolated mask
    shape = extract_with_params(image, mask, {**params, "featureClass": {"shape": []}})
    values = {k: v for k, v in values.items() if "_shape_" not in k}
    values.update({k: v for k, v in shape.items() if "_shape_" in k})

    # the re-segmented ROI matches IBSI's diagnostics (PyRadiomics' sigma on the range ROI)
    mu, sd = arr[in_range].mean(), arr[in_range].std()
    reseg = in_range & (np.abs(arr - mu) <= 3 * sd)
    for tag, v in [("int_mask_vox_count_reseg_roi", reseg.sum()),
                   ("int_mask_mean_int_reseg_roi", arr[reseg].mean()),
                   ("int_mask_min_int_reseg_roi", arr[reseg].min()),
                   ("int_mask_max_int_reseg_roi", arr[reseg].max())]:
        assert abs(v - ref[tag][0]) <= ref[tag][1], tag
    assert values["original_firstorder_Maximum"] == arr[reseg].max()

    fams = _families(values, ref, dims, "e (range + sigma)")
    failed = {name for _, _, names in fams.values() for name in names}
    assert failed == {KURTOSIS}
    _assert_kurtosis_plus_3(values, ref)
