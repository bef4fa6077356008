"""IBSI 1 digital phantom: every feature against its consensus value, IBSI's tolerance only.

A feature matches when its value rounded to 3 significant digits is within the
reference's own tolerance column (:mod:`ibsi_check`; 0 for every phantom feature but the
PCA axes). 99 of the 102 features PyRadiomics has an IBSI counterpart for match. The three
that do not are PyRadiomics' documented definitions, which radscore keeps by design
(values equal to PyRadiomics', ``test_parity.py``); each is an ``xfail(strict=True)``, so a
change either way is noticed, and ``test_deviations_are_the_documented_ones`` checks that
undoing the documented difference gives IBSI's value:

* ``Kurtosis``: PyRadiomics reports kurtosis, IBSI excess kurtosis (PyRadiomics docs,
  "Radiomic Features", first order: IBSI's + 3).
* ``MinorAxisLength``, ``LeastAxisLength``: PyRadiomics' PCA eigenvalues come from
  ``numpy.cov``, the sample (n - 1) covariance; IBSI's from the population (n) one, so
  PyRadiomics' axis = IBSI's x sqrt((n - 1) / n): 0.7 % on this 74-voxel ROI, more than the
  tolerance (on the CT phantom's ~30 000 voxels it is ~1e-5 and they pass).
  ``MajorAxisLength`` has the same factor but passes at the edge of its tolerance
  (11.33, rounded 11.3, vs IBSI 11.4 +- 0.1);
  ``Elongation``/``Flatness`` are ratios, where it cancels.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from ibsi_check import FEATURES, reference, within

from radscore.features import engine
from radscore.features.ibsi_names import ibsi_family, ibsi_tag

pytestmark = pytest.mark.reference

_PCA = ("PyRadiomics' PCA axes use the sample (n-1) covariance (numpy.cov): IBSI's axis x sqrt((n-1)/n), "
        "0.7 % on 74 voxels")
#: feature -> the documented PyRadiomics-vs-IBSI definition difference that makes it fail
DEVIATIONS = {
    "original_firstorder_Kurtosis": "PyRadiomics' Kurtosis is IBSI's excess kurtosis + 3",
    "original_shape_LeastAxisLength": _PCA,
    "original_shape_MinorAxisLength": _PCA,
}
PASSING = 99  # of 102: all but DEVIATIONS


@pytest.fixture(scope="module")
def phantom(reference_dir):
    """(radscore's values, the IBSI reference, ROI voxel count) of the digital phantom."""
    root = reference_dir / "ibsi"
    image = sitk.ReadImage(str(root / "digital_phantom/nifti/image/phantom.nii.gz"))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "digital_phantom/nifti/mask/mask.nii.gz"))) > 0
    assert mask.sum() == 74
    # no discretisation: the phantom holds gray levels 1..6, bin width 1 leaves them as they are
    st = {"binWidth": 1, "label": 1, "voxelArrayShift": 0}
    ours = engine.extract_image(image, {"roi": mask}, {"Original": {}}, list(engine.TEXTURE_CLASSES), st)["roi"]
    ours.update(engine.shape_features({"roi": mask}, image.GetSpacing())["roi"])
    return ours, reference(root / "reference_values/ibsi_1_dig_phantom.csv"), int(mask.sum())


def _matches(phantom, name: str) -> bool:
    ours, ref, _ = phantom
    return within(ours[name], *ref[ibsi_tag(name)])


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=DEVIATIONS[n]))
    if n in DEVIATIONS else n for n in FEATURES])
def test_feature_matches_ibsi(phantom, name):
    ours, ref, _ = phantom
    assert _matches(phantom, name), (name, ours[name], ref[ibsi_tag(name)])


def test_pass_count(phantom):
    _, ref, _ = phantom
    assert all(ibsi_tag(n) in ref for n in FEATURES)
    total: dict[str, int] = {}
    for n in FEATURES:
        total[ibsi_family(ibsi_tag(n))] = total.get(ibsi_family(ibsi_tag(n)), 0) + 1
    assert total == {"morph": 11, "stat": 15, "ih": 2, "cm": 23, "rlm": 16, "szm": 16, "ngl": 14, "ngt": 5}
    failed = {n for n in FEATURES if not _matches(phantom, n)}
    assert failed == set(DEVIATIONS)
    assert len(FEATURES) - len(failed) == PASSING


def test_deviations_are_the_documented_ones(phantom):
    """Undoing each documented definition difference gives IBSI's value."""
    ours, ref, n = phantom
    assert within(ours["original_firstorder_Kurtosis"] - 3, *ref["stat_kurt"])
    for name in ("original_shape_LeastAxisLength", "original_shape_MinorAxisLength"):
        assert within(ours[name] / np.sqrt((n - 1) / n), *ref[ibsi_tag(name)]), name
