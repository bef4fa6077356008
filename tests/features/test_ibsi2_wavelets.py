"""IBSI 2 wavelet filters against independent computations (no reference data needed).

- The periodic undecimated separable wavelet equals PyWavelets' stationary wavelet
  transform (``pywt.swtn``, an independent a-trous implementation) sub-band for sub-band.
- Rotation pooling is equivariant: pooling over the cube's rotations of a rotated image
  gives the rotated pooled response.
- The Simoncelli band-pass removes a constant image and filters 2-D slices independently.
- Riesz transforms: first order is the Hilbert transform (cos -> sin); the second-order
  components along the three axes sum to minus the identity (Unser & Van De Ville 2010).
"""

from __future__ import annotations

import numpy as np
import pytest
import pywt

from radscore.errors import ConfigError
from radscore.features.ibsi2.dispatch import apply_filter
from radscore.features.ibsi2.riesz import riesz_transform
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


def test_first_order_riesz_turns_a_cosine_into_a_sine() -> None:
    # R_(1,0,0) multiplies by -j w_x / |w|: the Hilbert transform along x, cos -> sin.
    x = np.arange(32)
    image = np.broadcast_to(np.cos(2 * np.pi * 3 * x / 32), (4, 6, 32)).copy()
    out = riesz_transform(image, (1, 0, 0), boundary="periodic", dimensions="3D")
    np.testing.assert_allclose(out, np.broadcast_to(np.sin(2 * np.pi * 3 * x / 32), out.shape), atol=1e-12)


def test_second_order_riesz_components_sum_to_minus_identity() -> None:
    # sum_i (-j)^2 (w_i / |w|)^2 = -1 away from w = 0: minus the zero-mean image.
    image = RNG.normal(size=(6, 8, 10))
    total = sum(riesz_transform(image, order, boundary="periodic", dimensions="3D")
                for order in [(2, 0, 0), (0, 2, 0), (0, 0, 2)])
    np.testing.assert_allclose(total, -(image - image.mean()), atol=1e-12)


def test_riesz_filter_is_the_transform_of_the_base_response() -> None:
    image = RNG.normal(size=(8, 12, 12))
    base = apply_filter("simoncelli", image, (1.0, 1.0, 1.0), boundary="mirror", dimensions="2D", params={"level": 1})
    ours = apply_filter("riesz", image, (1.0, 1.0, 1.0), boundary="mirror", dimensions="2D",
                        params={"filter": "simoncelli", "filter_params": {"level": 1}, "order": (1, 1)})
    np.testing.assert_allclose(ours, riesz_transform(base, (1, 1), boundary="mirror", dimensions="2D"))
    with pytest.raises(ConfigError):
        riesz_transform(image, (1, 0, 0), boundary="mirror", dimensions="2D")
