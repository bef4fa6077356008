"""SUV factor from synthetic headers: formulas and properties (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from radscore.errors import ImageError
from radscore.imaging.suv import suv_factor_from_headers
from radscore.imaging.suv_formulas import (
    bsa_mosteller,
    count_average_time,
    ibw,
    lbm_james,
    lbm_janmahasatian,
    parse_dt,
    parse_tm,
)


def _header(*, weight=70.0, dose=370e6, half=6586.2, inj="100000", series="110000", acq="110000",
            date="20250101", dc="START", units="BQML", sex="M", height=1.75):
    ds = Dataset()
    ds.PatientWeight = weight
    ds.PatientSize = height
    ds.PatientSex = sex
    ds.Units = units
    ds.DecayCorrection = dc
    ds.SeriesDate = ds.AcquisitionDate = date
    ds.SeriesTime = series
    ds.AcquisitionTime = acq
    ds.ActualFrameDuration = 120000
    ds.FrameReferenceTime = 60000
    rp = Dataset()
    rp.RadionuclideTotalDose = dose
    rp.RadionuclideHalfLife = half
    rp.RadiopharmaceuticalStartTime = inj
    ds.RadiopharmaceuticalInformationSequence = [rp]
    return ds


def _hhmmss(seconds: int) -> str:
    seconds %= 86400
    return f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}{seconds % 60:02d}"


def test_bw_factor_by_hand():
    f = suv_factor_from_headers([_header()])
    assert f.factor == pytest.approx(70000.0 / (370e6 * 2 ** (-3600 / 6586.2)), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(weight=st.floats(30, 200), dose=st.floats(50e6, 900e6), half=st.sampled_from([6586.2, 4057.7, 1221.5]),
       inj_s=st.integers(0, 86399), delay_s=st.integers(0, 4 * 3600))
def test_suv_bw_properties(weight, dose, half, inj_s, delay_s):
    scan_s = inj_s + delay_s  # may pass midnight
    date = "20250102" if scan_s >= 86400 else "20250101"
    h = _header(weight=weight, dose=dose, half=half, inj=_hhmmss(inj_s), series=_hhmmss(scan_s),
                acq=_hhmmss(scan_s), date=date)
    f = suv_factor_from_headers([h])
    expected = weight * 1000.0 / (dose * 2 ** (-delay_s / half))
    assert f.factor == pytest.approx(expected, rel=1e-9)  # midnight crossing handled
    # linear in weight, inverse in dose
    h2 = _header(weight=2 * weight, dose=dose, half=half, inj=_hhmmss(inj_s), series=_hhmmss(scan_s),
                 acq=_hhmmss(scan_s), date=date)
    assert suv_factor_from_headers([h2]).factor == pytest.approx(2 * f.factor, rel=1e-12)
    # ADMIN ignores the times
    h3 = _header(weight=weight, dose=dose, half=half, dc="ADMIN", inj=_hhmmss(inj_s), series=_hhmmss(scan_s),
                 acq=_hhmmss(scan_s), date=date)
    assert suv_factor_from_headers([h3]).factor == pytest.approx(weight * 1000.0 / dose, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(weight=st.floats(40, 150), height=st.floats(1.4, 2.05), sex=st.sampled_from(["M", "F"]),
       method=st.sampled_from(["lbm", "lbm_janma", "bsa", "ibw"]))
@example(weight=143.0, height=1.40625, sex="F", method="lbm")  # found by hypothesis in CI: James' LBM < 0
def test_other_normalisations_scale_the_bw_factor(weight, height, sex, method):
    h = _header(weight=weight, height=height, sex=sex)
    bw = suv_factor_from_headers([h]).factor
    size = {"lbm": lbm_james(weight, height, sex) * 1000, "lbm_janma": lbm_janmahasatian(weight, height, sex) * 1000,
            "bsa": bsa_mosteller(weight, height) * 1e4, "ibw": ibw(height, sex) * 1000}[method]
    if size <= 0:  # James' LBM turns negative at high BMI (e.g. 143 kg, 1.41 m, F): refused, not used
        with pytest.raises(ImageError, match="not positive"):
            suv_factor_from_headers([h], method=method)
        return
    other = suv_factor_from_headers([h], method=method).factor
    assert other == pytest.approx(bw * size / (weight * 1000.0), rel=1e-9)


def test_gml_type_change_round_trip():
    h = _header(units="GML")
    h.add_new((0x0054, 0x1006), "CS", "LBMJAMES128")
    assert suv_factor_from_headers([h], method="lbm").factor == 1.0
    to_bw = suv_factor_from_headers([h], method="bw").factor
    assert to_bw == pytest.approx(70.0 / lbm_james(70.0, 1.75, "M"), rel=1e-12)


def test_none_decay_correction_per_slice():
    heads = [_header(dc="NONE", acq=t) for t in ("110000", "110200", "110400")]
    f = suv_factor_from_headers(heads)
    tav = count_average_time(120.0, 6586.2)
    for k, fac in enumerate(f.per_slice):
        assert fac == pytest.approx(70000.0 / (370e6 * 2 ** (-(3600 + 120 * k + tav) / 6586.2)), rel=1e-12)
    assert 59.0 < tav < 60.0  # slightly before the middle of the frame


def test_series_time_after_acquisition_uses_frame_reference():
    # series re-created at 11:30; the frame started 11:02 and its reference time is 120 s
    h = _header(series="113000", acq="110200")
    h.FrameReferenceTime = 120000 + count_average_time(120.0, 6586.2) * 1000
    f = suv_factor_from_headers([h])
    assert f.factor == pytest.approx(70000.0 / (370e6 * 2 ** (-3600 / 6586.2)), rel=1e-6)
    h.add_new((0x0009, 0x100D), "DT", "20250101105000")  # GE private scan start wins
    assert suv_factor_from_headers([h]).factor == pytest.approx(70000.0 / (370e6 * 2 ** (-3000 / 6586.2)), rel=1e-9)


def test_errors_name_tags():
    with pytest.raises(ImageError, match=r"Units \(0054,1001\)"):
        suv_factor_from_headers([_header(units="")])
    with pytest.raises(ImageError, match=r"DecayCorrection \(0054,1102\) = 'XYZ'"):
        suv_factor_from_headers([_header(dc="XYZ")])
    with pytest.raises(ImageError, match="unknown"):
        suv_factor_from_headers([_header()], method="sul")
    h = _header()
    del h.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime
    with pytest.raises(ImageError, match=r"\(0018,1072\)"):
        suv_factor_from_headers([h])


def test_formulas_against_published_examples():
    # Mosteller: 180 cm, 80 kg -> 2.0 m^2; James (male 70 kg, 175 cm) by hand
    assert bsa_mosteller(80.0, 1.80) == pytest.approx(2.0)
    assert lbm_james(70.0, 1.75, "M") == pytest.approx(1.10 * 70 - 128 * (70 / 175) ** 2)
    assert ibw(1.52, "M") == pytest.approx(48.0) and ibw(1.52, "F") == pytest.approx(45.5)
    assert parse_tm("23:59:30.5").total_seconds() == pytest.approx(86370.5)
    assert parse_dt("20250101100000.000000+0100").hour == 10
    assert math.isclose(count_average_time(1e-9, 6586.2), 0.5e-9, rel_tol=1e-3)


def test_injection_datetime_and_ge_private_admin_time():
    h = _header()
    h.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "20250101093000"
    f = suv_factor_from_headers([h])  # the DateTime wins over StartTime (10:00)
    assert f.tags_used["elapsed_s"] == 5400.0
    # a date shifted by de-identification: the time of day is kept, with a warning
    h.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime = "19000101093000"
    f = suv_factor_from_headers([h])
    assert f.tags_used["elapsed_s"] == 5400.0 and any("more than a day" in w for w in f.warnings)
    g = _header()
    del g.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartTime
    g.add_new((0x0009, 0x103B), "DT", "20250101094500")
    f = suv_factor_from_headers([g])
    assert f.tags_used["elapsed_s"] == 4500.0  # 09:45 to 11:00
    assert "(0009,103B)" in f.tags_used["injection"]
