"""The IBSI 2 filter mode in extraction: ``ibsi2-<family>`` image types in study.yaml and ``radscore extract``.

Checked against the filter applied to the whole image (independent of the engine's box
cropping) and against numpy's mean of those values inside the mask.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.catalog import SEED_IMAGE_TYPES
from radscore.config import FeatureSettings
from radscore.errors import ConfigError
from radscore.features.commands import extract_with_params
from radscore.features.filters import bounding_box, filtered_images
from radscore.features.ibsi2.dispatch import apply_filter, filter_reach
from radscore.features.settings import spec_from_settings

SPACING_XYZ = (0.8, 0.9, 2.5)
CASES = {
    "ibsi2-mean": {"support": 5, "boundary": "zero", "dimensions": "3D"},
    "ibsi2-log": {"sigma_mm": 2.0, "boundary": "nearest", "dimensions": "2D"},
    "ibsi2-laws": {"kernel": "L5E5E5", "rotation_invariance": True, "energy_delta": 3, "boundary": "mirror",
                   "dimensions": "3D"},
    "ibsi2-gabor": {"sigma_mm": 2.0, "lambda_mm": 2.0, "gamma": 1.5, "rotation_invariance": True,
                    "theta_step_deg": 45.0, "boundary": "periodic", "dimensions": "3D"},
    "ibsi2-wavelet": {"wavelet": "db3", "subband": "HHL", "level": 1, "rotation_invariance": True,
                      "boundary": "mirror", "dimensions": "3D"},
    "ibsi2-simoncelli": {"level": 2, "boundary": "mirror", "dimensions": "2D"},
    "ibsi2-riesz": {"filter": "log", "filter_params": {"sigma_mm": 2.0}, "order": [0, 1, 1], "boundary": "nearest",
                    "dimensions": "3D"},
}


def _case() -> tuple[sitk.Image, np.ndarray]:
    rng = np.random.default_rng(11)
    arr = rng.normal(0, 100, size=(14, 40, 44)).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing(SPACING_XYZ)
    roi = np.zeros(arr.shape, bool)
    roi[5:9, 12:30, 15:33] = True  # near enough the z edges for the pad to be clipped there
    return image, roi


@pytest.mark.parametrize("itype", sorted(CASES))
def test_box_response_equals_whole_image_response(itype: str) -> None:
    image, roi = _case()
    box = bounding_box(roi)
    (name, on_box), = filtered_images(image, box, {itype: CASES[itype]}, roi)
    params = {k: v for k, v in CASES[itype].items() if k not in ("boundary", "dimensions")}
    whole = apply_filter(itype.split("-")[1], sitk.GetArrayFromImage(image).astype(float), SPACING_XYZ[::-1],
                         boundary=CASES[itype]["boundary"], dimensions=CASES[itype]["dimensions"], params=params)
    assert name == itype
    np.testing.assert_allclose(on_box, whole[box], rtol=1e-9, atol=1e-9 * np.abs(whole).max())


def test_extract_with_params_names_and_values() -> None:
    image, roi = _case()
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    params = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "ibsi2-log": CASES["ibsi2-log"]},
              "featureClass": {"firstorder": []}}
    values = extract_with_params(image, mask, params)
    whole = apply_filter("log", sitk.GetArrayFromImage(image).astype(float), SPACING_XYZ[::-1],
                         boundary="nearest", dimensions="2D", params={"sigma_mm": 2.0})
    assert values["ibsi2-log_firstorder_Mean"] == pytest.approx(whole[roi].mean(), rel=1e-9)
    assert "original_firstorder_Mean" in values


def test_study_settings_accept_ibsi2_types_and_seed_is_unchanged() -> None:
    spec = spec_from_settings(FeatureSettings(image_types={"original": {}, "IBSI2-Laws": {"kernel": "L5E5E5"}}))
    assert list(spec.image_types) == ["Original", "ibsi2-laws"]
    assert not any(t.startswith("ibsi2") for t in SEED_IMAGE_TYPES) and len(SEED_IMAGE_TYPES) == 9


@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("wavelet", ["haar", "db2", "db3", "coif1"])
def test_wavelet_reach_bounds_the_impulse_response(wavelet: str, level: int) -> None:
    """The wavelet's reach covers its impulse response's support in every orientation."""
    params = {"wavelet": wavelet, "subband": "HLH", "level": level, "rotation_invariance": True}
    reach = filter_reach("wavelet", params, (1.0, 1.0, 1.0))
    assert reach is not None
    n = 2 * reach[0] + 9
    impulse = np.zeros((n, n, n))
    impulse[n // 2, n // 2, n // 2] = 1.0
    response = apply_filter("wavelet", impulse, (1.0, 1.0, 1.0), boundary="zero", dimensions="3D", params=params)
    support = np.nonzero(np.abs(response) > 1e-12)
    offsets = [np.abs(idx - n // 2).max() for idx in support]
    assert max(offsets) <= reach[0]
    assert max(offsets) >= reach[0] // 2  # a bound, but not a loose one


def test_bad_ibsi2_parameters_name_the_valid_ones() -> None:
    image, roi = _case()
    with pytest.raises(ConfigError, match="support"):
        list(filtered_images(image, bounding_box(roi), {"ibsi2-mean": {"suport": 5}}, roi))
    with pytest.raises(ConfigError, match="boundary"):
        list(filtered_images(image, bounding_box(roi), {"ibsi2-mean": {"support": 5, "boundary": "wrap"}}, roi))


@pytest.mark.parametrize("itype", ["ibsi2-wavelet", "ibsi2-simoncelli", "ibsi2-riesz"])
def test_extract_with_params_reaches_the_wavelet_families(itype: str) -> None:
    """Parameters (nested ``filter_params``, list ``order``) pass through extraction to the filter."""
    image, roi = _case()
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    values = extract_with_params(image, mask, {"setting": {"binWidth": 25}, "imageType": {itype: CASES[itype]},
                                               "featureClass": {"firstorder": ["Mean"]}})
    params = {k: v for k, v in CASES[itype].items() if k not in ("boundary", "dimensions")}
    whole = apply_filter(itype.split("-")[1], sitk.GetArrayFromImage(image).astype(float), SPACING_XYZ[::-1],
                         boundary=CASES[itype]["boundary"], dimensions=CASES[itype]["dimensions"], params=params)
    assert values[f"{itype}_firstorder_Mean"] == pytest.approx(whole[roi].mean(), rel=1e-9)
