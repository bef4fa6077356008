"""IBSI 2 wavelet filters against independent computations (no reference data needed).

- The periodic undecimated separable wavelet equals PyWavelets' stationary wavelet
  transform (``pywt.swtn``, an independent a-trous implementation) sub-band for sub-band.
- Rotation pooling is equivariant: pooling over the cube's rotations of a rotated image
  gives the rotated pooled response.
- The Simoncelli band-pass removes a constant image and filters 2-D slices independently.
"""

from __future__ import annotations

import numpy as np
import pytest
import pywt

from radscore.errors import ConfigError
from radscore.features.ibsi2.rotation import right_angle_rotations, rotate
from radscore.features.ibsi2.simoncelli import simoncelli
from radscore.features.ibsi2.wavelet import WAVELETS, separable_wavelet

RNG = np.random.default_rng(20240219)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("level", [1, 2])
def test_periodic_wavelet_equals_pywt_stationary_transform(wavelet: str, level: int) -> None:
    image = RNG.normal(size=(8, 16, 12))
    detail = pywt.swtn(image, wavelet, level=level, trim_approx=False)[0]  # coarsest level first
    for key in ("aaa", "aad", "dad", "dda", "ddd"):
        # pywt keys name the (z, y, x) axes; IBSI 2 sub-bands name (x, y, z).
        subband = "".join("L" if c == "a" else "H" for c in reversed(key))
        ours = separable_wavelet(image, (1.0, 1.0, 1.0), boundary="periodic", dimensions="3D",
                                 wavelet=wavelet, subband=subband, level=level)
        np.testing.assert_allclose(ours, detail[key], atol=1e-10, err_msg=f"{wavelet} {subband} level {level}")


def test_2d_wavelet_equals_pywt_on_slice_axes() -> None:
    image = RNG.normal(size=(3, 16, 12))
    detail = pywt.swtn(image, "db3", level=2, axes=(1, 2), trim_approx=False)[0]
    ours = separable_wavelet(image, (1.0, 1.0, 1.0), boundary="periodic", dimensions="2D",
                             wavelet="db3", subband="LH", level=2)  # L along x, H along y
    np.testing.assert_allclose(ours, detail["da"], atol=1e-10)


def test_rotation_groups_are_complete() -> None:
    cube = RNG.normal(size=(4, 4, 4))
    seen = {rotate(cube, r).tobytes() for r in right_angle_rotations("3D")}
    assert len(right_angle_rotations("3D")) == 24 and len(seen) == 24
    square = RNG.normal(size=(2, 5, 5))
    assert len({rotate(square, r).tobytes() for r in right_angle_rotations("2D")}) == 4


@pytest.mark.parametrize("dimensions,subband", [("3D", "LHH"), ("2D", "HL")])
def test_rotation_invariant_wavelet_is_rotation_equivariant(dimensions: str, subband: str) -> None:
    image = RNG.normal(size=(10, 10, 10))
    params = dict(boundary="mirror", dimensions=dimensions, wavelet="db2", subband=subband,
                  rotation_invariance=True)
    base = separable_wavelet(image, (1.0, 1.0, 1.0), **params)
    for rotation in right_angle_rotations(dimensions)[1:4]:
        turned = separable_wavelet(rotate(image, rotation), (1.0, 1.0, 1.0), **params)
        np.testing.assert_allclose(turned, rotate(base, rotation), atol=1e-10)
    # and without pooling the filter is directional (the check above can fail)
    plain = separable_wavelet(image, (1.0, 1.0, 1.0), **{**params, "rotation_invariance": False})
    turned = separable_wavelet(rotate(image, right_angle_rotations(dimensions)[1]), (1.0, 1.0, 1.0),
                               **{**params, "rotation_invariance": False})
    assert not np.allclose(turned, rotate(plain, right_angle_rotations(dimensions)[1]))


@pytest.mark.parametrize("boundary", ["nearest", "periodic", "mirror"])  # zero padding would add edges
def test_simoncelli_band_pass_removes_a_constant(boundary: str) -> None:
    out = simoncelli(np.full((12, 12, 12), 7.0), (1.0, 1.0, 1.0), boundary=boundary, dimensions="3D", level=1)
    np.testing.assert_allclose(out, 0.0, atol=1e-9)


def test_simoncelli_2d_filters_slices_independently() -> None:
    image = RNG.normal(size=(3, 16, 16))
    whole = simoncelli(image, (1.0, 1.0, 1.0), boundary="mirror", dimensions="2D", level=2)
    alone = simoncelli(image[1:2], (1.0, 1.0, 1.0), boundary="mirror", dimensions="2D", level=2)
    np.testing.assert_allclose(whole[1:2], alone, atol=1e-12)
    assert np.abs(whole).max() > 0.1


@pytest.mark.parametrize("kwargs", [
    {"wavelet": "db4", "subband": "LLL"},
    {"wavelet": "haar", "subband": "LL"},
    {"wavelet": "haar", "subband": "LXL"},
    {"wavelet": "haar", "subband": "LLL", "level": 0},
])
def test_wavelet_bad_parameters_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        separable_wavelet(np.zeros((4, 4, 4)), (1.0, 1.0, 1.0), boundary="zero", dimensions="3D", **kwargs)
