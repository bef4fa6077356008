"""IBSI 1 CT phantom, configurations A-E, every feature on radscore's own path.

Each configuration's IBSI preprocessing and extraction is radscore's (:mod:`ibsi_check`):
centre-aligned resampling with rounded HU and a partial-volume mask (B-E; A is not
interpolated), range and 3-sigma re-segmentation (:mod:`radscore.imaging.resegment`),
then the extraction runner with the configuration's discretisation (and ``force2D``, IBSI's
2.5-D, for A and B); shape from the morphological mask, the rest from the re-segmented one.
The interpolated and re-segmented ROIs are checked against IBSI's diagnostic values in
``test_ibsi_ct_preprocessed.py``. A feature matches when its value rounded to 3 significant
digits is within the reference's own tolerance (IBSI's rule, :func:`ibsi_check.within`).

Pass counts (of 102): A 101, B 101, C 79, D 101, E 101. Every failure is a documented
PyRadiomics definition, which radscore keeps by design (its values equal PyRadiomics',
``test_parity.py``), and is an ``xfail(strict=True)`` naming it:

* ``Kurtosis`` (all configurations): PyRadiomics reports kurtosis, IBSI excess kurtosis
  (PyRadiomics docs, "Radiomic Features", first order: IBSI's + 3).
* C only (fixed bin size 25 HU, re-segmentation range [-1000, 400]): IBSI anchors the
  bins at the range's lower bound (-1000 HU); PyRadiomics at the multiple of the bin width
  at or below the ROI minimum and numbers that bin 1 (``imageoperations.getBinEdges``: "the
  minimum gray level intensity inside the ROI after binning is always 1"). The ROI minimum
  is -939 HU, so every grey level is IBSI's - 2, and exactly the 22 features that depend on
  the absolute grey-level number fail: joint/sum average, autocorrelation, the low/high
  grey-level emphases of GLRLM, GLSZM and GLDM, and NGTDM busyness (``|i p_i - j p_j|`` is
  not shift invariant). ``test_ibsi_ct_preprocessed.py`` checks the shift quantitatively.
  (A also uses fixed bin size, anchored at -500 HU; its ROI minimum after re-segmentation
  is within the lowest 25 HU bin, so there both anchors agree.)
"""

from __future__ import annotations

import pytest
from ibsi_check import CT_CONFIGS, FEATURES, ct_features, reference, within

from radscore.features.ibsi_names import ibsi_family, ibsi_tag

pytestmark = pytest.mark.reference

KURTOSIS = "PyRadiomics' Kurtosis is IBSI's excess kurtosis + 3"
ANCHOR = ("PyRadiomics' fixed-bin-size bins start at a multiple of the bin width below the ROI minimum "
          "(grey levels = IBSI's - 2 here); IBSI anchors them at the re-segmentation minimum, -1000 HU")
#: C: the features that depend on the absolute grey-level number
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
#: config -> {feature: the definition difference that makes it fail}
DEVIATIONS = {c: {"original_firstorder_Kurtosis": KURTOSIS} for c in CT_CONFIGS}
DEVIATIONS["c"].update(dict.fromkeys(sorted(C_ANCHOR), ANCHOR))
PASSING = {"a": 101, "b": 101, "c": 79, "d": 101, "e": 101}  # of 102


def _matches(root, config: str, name: str) -> bool:
    ref = reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    return within(ct_features(root, config)[name], *ref[ibsi_tag(name, CT_CONFIGS[config]["dims"])])


def _cases():
    for config in sorted(CT_CONFIGS):
        for name in FEATURES:
            reason = DEVIATIONS[config].get(name)
            marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
            yield pytest.param(config, name, marks=marks, id=f"{config}-{name}")


@pytest.mark.parametrize(("config", "name"), list(_cases()))
def test_feature_matches_ibsi(reference_dir, config, name):
    root = reference_dir / "ibsi"
    assert _matches(root, config, name), (config, name, ct_features(root, config)[name])


@pytest.mark.parametrize("config", sorted(CT_CONFIGS))
def test_pass_count(reference_dir, config):
    root = reference_dir / "ibsi"
    ref = reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    tags = [ibsi_tag(n, CT_CONFIGS[config]["dims"]) for n in FEATURES]
    assert all(t in ref for t in tags)
    families = {ibsi_family(t) for t in tags}
    assert families == {"morph", "stat", "ih", "cm", "rlm", "szm", "ngl", "ngt"} and len(tags) == 102
    failed = {n for n in FEATURES if not _matches(root, config, n)}
    assert failed == set(DEVIATIONS[config])
    assert len(FEATURES) - len(failed) == PASSING[config]
