"""VOIs on spheres against analytic volumes; property tests of their construction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radscore.imaging.voi import body_mask, dilate_mm, erode_mm, make_vois


def _sphere(radius: float, spacing_zyx, margin: float = 12.0) -> np.ndarray:
    axes = [np.arange(-(radius + margin), radius + margin + 1e-9, s) for s in spacing_zyx]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return x**2 + y**2 + z**2 <= radius**2


def _ball(r: float) -> float:
    return 4.0 / 3.0 * np.pi * r**3


@pytest.mark.parametrize("radius", [10.0, 15.0, 20.0])
def test_sphere_vois_match_analytic_volumes_at_1mm(radius):
    spacing = (1.0, 1.0, 1.0)
    core_mm, ring_mm = 3.0, 5.0
    vois, warnings = make_vois(_sphere(radius, spacing), spacing, core_mm, ring_mm)
    expected = {
        "tumor": _ball(radius),
        "core": _ball(radius - core_mm),
        "ring": _ball(radius + ring_mm) - _ball(radius),
        "tumor_ring": _ball(radius + ring_mm),
    }
    for name, vol in expected.items():
        got = vois[name].sum() * np.prod(spacing)
        assert abs(got / vol - 1) < 0.03, (name, got, vol)
    assert warnings == []


@pytest.mark.parametrize("spacing", [(2.0, 1.0, 1.0), (1.5, 0.8, 0.8)])
def test_sphere_vois_on_anisotropic_grid(spacing):
    # Slices ~2x thicker than the in-plane pixels: distances are still millimetres.
    # The tumour itself is a staircase along z, so the core and ring tolerances are wider
    # (5 %); a voxel structuring element of 3 and 5 voxels would be off by tens of percent.
    radius = 20.0
    vois, _ = make_vois(_sphere(radius, spacing), spacing, 3.0, 5.0)
    v = float(np.prod(spacing))
    assert abs(vois["tumor"].sum() * v / _ball(radius) - 1) < 0.03
    assert abs(vois["core"].sum() * v / _ball(radius - 3.0) - 1) < 0.05
    assert abs(vois["tumor_ring"].sum() * v / _ball(radius + 5.0) - 1) < 0.03
    assert abs(vois["ring"].sum() * v / (_ball(radius + 5.0) - _ball(radius)) - 1) < 0.05


def test_core_that_erodes_to_nothing_is_reported():
    tumor = _sphere(2.0, (1.0, 1.0, 1.0))
    vois, warnings = make_vois(tumor, (1.0, 1.0, 1.0), core_mm=3.0, ring_mm=5.0)
    assert not vois["core"].any()
    assert any("core is empty" in w for w in warnings)


def test_ring_is_kept_inside_the_body():
    tumor = _sphere(8.0, (1.0, 1.0, 1.0))
    body = np.zeros_like(tumor)
    body[: tumor.shape[0] // 2 + 3] = True  # the body ends 3 mm past the tumour's centre
    body |= tumor
    vois, _ = make_vois(tumor, (1.0, 1.0, 1.0), 3.0, 5.0, body=body)
    assert not (vois["ring"] & ~body).any()
    free, _ = make_vois(tumor, (1.0, 1.0, 1.0), 3.0, 5.0)
    assert vois["ring"].sum() < free["ring"].sum()


def test_ring_cut_by_image_border_is_reported():
    tumor = np.zeros((20, 20, 20), bool)
    tumor[0:5, 8:12, 8:12] = True
    _, warnings = make_vois(tumor, (1.0, 1.0, 1.0), 1.0, 5.0)
    assert any("border" in w for w in warnings)


def test_body_mask_fills_lungs_and_drops_the_table():
    ct = np.full((6, 60, 60), -1000.0)
    yy, xx = np.mgrid[:60, :60]
    ct[:, (yy - 28) ** 2 + (xx - 30) ** 2 < 20**2] = 30.0
    ct[:, (yy - 28) ** 2 + (xx - 30) ** 2 < 8**2] = -850.0  # a lung inside the body
    ct[:, 55:57, 5:55] = 200.0  # a table, not touching the body
    body = body_mask(ct, -500.0)
    assert body[:, 28, 30].all()  # lung counted as body
    assert not body[:, 56, 30].any()  # table removed
    assert body.sum() == 6 * ((yy - 28) ** 2 + (xx - 30) ** 2 < 20**2).sum()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    spacing=st.tuples(*[st.sampled_from([0.7, 1.0, 1.5, 2.5])] * 3),
    core=st.floats(0.0, 4.0),
    ring=st.floats(0.5, 6.0),
)
def test_voi_properties(seed, spacing, core, ring):
    rng = np.random.default_rng(seed)
    tumor = np.zeros((14, 14, 14), bool)
    lo = rng.integers(0, 6, size=3)  # may touch the image border
    hi = lo + rng.integers(2, 7, size=3)
    tumor[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    tumor &= rng.random(tumor.shape) > 0.1
    body = rng.random(tumor.shape) > 0.2
    vois, _ = make_vois(tumor, spacing, core, ring, body=body)
    assert not (vois["core"] & ~tumor).any()  # core inside tumour
    assert not (vois["ring"] & tumor).any()  # ring outside tumour
    assert not (vois["ring"] & ~body).any()  # ring inside body
    assert np.array_equal(vois["tumor_ring"], tumor | vois["ring"])
    assert np.array_equal(vois["tumor"], tumor)
    # the sub-box used for speed gives the whole-array result
    assert np.array_equal(vois["core"], erode_mm(tumor, spacing, core))
    assert np.array_equal(vois["ring"], dilate_mm(tumor, spacing, ring) & ~tumor & body)
    # monotone in the distance
    assert not (erode_mm(tumor, spacing, core + 1.0) & ~vois["core"]).any()
    assert not (dilate_mm(tumor, spacing, ring) & ~dilate_mm(tumor, spacing, ring + 1.0)).any()


def test_body_mask_keeps_lung_that_reaches_the_edge_of_a_crop():
    """On a crop around a lung tumour, lung touching the crop edge is body; outside air is not."""
    ct = np.full((6, 60, 60), -850.0)  # lung filling the top of the crop, open at its edges
    ct[:, 40:48, :] = 40.0  # chest wall
    ct[:, 48:, :] = -1000.0  # room air below the patient
    body = body_mask(ct, -500.0)
    assert body[:, :48, :].all()
    assert not body[:, 48:, :].any()


def _reference_body_mask(ct, threshold_hu=-500.0, air_hu=-950.0):
    """body_mask's definition written with SciPy's plain functions (median per region,
    binary_fill_holes per slice): the oracle for radscore's counting and labelling shortcuts."""
    from scipy import ndimage

    low = ct <= threshold_hu
    labels, n = ndimage.label(low)
    edge = np.zeros(low.shape, bool)
    edge[[0, -1]] = edge[:, [0, -1]] = edge[:, :, [0, -1]] = True
    touching = np.unique(labels[edge & low])
    touching = touching[touching > 0]
    outside = np.zeros(low.shape, bool)
    if touching.size:
        air = touching[np.asarray(ndimage.median(ct, labels, touching)) < air_hu]
        outside = np.isin(labels, air)
    parts, n_parts = ndimage.label(~outside)
    if n_parts == 0:
        return np.zeros(low.shape, bool)
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    body = parts == np.argmax(sizes)
    return np.array([ndimage.binary_fill_holes(sl) for sl in body])


