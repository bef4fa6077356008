"""PET voxel values to SUV from DICOM header values (pure functions on pydicom headers).

SUV = C * N / D_ref, with C the activity concentration (Bq/ml), N the body-size
normaliser (g for body weight, lean body mass and ideal body weight; cm^2 for body
surface area) and D_ref the injected dose decayed to the time the voxel values refer
to (QIBA FDG-PET/CT profile; Kinahan & Fletcher, Semin Ultrasound CT MR 2010; Vacha et
al., "Standardizing SUV computation", oncoray.github.io/suv_computation).

Which time the values refer to depends on Decay Correction (0054,1102):

- ADMIN: values are decay corrected to the injection: D_ref = D.
- START: values are decay corrected to the scan start. The scan start is Series
  Date/Time unless that is later than the earliest Acquisition Date/Time (the series
  was re-created after the scan), in which case GE's private scan start (0009,100D) is
  used, else each slice's Acquisition Time + count-average time - Frame Reference Time
  (0054,1300), else the earliest acquisition time.
- NONE: values are not decay corrected: each slice is decayed to the time of its
  average count rate, Acquisition Time + t_avg, t_avg = ln(l*T / (1 - exp(-l*T))) / l
  for a frame of duration T (0018,1242) and decay constant l.

Units (0054,1001): BQML (Bq/ml), CNTS with Philips' private SUV scale factor
(7053,1000) (values * factor = SUVbw) or activity scale factor (7053,1009) (values *
factor = Bq/ml), GML and CM2ML (already SUV of the type in SUV Type (0054,1006); changed
to the requested type by the ratio of normalisers). Anything else is an error naming the
tag: a factor of 1 is never assumed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

import pandas as pd

from radscore.catalog import SUV_METHODS
from radscore.errors import ImageError
from radscore.imaging.suv_formulas import (  # noqa: F401 - re-exported
    bsa_mosteller,
    count_average_time,
    decay_factor,
    ibw,
    lbm_james,
    lbm_janmahasatian,
    normaliser,
    parse_da,
    parse_dt,
    parse_tm,
    suv_bw_factor,
)
from radscore.imaging.suv_formulas import date_time, private_tag

logger = logging.getLogger(__name__)

METHODS = tuple(SUV_METHODS)
# DICOM SUV Type (0054,1006) defined terms and the method that produces them.
SUV_TYPE_TO_METHOD = {"BW": "bw", "LBM": "lbm", "LBMJAMES128": "lbm", "LBMJANMA": "lbm_janma", "BSA": "bsa", "IBW": "ibw"}
# The fix for a missing weight or dose tag names the override the caller reads: a manifest
# column (radscore run, predict --manifest) or a command-line option (radscore suv, segment).
OVERRIDE_FIXES = {
    "manifest": "add the column {column} to the manifest for this patient (it overrides the tag).",
    "option": "pass {option} (it overrides the tag).",
}
MIN_PLAUSIBLE_DOSE_BQ = 1e5  # a PET dose below 100 kBq is a dose written in MBq


@dataclass(frozen=True)
class SuvFactor:
    """Per-slice multipliers from rescaled stored values to SUV, and where they came from.

    Attributes
    ----------
    per_slice : tuple of float
        Multiplier for each slice, in the order of the series' slices (increasing position).
    method : str
        "bw", "lbm" (James), "lbm_janma" (Janmahasatian), "bsa" or "ibw".
    units : str
        Units (0054,1001) of the series.
    decay_correction : str
        Decay Correction (0054,1102).
    tags_used : dict
        Every value the factor depends on, with the tag it came from.
    warnings : tuple of str
        Assumptions made (dose in MBq, midnight crossing, series time replaced...).
    """

    per_slice: tuple[float, ...]
    method: str
    units: str
    decay_correction: str
    tags_used: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def factor(self) -> float:
        """The factor when it is the same for every slice (else the first slice's)."""
        return self.per_slice[0]

    @property
    def summary(self) -> pd.DataFrame:
        """The values used, one row per item."""
        rows = [{"item": k, "value": v} for k, v in self.tags_used.items()]
        rows.append({"item": "factor (first slice)", "value": self.factor})
        return pd.DataFrame(rows)


# ---- the factor ---------------------------------------------------------------------

class _Ctx:
    """Error/warning bookkeeping for one series."""

    def __init__(self, patient: str | None, file: str | None, override: str = "manifest"):
        self.patient, self.file = patient, file
        self.override = override
        self.warnings: list[str] = []
        self.used: dict[str, Any] = {}

    def fail(self, problem: str, fix: str | None = None) -> None:
        raise ImageError(problem, patient=self.patient, file=self.file, fix=fix)

    def override_fix(self, column: str) -> str:
        """How to supply the value of manifest column ``column`` (weight_kg, dose_mbq) instead of the tag."""
        return OVERRIDE_FIXES[self.override].format(column=column, option="--" + column.replace("_", "-"))


def _body(h, methods: tuple[str, ...], weight_kg: float | None, ctx: _Ctx) -> tuple[float, float | None, str | None]:
    """Weight (manifest first), and height and sex where a method in ``methods`` needs them."""
    method = next((m for m in methods if m != "bw"), "bw")
    if weight_kg is not None:
        weight, src = float(weight_kg), "manifest weight_kg"
    else:
        w = h.get("PatientWeight")
        if w in (None, "") or float(w) <= 0:
            ctx.fail("DICOM tag PatientWeight (0010,1030) is missing or zero, so SUV cannot be computed.",
                     ctx.override_fix("weight_kg"))
        weight, src = float(w), "PatientWeight (0010,1030)"
    ctx.used["weight_kg"] = f"{weight:g} from {src}"
    height = sex = None
    if method != "bw":
        size = h.get("PatientSize")
        if size in (None, "") or float(size) <= 0:
            ctx.fail(f"DICOM tag PatientSize (0010,1020) is missing, so SUV method '{method}' cannot be computed.",
                     "use the method bw, or fill PatientSize (height in m) in the DICOM header.")
        height = float(size) / 100.0 if float(size) > 3.0 else float(size)  # some writers store cm
        ctx.used["height_m"] = f"{height:g} from PatientSize (0010,1020)"
        needs_sex = [m for m in methods if m not in ("bw", "bsa")]
        if needs_sex:
            method = needs_sex[0]
            sex = str(h.get("PatientSex", "")).strip().upper()
            if sex not in ("M", "F") and any(m in ("lbm", "lbm_janma") for m in methods):
                ctx.fail(f"DICOM tag PatientSex (0010,0040) is '{sex}', so SUV method '{method}' (sex-specific "
                         "formula) cannot be computed.", "use the method bw or bsa.")
            ctx.used["sex"] = f"{sex} from PatientSex (0010,0040)"
    return weight, height, sex


def _norm(method: str, weight: float, height, sex) -> float:
    n = normaliser(method, weight, height, sex)
    if n <= 0:
        raise ValueError(f"normaliser for {method} is {n}")
    return n


def _radiopharm(h):
    seq = h.get("RadiopharmaceuticalInformationSequence")
    return seq[0] if seq else None


def _injection(h, scan_ref: datetime, ctx: _Ctx) -> datetime:
    rp = _radiopharm(h)
    dt = parse_dt(rp.get("RadiopharmaceuticalStartDateTime")) if rp is not None else None
    if dt is not None and abs((scan_ref - dt).total_seconds()) <= 86400.0:
        ctx.used["injection"] = f"{dt.isoformat()} from RadiopharmaceuticalStartDateTime (0018,1078)"
        return dt
    t = parse_tm(rp.get("RadiopharmaceuticalStartTime")) if rp is not None else None
    src = "RadiopharmaceuticalStartTime (0018,1072) on the scan date"
    if dt is not None:  # dates more than a day apart: shifted by de-identification; keep the time
        ctx.warnings.append(f"RadiopharmaceuticalStartDateTime ({dt.date()}) is more than a day from the scan "
                            f"({scan_ref.date()}): its time of day is used on the scan date.")
        t = timedelta(hours=dt.hour, minutes=dt.minute, seconds=dt.second, microseconds=dt.microsecond)
        src = "time of RadiopharmaceuticalStartDateTime (0018,1078) on the scan date"
    if t is not None:
        inj = datetime(scan_ref.year, scan_ref.month, scan_ref.day) + t
        if inj > scan_ref:  # injected before midnight, scanned after: the day before
            inj -= timedelta(days=1)
            ctx.warnings.append("injection time is later than the scan time: injection taken on the day before "
                                "(scan after midnight).")
            src += " minus one day"
        ctx.used["injection"] = f"{inj.isoformat()} from {src}"
        return inj
    ge = parse_dt(private_tag(h, 0x0009, 0x103B))
    if ge is not None:
        ctx.used["injection"] = f"{ge.isoformat()} from GE private (0009,103B)"
        return ge
    ctx.fail("no injection time: RadiopharmaceuticalStartDateTime (0018,1078), RadiopharmaceuticalStartTime "
             "(0018,1072) and GE private (0009,103B) are all missing.",
             "fill the injection time in the DICOM header; radscore does not guess it.")
    raise AssertionError  # unreachable


def _scan_start(headers: Sequence, half_life: float, ctx: _Ctx) -> datetime:
    """Reference time of DecayCorrection START (see the module docstring)."""
    h = headers[0]
    series = date_time(h, "SeriesDate", "SeriesTime")
    acq = [date_time(x, "AcquisitionDate", "AcquisitionTime") for x in headers]
    acq_known = [a for a in acq if a is not None]
    earliest = min(acq_known) if acq_known else None
    if series is not None and (earliest is None or series <= earliest + timedelta(seconds=1)):
        ctx.used["scan_start"] = f"{series.isoformat()} from SeriesDate/SeriesTime (0008,0021/0031)"
        return series
    why = "SeriesTime missing" if series is None else "SeriesTime later than AcquisitionTime (series re-created)"
    ge = parse_dt(private_tag(h, 0x0009, 0x100D))
    if ge is not None:
        ctx.used["scan_start"] = f"{ge.isoformat()} from GE private (0009,100D) ({why})"
        return ge
    starts = []
    for x, a in zip(headers, acq):
        ref, dur = x.get("FrameReferenceTime"), x.get("ActualFrameDuration")
        if a is None or ref in (None, "") or dur in (None, ""):
            starts = []
            break
        starts.append(a + timedelta(seconds=count_average_time(float(dur) / 1000.0, half_life) - float(ref) / 1000.0))
    if starts:
        starts.sort()
        start = starts[len(starts) // 2]
        if (starts[-1] - starts[0]).total_seconds() > 2.0:
            ctx.warnings.append("scan start derived from AcquisitionTime and FrameReferenceTime differs between "
                                f"slices by {(starts[-1] - starts[0]).total_seconds():.0f} s; the median is used.")
        ctx.used["scan_start"] = (f"{start.isoformat()} from AcquisitionTime + count-average time - "
                                  f"FrameReferenceTime (0054,1300) ({why})")
        return start
    if earliest is not None:
        ctx.warnings.append(f"scan start taken as the earliest AcquisitionTime ({why}).")
        ctx.used["scan_start"] = f"{earliest.isoformat()} from the earliest AcquisitionDate/Time ({why})"
        return earliest
    ctx.fail("no scan start time: SeriesDate/SeriesTime and AcquisitionDate/AcquisitionTime are missing.",
             "fill SeriesDate/SeriesTime (0008,0021/0031) in the DICOM header.")
    raise AssertionError  # unreachable


def _decay_elapsed(headers: Sequence, half_life: float, ctx: _Ctx) -> tuple[list[float], str]:
    """Seconds from injection to each slice's reference time, and the decay correction."""
    h = headers[0]
    dc = str(h.get("DecayCorrection", "")).strip().upper()
    if not dc:
        if "DECY" in [str(c).upper() for c in (h.get("CorrectedImage") or [])]:
            dc = "START"
            ctx.warnings.append("DecayCorrection (0054,1102) missing; START assumed because CorrectedImage holds DECY.")
        else:
            ctx.fail("DICOM tag DecayCorrection (0054,1102) is missing, so the time the values refer to is unknown.",
                     "fill DecayCorrection (START, ADMIN or NONE) in the DICOM header.")
    ctx.used["decay_correction"] = f"{dc} from DecayCorrection (0054,1102)"
    if dc == "ADMIN":
        return [0.0] * len(headers), dc
    if dc == "START":
        start = _scan_start(headers, half_life, ctx)
        inj = _injection(h, start, ctx)
        e = (start - inj).total_seconds()
        refs = [e] * len(headers)
    elif dc == "NONE":
        refs = []
        first = None
        for x in headers:
            a = date_time(x, "AcquisitionDate", "AcquisitionTime") or date_time(x, "SeriesDate", "AcquisitionTime")
            dur = x.get("ActualFrameDuration")
            if a is None or dur in (None, ""):
                ctx.fail("DecayCorrection is NONE but AcquisitionDate/AcquisitionTime (0008,0022/0032) or "
                         "ActualFrameDuration (0018,1242) is missing on a slice.",
                         "fill the per-slice acquisition times in the DICOM header.")
            ref = a + timedelta(seconds=count_average_time(float(dur) / 1000.0, half_life))
            first = first or ref
            refs.append(ref)
        inj = _injection(h, min(refs), ctx)
        refs = [(r - inj).total_seconds() for r in refs]
        ctx.used["reference_time"] = "per slice: AcquisitionTime + count-average time of ActualFrameDuration"
    else:
        ctx.fail(f"DICOM tag DecayCorrection (0054,1102) = '{dc}' is not START, ADMIN or NONE.",
                 "re-export the PET with a standard decay correction.")
        raise AssertionError  # unreachable
    if min(refs) < 0:
        ctx.fail(f"the injection is {-min(refs):.0f} s after the scan reference time.",
                 "check RadiopharmaceuticalStartTime and SeriesTime in the DICOM header.")
    if max(refs) > 86400.0:
        ctx.warnings.append(f"{max(refs) / 3600:.1f} h between injection and scan: check the dates.")
    ctx.used["elapsed_s"] = round(refs[0], 3) if len(set(refs)) == 1 else f"{min(refs):.1f}..{max(refs):.1f} per slice"
    return refs, dc


def _dose_and_half_life(h, dose_mbq: float | None, ctx: _Ctx) -> tuple[float, float]:
    rp = _radiopharm(h)
    if dose_mbq is not None:
        dose = float(dose_mbq) * 1e6
        ctx.used["dose_bq"] = f"{dose:.6g} from manifest dose_mbq"
    else:
        d = rp.get("RadionuclideTotalDose") if rp is not None else None
        if d in (None, "") or float(d) <= 0:
            ctx.fail("DICOM tag RadionuclideTotalDose (0018,1074) is missing or zero, so SUV cannot be computed.",
                     ctx.override_fix("dose_mbq"))
        dose = float(d)
        src = "RadionuclideTotalDose (0018,1074)"
        if dose < MIN_PLAUSIBLE_DOSE_BQ:
            ctx.warnings.append(f"RadionuclideTotalDose = {dose:g} is implausible in Bq; read as MBq.")
            dose *= 1e6
            src += " read as MBq"
        ctx.used["dose_bq"] = f"{dose:.6g} from {src}"
    hl = rp.get("RadionuclideHalfLife") if rp is not None else None
    if hl in (None, "") or float(hl) <= 0:
        ctx.fail("DICOM tag RadionuclideHalfLife (0018,1075) is missing, so the dose cannot be decay corrected.",
                 "fill the half-life in the DICOM header.")
    ctx.used["half_life_s"] = f"{float(hl):g} from RadionuclideHalfLife (0018,1075)"
    return dose, float(hl)


def suv_factor_from_headers(headers: Sequence, *, method: str = "bw", weight_kg: float | None = None,
                            dose_mbq: float | None = None, patient: str | None = None,
                            file: str | None = None, override: str = "manifest") -> SuvFactor:
    """SUV multiplier for each slice of one PET series (see the module docstring).

    Parameters
    ----------
    headers : sequence of pydicom.Dataset
        One per slice, in the order of the slices the factors will multiply.
    method : {"bw", "lbm", "lbm_janma", "bsa", "ibw"}
        Body weight, lean body mass (James), lean body mass (Janmahasatian), body surface
        area (Mosteller; SUV in cm^2/ml as DICOM CM2ML), ideal body weight (see
        :func:`radscore.imaging.suv_formulas.ibw`).
    weight_kg, dose_mbq : float, optional
        Manifest values that override PatientWeight and RadionuclideTotalDose.
    override : {"manifest", "option"}
        Where the caller reads ``weight_kg``/``dose_mbq`` from (:data:`OVERRIDE_FIXES`): the
        error for a missing tag tells the user to fill that manifest column or pass that option.

    Returns
    -------
    SuvFactor

    Raises
    ------
    ImageError
        A unit that cannot be converted, or a missing tag; the message names the tag.
    """
    ctx = _Ctx(patient, file, override)
    if method not in METHODS:
        ctx.fail(f"SUV method '{method}' is unknown; valid: {list(METHODS)}.")
    if not headers:
        ctx.fail("the PET series has no slices.")
    h = headers[0]
    units = str(h.get("Units", "")).strip().upper()
    ctx.used["units"] = f"{units or '(missing)'} from Units (0054,1001)"
    ctx.used["method"] = method
    n = len(headers)

    if units == "BQML":
        kind, scale = "activity", [1.0] * n
    elif units == "CNTS":
        suv_scale = [private_tag(x, 0x7053, 0x1000) for x in headers]
        act_scale = [private_tag(x, 0x7053, 0x1009) for x in headers]
        if all(s not in (None, "") for s in suv_scale):
            kind, scale = "suv:bw", [float(s) for s in suv_scale]
            ctx.used["scale"] = f"Philips SUV scale factor (7053,1000) = {scale[0]:g}"
        elif all(s not in (None, "") for s in act_scale):
            kind, scale = "activity", [float(s) for s in act_scale]
            ctx.used["scale"] = f"Philips activity concentration scale factor (7053,1009) = {scale[0]:g}"
        else:
            ctx.fail("Units (0054,1001) = CNTS but neither Philips private tag (7053,1000) (SUV scale factor) nor "
                     "(7053,1009) (activity concentration scale factor) is present, so counts cannot be converted.",
                     "export the PET in Bq/ml (BQML) from the scanner console.")
    elif units in ("GML", "CM2ML"):
        stored = str(h.get((0x0054, 0x1006)).value if (0x0054, 0x1006) in h else "").strip().upper()
        if not stored:
            stored = "BW" if units == "GML" else "BSA"
            ctx.warnings.append(f"SUV Type (0054,1006) missing; {stored} assumed for Units {units}.")
        if stored not in SUV_TYPE_TO_METHOD:
            ctx.fail(f"DICOM tag SUV Type (0054,1006) = '{stored}' is not a known SUV type.")
        kind, scale = f"suv:{SUV_TYPE_TO_METHOD[stored]}", [1.0] * n
        ctx.used["stored_suv_type"] = f"{stored} from SUV Type (0054,1006)"
    else:
        ctx.fail(f"DICOM tag Units (0054,1001) = '{units or '(missing)'}' cannot be converted to SUV "
                 "(supported: BQML, CNTS with Philips scale factors, GML, CM2ML).",
                 "export the PET in Bq/ml (BQML), or convert it to SUV elsewhere and supply a NIfTI file.")

    if kind.startswith("suv:"):
        stored_method = kind.split(":")[1]
        if stored_method == method:
            per = scale
        else:
            weight, height, sex = _body(h, (method, stored_method), weight_kg, ctx)
            try:
                ratio = _norm(method, weight, height, sex) / _norm(stored_method, weight, height, sex)
            except ValueError as exc:
                ctx.fail(f"cannot change SUV type {stored_method} to {method} ({exc}).", "use the stored SUV type.")
            per = [s * ratio for s in scale]
            ctx.used["type_change"] = f"{stored_method} -> {method}: x {ratio:.6g}"
        dc = str(h.get("DecayCorrection", "")).strip().upper() or "n/a"
    else:
        weight, height, sex = _body(h, (method,), weight_kg, ctx)
        dose, half = _dose_and_half_life(h, dose_mbq, ctx)
        elapsed, dc = _decay_elapsed(headers, half, ctx)
        try:
            norm = _norm(method, weight, height, sex)
        except ValueError as exc:
            ctx.fail(f"SUV normaliser for method '{method}' is not positive ({exc}).", "check weight and height.")
        ctx.used["normaliser"] = f"{norm:.6g} {'cm2' if method == 'bsa' else 'g'}"
        per = [s * norm / (dose * decay_factor(e, half)) for s, e in zip(scale, elapsed)]
    for w in ctx.warnings:
        logger.warning("%s: %s", patient or file, w)
    return SuvFactor(per_slice=tuple(float(p) for p in per), method=method, units=units, decay_correction=dc,
                     tags_used=dict(ctx.used), warnings=tuple(ctx.warnings))
