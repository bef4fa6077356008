"""Formulas behind SUV: body-size normalisers, radioactive decay, DICOM date/time parsing.

Pure functions; :mod:`radscore.imaging.suv` reads the DICOM tags and combines them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

def lbm_james(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg), James 1976: 1.10 W - 128 (W/H)^2 (men), 1.07 W - 148 (W/H)^2 (women), H in cm.

    This is DICOM's SUV Type LBMJAMES128 and the QIBA SUL definition before 2009.
    """
    h_cm = height_m * 100.0
    s = _sex(sex)
    if s == "M":
        return 1.10 * weight_kg - 128.0 * (weight_kg / h_cm) ** 2
    return 1.07 * weight_kg - 148.0 * (weight_kg / h_cm) ** 2


def lbm_janmahasatian(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg), Janmahasatian et al., Clin Pharmacokinet 2005.

    9270 W / (6680 + 216 BMI) for men, 9270 W / (8780 + 244 BMI) for women, BMI = W / H^2.
    """
    bmi = weight_kg / height_m**2
    if _sex(sex) == "M":
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)


def bsa_mosteller(weight_kg: float, height_m: float) -> float:
    """Body surface area (m^2), Mosteller, N Engl J Med 1987: sqrt(H_cm W / 3600).

    Chosen over Du Bois because the SUV reference objects (DRO_2_3, Units CM2ML) were
    made with it: their stored SUVbsa values, quantised to 0.01, match Mosteller's BSA
    and not Du Bois's (which would store 1.06 where the object holds 1.05).
    """
    return math.sqrt(height_m * 100.0 * weight_kg / 3600.0)


def ibw(height_m: float, sex: str) -> float:
    """Ideal body weight (kg): 48 + 1.06 (H_cm - 152) for men, 45.5 + 0.91 (H_cm - 152) for women.

    The formulas of the SUV computation manual (Vacha et al.) and MIRP. For another or
    unknown sex ("O") the mean of the two is used: that reproduces the reference object
    DRO_2_2 (PatientSex O, SUV Type IBW) exactly.
    """
    h = height_m * 100.0 - 152.0
    male, female = 48.0 + 1.06 * h, 45.5 + 0.91 * h
    s = str(sex or "").strip().upper()
    return male if s == "M" else female if s == "F" else (male + female) / 2.0


def _sex(sex: str) -> str:
    s = str(sex or "").strip().upper()
    if s not in ("M", "F"):
        raise ValueError(f"sex '{sex}' (M or F needed)")
    return s


def normaliser(method: str, weight_kg: float, height_m: float | None = None, sex: str | None = None) -> float:
    """N in SUV = C * N / D: grams (bw, lbm, lbm_janma, ibw) or cm^2 (bsa)."""
    if method == "bw":
        return weight_kg * 1000.0
    if height_m is None:
        raise ValueError("height")
    if method == "bsa":
        return bsa_mosteller(weight_kg, height_m) * 1e4
    if method == "lbm":
        return lbm_james(weight_kg, height_m, sex) * 1000.0
    if method == "lbm_janma":
        return lbm_janmahasatian(weight_kg, height_m, sex) * 1000.0
    if method == "ibw":
        return ibw(height_m, sex) * 1000.0
    raise ValueError(f"method '{method}'")


def decay_factor(seconds: float, half_life_s: float) -> float:
    """Fraction of activity left after ``seconds``: 2^(-t / T½)."""
    return math.pow(2.0, -seconds / half_life_s)


def count_average_time(frame_s: float, half_life_s: float) -> float:
    """Time after the frame start at which the count rate equals its frame average (s).

    t_avg = ln(l T / (1 - exp(-l T))) / l, l = ln 2 / T½ (the decay during the frame makes it
    slightly earlier than T/2).
    """
    if frame_s <= 0:
        return 0.0
    lam = math.log(2.0) / half_life_s
    x = lam * frame_s
    if x < 1e-4:  # the closed form cancels catastrophically; its series: x/2 - x^2/24
        return (x / 2.0 - x * x / 24.0) / lam
    return math.log(x / -math.expm1(-x)) / lam


def suv_bw_factor(weight_kg: float, dose_bq: float, elapsed_s: float, half_life_s: float) -> float:
    """Multiplier from Bq/ml to SUVbw (g/ml), dose decayed over ``elapsed_s``."""
    return weight_kg * 1000.0 / (dose_bq * decay_factor(elapsed_s, half_life_s))


# ---- DICOM date/time parsing ----------------------------------------------------------

def parse_tm(value: Any) -> timedelta | None:
    """DICOM TM ("HHMMSS.FFFFFF", also the old "HH:MM:SS") as a time of day."""
    if value is None:
        return None
    s = str(value).strip().replace(":", "")
    if len(s) < 2 or not s[:2].isdigit():
        return None
    hh = int(s[0:2])
    mm = int(s[2:4]) if len(s) >= 4 else 0
    ss = float(s[4:]) if len(s) > 4 else 0.0
    return timedelta(hours=hh, minutes=mm, seconds=ss)


def parse_da(value: Any) -> datetime | None:
    """DICOM DA ("YYYYMMDD")."""
    s = str(value or "").strip().replace(".", "").replace("-", "")
    try:
        return datetime.strptime(s[:8], "%Y%m%d")
    except ValueError:
        return None


def parse_dt(value: Any) -> datetime | None:
    """DICOM DT ("YYYYMMDDHHMMSS.FFFFFF&ZZXX"); the UTC offset is dropped (all times of one study share it)."""
    s = str(value or "").strip()
    for sep in ("+", "-"):
        if sep in s[8:]:
            s = s[: 8 + s[8:].index(sep)]
    d = parse_da(s[:8])
    if d is None:
        return None
    t = parse_tm(s[8:]) if len(s) > 8 else timedelta(0)
    return d + (t or timedelta(0))


def date_time(ds, date_kw: str, time_kw: str) -> datetime | None:
    d, t = parse_da(ds.get(date_kw)), parse_tm(ds.get(time_kw))
    return d + t if d is not None and t is not None else None


def private_tag(ds, group: int, elem: int) -> Any:
    el = ds.get((group, elem))
    if el is None:
        return None
    v = el.value
    if isinstance(v, bytes):
        v = v.decode(errors="ignore").strip("\x00 ")
    return v


