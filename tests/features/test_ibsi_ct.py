"""IBSI 1 CT phantom, configurations A-E, through ``radscore extract``'s parameter path.

A-E need resampling, re-segmentation and (A, B) 2-D extraction, which the shared-filter
engine leaves to plain PyRadiomics; so this checks PyRadiomics' definitions as radscore
runs them, per IBSI family. PyRadiomics' documented deviations from IBSI make some
families fail by design: its grid alignment for resampling (corner, not centre), no
intensity rounding after interpolation, fixed-bin-size bins anchored at 0, Kurtosis + 3,
PCA axes from the sample covariance, and config E's combined range + 3-sigma
re-segmentation (PyRadiomics applies one mode; the range is used here).
"""

from __future__ import annotations

import pytest
import SimpleITK as sitk

from radscore.features.commands import extract_with_params
from radscore.features.ibsi_names import ibsi_family, ibsi_tag

from test_ibsi import _reference  # noqa: E402  (same folder, rootdir conftest)

BASE = {"label": 1, "voxelArrayShift": 0}
CONFIGS = {
    "a": ({**BASE, "force2D": True, "resegmentRange": [-500, 400], "binWidth": 25}, "2.5D"),
    "b": ({**BASE, "force2D": True, "resampledPixelSpacing": [2, 2, 0], "interpolator": "sitkLinear",
           "resegmentRange": [-500, 400], "binCount": 32}, "2.5D"),
    "c": ({**BASE, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkLinear",
           "resegmentRange": [-1000, 400], "binWidth": 25}, "3D"),
    "d": ({**BASE, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkLinear",
           "resegmentMode": "sigma", "resegmentRange": [-3, 3], "binCount": 32}, "3D"),
    "e": ({**BASE, "resampledPixelSpacing": [2, 2, 2], "interpolator": "sitkBSpline",
           "resegmentRange": [-1000, 400], "binCount": 32}, "3D"),
}

#: Families that must pass completely. Config A has no interpolation: everything but
#: Kurtosis (+3) matches. B-E interpolate: PyRadiomics resamples on a corner-aligned grid,
#: nearest-neighbour for the mask and without rounding intensities (IBSI: centre-aligned,
#: partial-volume mask >= 0.5, rounded HU), so most of their features deviate (measured
#: 2026-11: B 51/102, C 23/102, D 20/102, E 13/102 within tolerance).
MUST_PASS = {"a": {"morph", "ih", "cm", "rlm", "szm", "ngl", "ngt"}, "b": set(), "c": set(), "d": set(), "e": set()}


def family_results(values: dict[str, float], ref: dict[str, tuple[float, float]], dims: str):
    out: dict[str, list] = {}
    for name, value in values.items():
        tag = ibsi_tag(name, dims)
        if tag is None or tag not in ref:
            continue
        r, tol = ref[tag]
        fam = out.setdefault(ibsi_family(tag), [0, 0, []])
        fam[1] += 1
        if abs(value - r) <= tol:
            fam[0] += 1
        else:
            fam[2].append(name)
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ct_phantom_config(reference_dir, config):
    root = reference_dir / "ibsi"
    image = sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/image/phantom.nii.gz"))
    mask = sitk.ReadImage(str(root / "ct_radiomics_phantom/nifti/mask/mask.nii.gz"), sitk.sitkUInt32)
    setting, dims = CONFIGS[config]
    values = extract_with_params(image, mask, {"setting": setting, "imageType": {"Original": {}}, "featureClass": None})
    ref = _reference(root / f"reference_values/ibsi_1_chest_config_{config}.csv")
    fams = family_results(values, ref, dims)
    print(config, {f: f"{p}/{n}" for f, (p, n, _) in sorted(fams.items())})
    assert sum(n for _, n, _ in fams.values()) >= 90  # the mapping reaches most features
    for fam in MUST_PASS[config]:
        p, n, failed = fams[fam]
        assert p == n, f"config {config}, family {fam}: {failed}"
    if config == "a":
        assert fams["stat"][2] == ["original_firstorder_Kurtosis"]