@pytest.mark.parametrize("seed", range(12))
def test_body_mask_equals_its_definition(seed):
    """Regions whose median sits exactly at the air threshold (ties of the two middle values),
    holes in slices, tables and lungs: the same mask as the plain SciPy definition."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(6, 40, 3))
    ct = ndimage.gaussian_filter(rng.normal(0, 1, shape), rng.uniform(0.5, 3))
    ct = (ct - ct.mean()) / (ct.std() + 1e-9) * 600 - 500
    if seed % 2:
        ct = np.round(ct / 50) * 50  # many values at -950 and -500: ties decide
    ct = ct.astype(np.float32 if seed % 3 else np.float64)
    np.testing.assert_array_equal(body_mask(ct), _reference_body_mask(ct))


@pytest.mark.parametrize("other", [-900.0, -902.0, -898.0])
def test_body_mask_air_median_tie(other):
    """Outside air whose two middle values straddle air_hu (-950): their mean decides."""
    ct = np.full((6, 12, 12), -1000.0, np.float32)
    ct[:, 1::2, :] = other  # half the air voxels at -1000, half at `other`
    ct[1:5, 4:8, 4:8] = 40.0  # the patient, in the middle
    air = ct < -500
    assert np.sum(ct[air] == -1000) == np.sum(ct[air] == other)  # an even count split in two
    body = body_mask(ct)
    np.testing.assert_array_equal(body, _reference_body_mask(ct))
    # mean of -1000 and `other` below -950: the region is outside air, the body is the patient
    assert body.sum() == (np.sum(ct > -500) if (-1000 + other) / 2 < -950 else ct.size)


def test_body_mask_of_air_only_is_empty():
    assert not body_mask(np.full((4, 5, 6), -1000.0)).any()
