"""IBSI 2 phase 1, tests 1-4 (mean, LoG, Laws, Gabor): our response maps against the consensus maps.

Each test filters an IBSI 2 digital phantom with :func:`radscore.features.ibsi2.dispatch.apply_filter`
and passes when every voxel is within 1 % of the consensus map's range (IBSI 2's rule).
The table gives each test's phantom, filter and parameters as the IBSI 2 reference manual
(arXiv:2006.05470, chapter 5, "phase 1") defines them; boundary modes by IBSI 2's names.
Wavelet, Simoncelli and Riesz tests (5-10) are in ``test_ibsi2_phase1_wavelets.py``.
"""

from __future__ import annotations

import pytest
from ibsi2_check import MAP_TOLERANCE, map_deviation, phantom, record, reference_map

from radscore.features.ibsi2.dispatch import apply_filter

pytestmark = pytest.mark.reference

_GABOR_A = {"sigma_mm": 10.0, "lambda_mm": 4.0, "gamma": 0.5}
_GABOR_B = {"sigma_mm": 20.0, "lambda_mm": 8.0, "gamma": 2.5}

#: test id -> (phantom, filter family, boundary, dimensions, parameters)
PHASE1: dict[str, tuple[str, str, str, str, dict]] = {
    "1_a_1": ("checkerboard", "mean", "zero", "3D", {"support": 15}),
    "1_a_2": ("checkerboard", "mean", "nearest", "3D", {"support": 15}),
    "1_a_3": ("checkerboard", "mean", "periodic", "3D", {"support": 15}),
    "1_a_4": ("checkerboard", "mean", "mirror", "3D", {"support": 15}),
    "1_b_1": ("impulse", "mean", "zero", "2D", {"support": 15}),
    "2_a": ("impulse", "log", "zero", "3D", {"sigma_mm": 3.0, "truncate": 4.0}),
    "2_b": ("checkerboard", "log", "mirror", "3D", {"sigma_mm": 5.0, "truncate": 4.0}),
    "2_c": ("checkerboard", "log", "mirror", "2D", {"sigma_mm": 5.0, "truncate": 4.0}),
    "3_a_1": ("impulse", "laws", "zero", "3D", {"kernel": "E5L5S5"}),
    "3_a_2": ("impulse", "laws", "zero", "3D", {"kernel": "E5L5S5", "rotation_invariance": True, "pooling": "max"}),
    "3_a_3": ("impulse", "laws", "zero", "3D", {"kernel": "E5L5S5", "rotation_invariance": True, "pooling": "max",
                                                 "energy_delta": 7}),
    "3_b_1": ("checkerboard", "laws", "mirror", "3D", {"kernel": "E3W5R5"}),
    "3_b_2": ("checkerboard", "laws", "mirror", "3D", {"kernel": "E3W5R5", "rotation_invariance": True,
                                                        "pooling": "max"}),
    "3_b_3": ("checkerboard", "laws", "mirror", "3D", {"kernel": "E3W5R5", "rotation_invariance": True,
                                                        "pooling": "max", "energy_delta": 7}),
    "3_c_1": ("checkerboard", "laws", "mirror", "2D", {"kernel": "L5S5"}),
    "3_c_2": ("checkerboard", "laws", "mirror", "2D", {"kernel": "L5S5", "rotation_invariance": True, "pooling": "max"}),
    "3_c_3": ("checkerboard", "laws", "mirror", "2D", {"kernel": "L5S5", "rotation_invariance": True, "pooling": "max",
                                                        "energy_delta": 7}),
    "4_a_1": ("impulse", "gabor", "zero", "2D", {**_GABOR_A, "theta_deg": 60.0}),
    "4_a_2": ("impulse", "gabor", "zero", "3D", {**_GABOR_A, "rotation_invariance": True, "theta_step_deg": 45.0,
                                                  "pooling": "mean"}),
    "4_b_1": ("sphere", "gabor", "mirror", "2D", {**_GABOR_B, "theta_deg": 225.0}),
    "4_b_2": ("sphere", "gabor", "mirror", "3D", {**_GABOR_B, "rotation_invariance": True, "theta_step_deg": 22.5,
                                                   "pooling": "mean"}),
}


@pytest.mark.parametrize("test_id", sorted(PHASE1))
def test_response_map_matches_consensus(test_id: str) -> None:
    name, family, boundary, dimensions, params = PHASE1[test_id]
    image, spacing = phantom(name)
    ours = apply_filter(family, image, spacing, boundary=boundary, dimensions=dimensions, params=params)
    deviation = map_deviation(ours, reference_map(test_id))
    record(f"phase1 {test_id}", deviation, 0.0, MAP_TOLERANCE, deviation <= MAP_TOLERANCE)
    assert deviation <= MAP_TOLERANCE, f"{test_id}: max |diff| = {deviation:.2%} of the reference range"


def test_conventions_are_pinned_by_the_maps() -> None:
    """The test can fail: IBSI 2's convolution (not correlation) and x-first kernel order matter."""
    image, spacing = phantom("impulse")
    ref = reference_map("3_a_1")
    swapped = apply_filter("laws", image, spacing, boundary="zero", dimensions="3D", params={"kernel": "S5L5E5"})
    assert map_deviation(swapped, ref) > MAP_TOLERANCE
    ref = reference_map("4_a_1")
    mirrored = apply_filter("gabor", image, spacing, boundary="zero", dimensions="2D",
                            params={**_GABOR_A, "theta_deg": -60.0})
    assert map_deviation(mirrored, ref) > MAP_TOLERANCE
