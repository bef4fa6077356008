"""Export a simulated scan as CT and PET DICOM series, as a scanner would deliver it.

CT slices store HU through RescaleSlope/RescaleIntercept; PET slices store activity
concentration in Bq/ml (Units BQML, DecayCorrection START) with a per-slice rescale
slope, and carry the SUV tags (PatientWeight, RadionuclideTotalDose, half-life,
injection and series times) chosen so that body-weight SUV computed from them gives
back the simulated SUV:

    SUV_bw = C [Bq/ml] x weight [g] / (dose [Bq] x 2^(-t / T_half))

with ``t`` the time from injection to the series start (Kinahan & Fletcher 2010,
Semin Ultrasound CT MR 31:496; QIBA FDG-PET/CT profile, SUV computation). Files are
deterministic: UIDs derive from the ``uid_seed`` and no wall-clock time is written.

Identifiers default to neutral values; tests plant distinctive ones
(``identifiers={"PatientName": ...}``) to prove they never reach radscore's outputs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
F18_HALF_LIFE_S = 6586.2  # 109.77 min (DDEP/LNHB recommended value)

IDENTIFIER_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber")


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _base(sop_class: str, sop_uid: str, identifiers: dict[str, str], study_uid: str, series_uid: str,
          frame_uid: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("radscore-simulate")
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientName = identifiers.get("PatientName", "SIMULATED^PATIENT")
    ds.PatientID = identifiers.get("PatientID", "SIM")
    ds.PatientBirthDate = identifiers.get("PatientBirthDate", "")
    ds.AccessionNumber = identifiers.get("AccessionNumber", "")
    ds.PatientSex = "O"
    ds.StudyID = "1"
    return ds


def _geometry(img: sitk.Image, k: int) -> tuple[list[float], list[float]]:
    d = np.array(img.GetDirection()).reshape(3, 3)
    origin = np.array(img.GetOrigin())
    pos = origin + d[:, 2] * img.GetSpacing()[2] * k
    orient = list(d[:, 0]) + list(d[:, 1])
    return [float(v) for v in pos], [float(v) for v in orient]


def _write_series(img: sitk.Image, stored: list[np.ndarray], slopes: list[float], intercept: float,
                  folder: Path, modality: str, tags: dict, uids: dict, identifiers: dict, series_number: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sop_class = CT_STORAGE if modality == "CT" else PET_STORAGE
    sx, sy, sz = img.GetSpacing()
    for k, (px, slope) in enumerate(zip(stored, slopes)):
        ds = _base(sop_class, _uid(uids["seed"], modality, k), identifiers, uids["study"],
                   uids[modality], uids["frame"])
        ds.Modality = modality
        ds.SeriesNumber = series_number
        ds.InstanceNumber = k + 1
        pos, orient = _geometry(img, k)
        ds.ImagePositionPatient = pos
        ds.ImageOrientationPatient = orient
        ds.PixelSpacing = [float(sy), float(sx)]  # (row spacing, column spacing)
        ds.SliceThickness = float(sz)
        ds.Rows, ds.Columns = px.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = f"{intercept:g}"
        for key, value in tags.items():
            setattr(ds, key, value)
        ds.PixelData = px.astype("<u2").tobytes()
        pydicom.dcmwrite(folder / f"{modality.lower()}_{k:04d}.dcm", ds, enforce_file_format=True)
    return folder


def write_dicom_scan(ct: sitk.Image, pet_suv: sitk.Image, out: str | Path, *, weight_kg: float = 75.0,
                     dose_mbq: float = 350.0, uptake_min: float = 62.0, identifiers: dict[str, str] | None = None,
                     uid_seed: str = "0", scan_datetime: datetime = datetime(2024, 3, 14, 10, 30, 0)
                     ) -> tuple[Path, Path]:
    """Write ``out/ct`` and ``out/pet`` DICOM series for one simulated scan.

    Parameters
    ----------
    ct : SimpleITK.Image
        CT in HU.
    pet_suv : SimpleITK.Image
        PET in body-weight SUV; stored as Bq/ml so that SUV conversion returns it.
    weight_kg, dose_mbq : float
        PatientWeight and RadionuclideTotalDose written to the PET headers.
    uptake_min : float
        Minutes from injection to the series start.
    identifiers : dict, optional
        Values for PatientName, PatientID, PatientBirthDate, AccessionNumber.
    uid_seed : str
        Makes the UIDs reproducible and distinct between scans.

    Returns
    -------
    (ct_folder, pet_folder) : tuple of Path
    """
    out = Path(out)
    identifiers = dict(identifiers or {})
    unknown = set(identifiers) - set(IDENTIFIER_TAGS)
    if unknown:
        raise ValueError(f"unknown identifier tags {sorted(unknown)}; use {IDENTIFIER_TAGS}")
    uids = {"seed": uid_seed, "study": _uid(uid_seed, "study"), "CT": _uid(uid_seed, "ct-series"),
            "PT": _uid(uid_seed, "pet-series"), "frame": _uid(uid_seed, "frame")}
    date = scan_datetime.strftime("%Y%m%d")
    common = {"StudyDate": date, "SeriesDate": date, "AcquisitionDate": date, "StudyTime": "100000"}

    hu = np.round(sitk.GetArrayFromImage(ct)).astype(np.int32)
    ct_stored = [np.clip(s + 1024, 0, 65535).astype(np.uint16) for s in hu]
    ct_tags = {**common, "SeriesTime": scan_datetime.strftime("%H%M%S"), "AcquisitionTime":
               scan_datetime.strftime("%H%M%S"), "KVP": "120"}
    ct_dir = _write_series(ct, ct_stored, [1.0] * len(ct_stored), -1024.0, out / "ct", "CT", ct_tags,
                           {**uids, "CT": uids["CT"]}, identifiers, 2)

    suv = sitk.GetArrayFromImage(pet_suv).astype(np.float64)
    start = scan_datetime + timedelta(minutes=5)
    # Whole seconds, as the TM tags hold them, so the activity matches what a reader computes.
    injection = start - timedelta(seconds=round(uptake_min * 60.0))
    dose_bq = dose_mbq * 1e6
    decayed = dose_bq * 2.0 ** (-(start - injection).total_seconds() / F18_HALF_LIFE_S)
    activity = np.clip(suv, 0.0, None) * decayed / (weight_kg * 1000.0)  # Bq/ml (1 g/ml tissue density)
    stored, slopes = [], []
    for s in activity:  # one slope per slice, as GE writes them
        slope = float(s.max()) / 32000.0 if s.max() > 0 else 1.0
        stored.append(np.round(s / slope).astype(np.uint16))
        slopes.append(slope)
    rp = pydicom.Dataset()
    rp.Radiopharmaceutical = "Fluorodeoxyglucose"
    rp.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
    rp.RadiopharmaceuticalStartDateTime = injection.strftime("%Y%m%d%H%M%S")
    rp.RadionuclideTotalDose = f"{dose_bq:.6g}"
    rp.RadionuclideHalfLife = f"{F18_HALF_LIFE_S}"
    pet_tags = {**common, "SeriesTime": start.strftime("%H%M%S"), "AcquisitionTime": start.strftime("%H%M%S"),
                "Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY"],
                "PatientWeight": f"{weight_kg:g}", "RadiopharmaceuticalInformationSequence": [rp],
                "SeriesType": ["WHOLE BODY", "IMAGE"]}
    pet_dir = _write_series(pet_suv, stored, slopes, 0.0, out / "pet", "PT", pet_tags, uids, identifiers, 3)
    return ct_dir, pet_dir


RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(mask: sitk.Image, out: str | Path, *, roi_name: str = "GTV", uid_seed: str = "0",
                   identifiers: dict[str, str] | None = None) -> Path:
    """Write a mask as a DICOM RTSTRUCT file with one ROI of closed planar contours.

    Each slice's contours are the 0.5 iso-lines of the mask (``contourpy``, matplotlib's
    contouring), which pass between the voxel centres inside and outside; a reader that
    fills a voxel when its centre lies inside the contour (:mod:`radscore.io.rtstruct`)
    gets the mask back. Holes are contours of their own, read by exclusive or.

    Returns
    -------
    Path of the written file.
    """
    import contourpy

    out = Path(out)
    arr = sitk.GetArrayFromImage(mask) != 0
    uids = {"study": _uid(uid_seed, "study"), "series": _uid(uid_seed, "rtstruct"), "frame": _uid(uid_seed, "frame")}
    ds = _base(RTSTRUCT_STORAGE, _uid(uid_seed, "rtstruct-instance"), dict(identifiers or {}), uids["study"],
               uids["series"], uids["frame"])
    ds.Modality = "RTSTRUCT"
    ds.StructureSetLabel = "radscore"
    frame = pydicom.Dataset()
    frame.FrameOfReferenceUID = uids["frame"]
    ds.ReferencedFrameOfReferenceSequence = [frame]
    roi = pydicom.Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = uids["frame"]
    roi.ROIName = roi_name
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = [roi]
    contours = []
    for k, plane in enumerate(arr):
        if not plane.any():
            continue
        padded = np.pad(plane.astype(float), 1)  # closed lines also where the mask touches the edge
        for line in contourpy.contour_generator(z=padded, name="serial").lines(0.5):
            if len(line) < 4:
                continue
            pts = [mask.TransformContinuousIndexToPhysicalPoint((float(x) - 1.0, float(y) - 1.0, float(k)))
                   for x, y in line[:-1]]  # the last point repeats the first
            c = pydicom.Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.4f}" for p in pts for v in p]
            contours.append(c)
    rc = pydicom.Dataset()
    rc.ReferencedROINumber = 1
    rc.ROIDisplayColor = [255, 0, 0]
    rc.ContourSequence = contours
    ds.ROIContourSequence = [rc]
    obs = pydicom.Dataset()
    obs.ObservationNumber = 1
    obs.ReferencedROINumber = 1
    obs.RTROIInterpretedType = "GTV"
    obs.ROIInterpreter = ""
    ds.RTROIObservationsSequence = [obs]
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out
