"""Property-based checks of pure functions not covered elsewhere (hypothesis).

Already covered and not repeated here: VOI set relations (tests/imaging/test_voi.py),
SUV closed form, linearity in weight and ADMIN decay (tests/imaging/test_suv.py),
AUC reversal, DeLong self/antisymmetry, NRI/IDI self and swap, net-benefit bounds
(tests/stats/test_properties.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radiomics import imageoperations

from radscore.config import FeatureSettings
from radscore.features.settings import discretisation
from radscore.imaging.suv_formulas import decay_factor, suv_bw_factor
from radscore.imaging.voi import make_vois
from radscore.io.images import load_pet
from radscore.simulate.dicom import write_dicom_scan
from radscore.stats import brier_score, roc_auc_ci, threshold_metrics

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- VOIs
@FAST
@given(seed=st.integers(0, 2**31 - 1), spacing=st.tuples(*[st.sampled_from([0.8, 1.0, 2.0])] * 3),
       ring_a=st.floats(0.5, 4.0), extra=st.floats(0.5, 4.0))
def test_ring_grows_with_ring_mm_and_stays_a_shell(seed, spacing, ring_a, extra):
    rng = np.random.default_rng(seed)
    tumor = np.zeros((12, 12, 12), bool)
    tumor[4:8, 3:9, 4:8] = rng.random((4, 6, 4)) > 0.15
    if not tumor.any():
        tumor[5, 5, 5] = True
    body = np.ones_like(tumor)
    small, _ = make_vois(tumor, spacing, 0.0, ring_a, body=body)
    large, _ = make_vois(tumor, spacing, 0.0, ring_a + extra, body=body)
    assert not (small["ring"] & ~large["ring"]).any()  # monotone in ring_mm
    assert not (large["ring"] & tumor).any()
    # partition: tumor_ring splits into tumour and ring without overlap
    assert large["tumor_ring"].sum() == tumor.sum() + large["ring"].sum()


# --------------------------------------------------------------------------- SUV
@FAST
@given(weight=st.floats(30, 200), dose=st.floats(50e6, 900e6), half=st.sampled_from([6586.2, 1221.5]),
       t1=st.floats(0, 4 * 3600), dt=st.floats(1, 3600), k=st.floats(1.1, 10))
def test_suv_factor_inverse_in_dose_and_increasing_with_decay_time(weight, dose, half, t1, dt, k):
    f = suv_bw_factor(weight, dose, t1, half)
    assert suv_bw_factor(weight, k * dose, t1, half) == pytest.approx(f / k, rel=1e-12)  # inverse in dose
    assert suv_bw_factor(weight, dose, t1 + dt, half) > f  # less activity left, larger factor
    assert 0 < decay_factor(t1 + dt, half) < decay_factor(t1, half) <= 1
    assert decay_factor(t1 + half, half) == pytest.approx(decay_factor(t1, half) / 2, rel=1e-12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(weight=st.floats(40, 140), dose=st.floats(100, 600), uptake=st.floats(30, 150), scale=st.floats(0.5, 3.0))
def test_suv_from_dicom_is_linear_in_activity_and_recovers_the_truth(tmp_path_factory, weight, dose, uptake, scale):
    rng = np.random.default_rng(0)
    suv = (rng.random((6, 10, 12)) * 8).astype(np.float32)
    suv_img = sitk.GetImageFromArray(suv)
    suv_img.SetSpacing((4.0, 4.0, 3.0))
    ct = sitk.GetImageFromArray(np.zeros_like(suv, dtype=np.int16))
    ct.CopyInformation(suv_img)
    out = tmp_path_factory.mktemp("dcm")
    _, pet_dir = write_dicom_scan(ct, suv_img, out / "a", weight_kg=weight, dose_mbq=dose, uptake_min=uptake)
    back = sitk.GetArrayFromImage(load_pet(pet_dir)[0])
    assert np.abs(back - suv).max() <= 1e-4 * suv.max()
    # Scaling the activity (the SUV written) scales the SUV read back by the same factor.
    scaled = sitk.GetImageFromArray(suv * np.float32(scale))
    scaled.CopyInformation(suv_img)
    _, pet2 = write_dicom_scan(ct, scaled, out / "b", weight_kg=weight, dose_mbq=dose, uptake_min=uptake)
    back2 = sitk.GetArrayFromImage(load_pet(pet2)[0])
    assert np.allclose(back2, scale * back, rtol=1e-3, atol=1e-4 * scale * suv.max())


# --------------------------------------------------------------------------- discretisation
@FAST
@given(seed=st.integers(0, 2**31 - 1), image=st.sampled_from(["ct", "pet", "petct"]),
       width_ct=st.floats(5, 60), width_pet=st.floats(0.05, 1.0), count=st.integers(2, 128))
def test_discretisation_bins_are_1_to_n_and_monotone(seed, image, width_ct, width_pet, count):
    rng = np.random.default_rng(seed)
    scale = {"ct": 300.0, "pet": 5.0, "petct": 1.0}[image]
    arr = rng.normal(0, scale, (5, 6, 7))
    mask = rng.random(arr.shape) > 0.3
    mask[0, 0, 0] = True
    kw = discretisation(image, FeatureSettings(bin_width_ct=width_ct, bin_width_pet=width_pet,
                                               bin_count_fused=count))
    binned, _ = imageoperations.binImage(arr, mask, **kw)
    b, v = binned[mask], arr[mask]
    assert b.min() >= 1
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(b[order]) >= 0)  # monotone in intensity
    if "binCount" in kw:
        assert b.max() <= count
    else:
        w = kw["binWidth"]
        assert b.max() - b.min() <= np.ceil((v.max() - v.min()) / w) + 1  # fixed width: range / width bins


# --------------------------------------------------------------------------- statistics
@st.composite
def labelled(draw, n_min=8, n_max=50):
    n = draw(st.integers(n_min, n_max))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y[:4] = [0, 1, 0, 1]
    s = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    return np.array(y), np.array(s, float) / 30


@FAST
@given(labelled(), st.randoms(use_true_random=False))
def test_auc_invariant_to_patient_order_and_label_flip(data, rnd):
    y, s = data
    a = roc_auc_ci(y, s)
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    assert roc_auc_ci(y[perm], s[perm]).auc == pytest.approx(a.auc, abs=1e-12)
    assert roc_auc_ci(1 - y, s).auc == pytest.approx(1 - a.auc, abs=1e-12)
    assert 0 <= a.ci_low <= a.auc <= a.ci_high <= 1


@FAST
@given(labelled())
def test_brier_bounds_and_perfect_prediction(data):
    y, p = data
    b = brier_score(y, p)
    assert 0 <= b <= 1
    assert brier_score(y, y.astype(float)) == 0
    assert brier_score(y, 1 - y.astype(float)) == 1


@settings(max_examples=30, deadline=None)
@given(labelled(), st.floats(0.05, 0.9), st.floats(0.01, 0.1))
def test_threshold_counts_and_monotone_sensitivity(data, cut, step):
    y, s = data
    lo = threshold_metrics(y, s, cut, n_boot=0)
    hi = threshold_metrics(y, s, cut + step, n_boot=0)
    assert lo.tp + lo.fp + lo.tn + lo.fn == len(y)
    assert lo.tp + lo.fn == y.sum()
    assert hi.tp <= lo.tp and hi.fp <= lo.fp  # a higher cutoff never calls more positives
    assert lo.tp == int(((s >= cut) & (y == 1)).sum())
