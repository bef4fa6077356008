"""DICOM series: CT in HU (rescale applied by SimpleITK), PET converted to SUV.

Identifying header fields (names, IDs, dates of birth, accession numbers) are never
read into outputs or logs: only the manifest's patient ID is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.imaging.suv import SuvFactor, suv_factor_from_headers

log = logging.getLogger(__name__)


def _series_files(folder: Path, patient: str | None) -> list[str]:
    reader = sitk.ImageSeriesReader
    ids = reader.GetGDCMSeriesIDs(str(folder))
    if not ids:
        raise ImageError("no DICOM series found in the folder.", patient=patient, file=str(folder),
                         fix="point the manifest at a folder of DICOM image slices.")
    if len(ids) > 1:
        raise ImageError(f"the folder holds {len(ids)} DICOM series; expected one.", patient=patient,
                         file=str(folder), fix="put each series in its own folder.")
    return list(reader.GetGDCMSeriesFileNames(str(folder), ids[0]))


def _check_slice_spacing(files: list[str], patient: str | None, folder: Path) -> None:
    """A missing slice shows as a gap twice the usual spacing between slice positions."""
    if len(files) < 3:
        return
    pos = []
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["ImagePositionPatient", "ImageOrientationPatient"])
        if "ImagePositionPatient" not in ds:
            return
        pos.append([float(v) for v in ds.ImagePositionPatient])
    ds0 = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["ImageOrientationPatient"])
    o = np.array([float(v) for v in ds0.ImageOrientationPatient]) if "ImageOrientationPatient" in ds0 else np.array([1, 0, 0, 0, 1, 0.0])
    normal = np.cross(o[:3], o[3:])
    z = np.sort(np.asarray(pos) @ normal)
    gaps = np.diff(z)
    med = np.median(gaps)
    if med <= 0 or np.any(np.abs(gaps - med) > 0.1 * med + 1e-3):
        where = int(np.argmax(np.abs(gaps - med)))
        raise ImageError(
            f"slice spacing is not uniform (gap of {gaps[where]:.2f} mm where {med:.2f} mm is usual, "
            f"after slice {where + 1} of {len(z)}): a slice is missing or series are mixed.",
            patient=patient, file=str(folder), fix="re-export the complete series.",
        )
    # ITK reads the series as evenly spaced and says so only on stderr (silenced by the CLI);
    # a deviation above 1 % of the spacing is worth the user's eye, a smaller one is rounding
    deviation = float(np.max(np.abs(gaps - med)))
    if deviation > 0.01 * med:
        who = f"patient {patient}: " if patient is not None else ""
        log.warning("%s%s: slice spacing varies by up to %.2f mm around %.2f mm; the series is read as evenly "
                    "spaced.", who, folder, deviation, med)


def read_series(folder: str | Path, *, patient: str | None = None) -> sitk.Image:
    """Read a DICOM series folder (rescale slope/intercept applied: CT in HU)."""
    folder = Path(folder)
    files = _series_files(folder, patient)
    _check_slice_spacing(files, patient, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    # float output: each file's own rescale slope/intercept is applied without truncation
    reader.SetOutputPixelType(sitk.sitkFloat32)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ImageError(f"cannot read the DICOM series ({str(exc).strip().splitlines()[-1][:160]}).",
                         patient=patient, file=str(folder)) from None
    return sitk.Cast(img, sitk.sitkFloat32)


def _geometry(headers: list, patient: str | None, folder: Path) -> tuple[list, np.ndarray, np.ndarray, float]:
    """Sort slices along the slice normal; return them with direction (3x3), origin and slice spacing."""
    for ds in headers:
        if "ImagePositionPatient" not in ds or "PixelSpacing" not in ds:
            raise ImageError("a PET slice lacks ImagePositionPatient (0020,0032) or PixelSpacing (0028,0030).",
                             patient=patient, file=str(folder), fix="re-export the series.")
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise ImageError("multi-frame (enhanced) PET objects are not supported.", patient=patient,
                             file=str(folder), fix="export the PET as one file per slice.")
    iops = np.array([[float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])] for ds in headers])
    if np.abs(iops - iops[0]).max() > 1e-4:
        raise ImageError("the PET slices have different ImageOrientationPatient (0020,0037): mixed series.",
                         patient=patient, file=str(folder), fix="put each series in its own folder.")
    for kw in ("Units", "DecayCorrection"):
        values = {str(ds.get(kw, "")) for ds in headers}
        if len(values) > 1:
            raise ImageError(f"the PET slices disagree on {kw}: {sorted(values)}.", patient=patient,
                             file=str(folder), fix="re-export the series.")
    iop = iops[0]
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    pos = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in headers])
    order = np.argsort(pos @ normal, kind="stable")
    headers = [headers[i] for i in order]
    z = (pos @ normal)[order]
    gaps = np.diff(z)
    if len(gaps):
        med = float(np.median(gaps))
        if med <= 0 or np.any(np.abs(gaps - med) > 0.1 * med + 1e-3):
            where = int(np.argmax(np.abs(gaps - med)))
            raise ImageError(
                f"slice spacing is not uniform (gap of {gaps[where]:.2f} mm where {med:.2f} mm is usual, "
                f"after slice {where + 1} of {len(z)}): a slice is missing or series are mixed.",
                patient=patient, file=str(folder), fix="re-export the complete series.")
    else:
        med = float(headers[0].get("SliceThickness", 1.0) or 1.0)
    direction = np.column_stack([row, col, normal])
    return headers, direction, pos[order[0]], med


def _slice_values(ds, patient: str | None, folder: Path) -> np.ndarray:
    """Rescaled values (slope * stored + intercept) of one slice.

    pydicom decodes uncompressed and most compressed data; where it lacks a decoder for
    the transfer syntax, SimpleITK (GDCM) reads the file, applying the same rescale.
    """
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    try:
        return ds.pixel_array.astype(np.float64) * slope + intercept
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for missing decoders
        first = f"{type(exc).__name__}: {str(exc)[:100]}"
    try:
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(ds.filename), sitk.sitkFloat64))
        return arr.reshape(arr.shape[-2:])
    except (RuntimeError, AttributeError, TypeError):
        raise ImageError(f"cannot decode PET pixel data ({first}).", patient=patient, file=str(folder),
                         fix="decompress the series (e.g. with dcmdjpeg) or install a pydicom pixel-data handler.") from None


def read_pet_suv(folder: str | Path, *, patient: str | None = None, method: str = "bw",
                 weight_kg: float | None = None, dose_mbq: float | None = None,
                 override: str = "manifest") -> tuple[sitk.Image, SuvFactor]:
    """Read a PET DICOM series and convert it to SUV.

    Pixel data are read with pydicom, slice by slice, because the rescale slope (GE
    stores one per slice) and, for NONE decay correction or Philips scale factors, the
    SUV factor differ between slices; each slice's own values are applied to it.

    Parameters
    ----------
    folder : path
        Folder holding one PET series (one file per slice).
    patient : str, optional
        Manifest ID, for messages.
    method : {"bw", "lbm", "lbm_janma", "bsa", "ibw"}
        SUV normalisation (see :mod:`radscore.imaging.suv`).
    weight_kg, dose_mbq : float, optional
        Manifest values overriding PatientWeight (0010,1030) and RadionuclideTotalDose (0018,1074).
    override : {"manifest", "option"}
        Whether those come from manifest columns or command-line options (named by the error
        for a missing tag; see :func:`radscore.imaging.suv.suv_factor_from_headers`).

    Returns
    -------
    image : SimpleITK.Image
        float32 SUV volume.
    factor : SuvFactor
        The factor(s) used and the tags they came from (for the run record).
    """
    folder = Path(folder)
    files = _series_files(folder, patient)
    try:
        headers = [pydicom.dcmread(f) for f in files]
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
        raise ImageError(f"cannot read a PET DICOM file ({type(exc).__name__}: {str(exc)[:120]}).",
                         patient=patient, file=str(folder)) from None
    headers, direction, origin, dz = _geometry(headers, patient, folder)
    factor = suv_factor_from_headers(headers, method=method, weight_kg=weight_kg, dose_mbq=dose_mbq,
                                     patient=patient, file=str(folder), override=override)
    slices = [_slice_values(ds, patient, folder) * f for ds, f in zip(headers, factor.per_slice)]
    arr = np.stack(slices).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    ps = [float(v) for v in headers[0].PixelSpacing]  # (row spacing, column spacing)
    img.SetSpacing((ps[1], ps[0], float(dz)))
    img.SetOrigin(tuple(float(v) for v in origin))
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return img, factor
