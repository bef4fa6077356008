"""DICOM series: CT in HU (rescale applied by SimpleITK), PET converted to SUV.

Identifying header fields (names, IDs, dates of birth, accession numbers) are never
read into outputs or logs: only the manifest's patient ID is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.imaging.suv import SuvFactor, suv_factor_from_headers


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


def read_series(folder: str | Path, *, patient: str | None = None) -> sitk.Image:
    """Read a DICOM series folder (rescale slope/intercept applied: CT in HU)."""
    folder = Path(folder)
    files = _series_files(folder, patient)
    _check_slice_spacing(files, patient, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ImageError(f"cannot read the DICOM series ({str(exc).strip().splitlines()[-1][:160]}).",
                         patient=patient, file=str(folder)) from None
    return sitk.Cast(img, sitk.sitkFloat32)


def read_pet_suv(folder: str | Path, *, patient: str | None = None, method: str = "bw",
                 weight_kg: float | None = None, dose_mbq: float | None = None) -> tuple[sitk.Image, SuvFactor]:
    """Read a PET DICOM series and convert it to SUV.

    Slices are read one by one because the rescale slope (and, for some vendors, the
    SUV factor) differs per slice.

    Returns
    -------
    image : SimpleITK.Image
        SUV volume on the series' grid.
    factor : SuvFactor
        The factor(s) used and the tags they came from (for the run record).
    """
    folder = Path(folder)
    files = _series_files(folder, patient)
    _check_slice_spacing(files, patient, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        img = reader.Execute()  # applies each slice's rescale slope/intercept
    except RuntimeError as exc:
        raise ImageError(f"cannot read the PET series ({str(exc).strip().splitlines()[-1][:160]}).",
                         patient=patient, file=str(folder)) from None
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    factor = suv_factor_from_headers(headers, method=method, weight_kg=weight_kg, dose_mbq=dose_mbq,
                                     patient=patient, file=str(folder))
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    # The reader stacks files in the order given, so slice k belongs to headers[k].
    arr *= np.asarray(factor.per_slice, dtype=np.float64)[:, None, None]
    out = sitk.GetImageFromArray(arr.astype(np.float32))
    out.CopyInformation(img)
    return out, factor

