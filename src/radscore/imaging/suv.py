"""PET activity concentration to SUV from DICOM header values (pure functions).

SUVbw = C * W / (D * 2^(-dt / T½)), C in Bq/ml, W body weight in g, D injected dose in
Bq and dt the time from injection to the reference time of the decay correction
(QIBA FDG-PET/CT profile; Kinahan & Fletcher, Semin Ultrasound CT MR 2010).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Sequence

from radscore.errors import ImageError


@dataclass(frozen=True)
class SuvFactor:
    """Per-slice multipliers from stored values to SUV, and where they came from."""

    per_slice: tuple[float, ...]
    method: str
    units: str
    decay_correction: str
    tags_used: dict = field(default_factory=dict)

    @property
    def factor(self) -> float:
        """The factor when it is the same for every slice (else the first)."""
        return self.per_slice[0]


def _parse_time(value: str) -> timedelta:
    s = str(value).strip()
    hh, mm = int(s[0:2]), int(s[2:4]) if len(s) >= 4 else 0
    ss = float(s[4:]) if len(s) > 4 else 0.0
    return timedelta(hours=hh, minutes=mm, seconds=ss)


def _parse_datetime(date: str, time: str) -> datetime:
    d = datetime.strptime(str(date).strip()[:8], "%Y%m%d")
    return d + _parse_time(time)


def decay_factor(seconds: float, half_life_s: float) -> float:
    """Fraction of activity left after ``seconds``: 2^(-t / T½)."""
    return math.pow(2.0, -seconds / half_life_s)


def suv_bw_factor(weight_kg: float, dose_bq: float, elapsed_s: float, half_life_s: float) -> float:
    """Multiplier from Bq/ml to SUVbw (g/ml), dose decayed over ``elapsed_s``."""
    return weight_kg * 1000.0 / (dose_bq * decay_factor(elapsed_s, half_life_s))


def suv_factor_from_headers(headers: Sequence, *, method: str = "bw", weight_kg: float | None = None,
                            dose_mbq: float | None = None, patient: str | None = None,
                            file: str | None = None) -> SuvFactor:
    """SUV factor per slice from pydicom headers of one PET series (BQML, body weight)."""
    h = headers[0]

    def need(name: str, value):
        if value is None or value == "":
            raise ImageError(
                f"DICOM tag {name} is missing, so SUV cannot be computed.", patient=patient, file=file,
                fix="add columns weight_kg and dose_mbq to the manifest for this patient.",
            )
        return value

    units = str(h.get("Units", "")).upper()
    if units not in ("BQML",):
        raise ImageError(f"DICOM tag Units (0054,1001) = '{units}' cannot be converted to SUV.",
                         patient=patient, file=file, fix="export the PET in Bq/ml (BQML).")
    if method != "bw":
        raise ImageError(f"SUV method '{method}' is not available.", patient=patient, file=file)
    weight = weight_kg if weight_kg is not None else need("PatientWeight (0010,1030)", h.get("PatientWeight"))
    seq = h.get("RadiopharmaceuticalInformationSequence")
    rp = seq[0] if seq else None
    dose = dose_mbq * 1e6 if dose_mbq is not None else float(
        need("RadionuclideTotalDose (0018,1074)", rp.get("RadionuclideTotalDose") if rp else None))
    half = float(need("RadionuclideHalfLife (0018,1075)", rp.get("RadionuclideHalfLife") if rp else None))
    dc = str(h.get("DecayCorrection", "START")).upper()
    start = need("RadiopharmaceuticalStartTime (0018,1072)", rp.get("RadiopharmaceuticalStartTime") if rp else None)
    series_time = need("SeriesTime (0008,0031)", h.get("SeriesTime"))
    elapsed = (_parse_time(series_time) - _parse_time(start)).total_seconds()
    if elapsed < 0:  # injection before midnight, scan after
        elapsed += 86400.0
    if dc == "ADMIN":
        elapsed = 0.0
    f = suv_bw_factor(float(weight), float(dose), elapsed, half)
    return SuvFactor(per_slice=tuple([f] * len(headers)), method=method, units=units, decay_correction=dc,
                     tags_used={"weight_kg": float(weight), "dose_bq": float(dose), "half_life_s": half,
                                "elapsed_s": elapsed})
