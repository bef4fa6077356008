"""Properties of PET/CT fusion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radscore.config import FusionSettings
from radscore.imaging.fusion import fuse, normalise, wavelet_fuse

_vol = arrays(np.float64, st.tuples(st.integers(4, 12), st.integers(4, 12), st.integers(4, 12)),
              elements=st.floats(-1000, 3000, allow_nan=False, width=32))


@settings(max_examples=30, deadline=None)
@given(x=_vol, wavelet=st.sampled_from(["db2", "haar", "coif1"]), level=st.integers(1, 2))
def test_identical_inputs_give_that_input_back(x, wavelet, level):
    out = fuse(x, x, FusionSettings(method="wavelet", wavelet=wavelet, level=level))
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, normalise(x), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(x=_vol, seed=st.integers(0, 1000))
def test_weights_one_and_zero_give_pet_or_ct(x, seed):
    ct = np.random.default_rng(seed).uniform(-1000, 1500, x.shape)
    pet = np.abs(x)
    np.testing.assert_allclose(fuse(pet, ct, FusionSettings(method="weighted", pet_weight=1.0)), normalise(pet), atol=1e-6)
    np.testing.assert_allclose(fuse(pet, ct, FusionSettings(method="weighted", pet_weight=0.0)),
                               normalise(ct, (-1024, 3071)), atol=1e-6)


def test_weighted_is_the_weighted_mean():
    rng = np.random.default_rng(0)
    pet, ct = rng.gamma(2, 1, (8, 9, 10)), rng.normal(0, 300, (8, 9, 10))
    out = fuse(pet, ct, FusionSettings(method="weighted", pet_weight=0.3))
    np.testing.assert_allclose(out, 0.3 * normalise(pet) + 0.7 * normalise(ct, (-1024, 3071)), atol=1e-6)


def test_wavelet_keeps_the_stronger_edge_and_the_mean_level():
    # A PET with a sharp bright cube and a flat CT: the fused image keeps the cube's edges
    # (max-abs details) at about half its contrast in the flat parts (mean approximation).
    pet = np.zeros((16, 16, 16))
    pet[5:11, 5:11, 5:11] = 10.0
    ct = np.zeros_like(pet)
    ct[0, 0, 0] = 1.0  # avoid a constant image
    out = wavelet_fuse(normalise(pet), normalise(ct), "haar", 1)
    assert out.shape == pet.shape
    inside, outside = out[6:10, 6:10, 6:10].mean(), out[12:, 12:, 12:].mean()
    assert inside - outside > 0.45


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        fuse(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))


def test_ct_padding_does_not_compress_the_tissue_range():
    ct = np.full((6, 6, 6), 40.0)
    ct[0] = -3024.0  # outside the reconstruction circle
    ct[1] = 3071.0
    n = normalise(ct, (-1024, 3071))
    assert n.min() == 0.0 and np.isclose(n[2, 0, 0], (40 + 1024) / 4095)


@pytest.mark.parametrize("wavelet, level", [("db2", 1), ("haar", 1), ("coif1", 2), ("sym4", 2), ("db3", 3)])
def test_fusion_in_slabs_equals_the_whole_volume_bit_for_bit(wavelet, level):
    # fuse() works slab by slab along z (memory on whole-chest grids); the values must be those of
    # one transform of the whole volume, which wavelet_fuse computes, odd sizes included
    from radscore.imaging import fusion

    rng = np.random.default_rng(level)
    shape = (2 * fusion.SLAB + 37, 11, 9)
    pet = (rng.gamma(2.0, 1.5, shape)).astype(np.float32)
    ct = rng.normal(-300, 700, shape).astype(np.float32)
    settings = FusionSettings(wavelet=wavelet, level=level)
    whole = wavelet_fuse(normalise(pet), normalise(ct, fusion.CT_RANGE_HU), wavelet, level).astype(np.float32)
    np.testing.assert_array_equal(fuse(pet, ct, settings), whole)
    weighted = (0.3 * normalise(pet) + 0.7 * normalise(ct, fusion.CT_RANGE_HU)).astype(np.float32)
    np.testing.assert_array_equal(fuse(pet, ct, FusionSettings(method="weighted", pet_weight=0.3)), weighted)
