"""Load images and masks from NIfTI, NRRD, MHA files or DICOM series folders.

CT arrives in HU, PET in SUV (DICOM PET is converted from its tags, see
:mod:`radscore.io.dicom`; image files are taken to hold SUV already). Every failure is
an :class:`~radscore.errors.ImageError` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk

from radscore.errors import ImageError

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")


def read_image_file(path: str | Path, *, patient: str | None = None, what: str = "image") -> sitk.Image:
    """Read one image file with SimpleITK, or a DICOM folder (CT/any, no SUV)."""
    path = Path(path) if path is not None else None
    if path is None or str(path) in ("", "None"):
        raise ImageError(f"no {what} path given in the manifest.", patient=patient)
    if not path.exists():
        raise ImageError(f"{what} file not found.", patient=patient, file=str(path),
                         fix="check the path (a manifest's paths are relative to the manifest file).")
    if path.is_dir():
        from radscore.io.dicom import read_series

        return read_series(path, patient=patient)
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise ImageError(
            f"cannot read {what} ({first[:160]}); the file is truncated or not an image.",
            patient=patient, file=str(path), fix=f"supply a {', '.join(IMAGE_SUFFIXES)} file or a DICOM folder.",
        ) from None
    try:
        check_nifti_length(path)
    except ImageError as exc:
        raise exc.with_patient(patient) if patient is not None else exc
    if img.GetDimension() != 3:
        raise ImageError(f"{what} has {img.GetDimension()} dimensions, expected 3.", patient=patient, file=str(path))
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageError(f"{what} has several components per voxel (vector/RGB image).", patient=patient, file=str(path))
    return img


_NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}
_GZIP_CHUNK = 1 << 24


class _NiftiHeader(NamedTuple):
    endian: str
    datatype: int
    offset: int  # where the voxel data starts
    nbytes: int  # voxel data bytes the dimensions and bitpix declare


def _nifti_header(head: bytes) -> _NiftiHeader | None:
    """The NIfTI-1/2 header fields radscore checks (NIfTI standard offsets), None if not NIfTI."""
    for endian in ("<", ">"):
        size = int(np.frombuffer(head[:4], f"{endian}i4")[0])
        if size == 348 and len(head) >= 348:
            dims = np.frombuffer(head[40:56], f"{endian}i2").astype(np.int64)
            datatype = int(np.frombuffer(head[70:72], f"{endian}i2")[0])
            bitpix = int(np.frombuffer(head[72:74], f"{endian}i2")[0])
            offset = int(np.frombuffer(head[108:112], f"{endian}f4")[0])
        elif size == 540 and len(head) >= 540:
            dims = np.frombuffer(head[16:80], f"{endian}i8")
            datatype = int(np.frombuffer(head[12:14], f"{endian}i2")[0])
            bitpix = int(np.frombuffer(head[14:16], f"{endian}i2")[0])
            offset = int(np.frombuffer(head[168:176], f"{endian}i8")[0])
        else:
            continue
        n_dims = int(dims[0])
        if not 1 <= n_dims <= 7:
            return None
        return _NiftiHeader(endian, datatype, offset, int(np.prod(np.maximum(dims[1:n_dims + 1], 1))) * bitpix // 8)
    return None


def _unreadable(p: str, exc: Exception) -> ImageError:
    return ImageError(f"cannot read the image ({type(exc).__name__}: {exc}); the file is truncated or damaged.",
                      file=p, fix="copy or export the file again.")


def check_nifti_length(path: str | Path) -> None:
    """ImageError when a NIfTI file holds fewer voxel bytes than its header declares.

    Written by hand because ITK's NIfTI reader fills the missing part of a cut-off file
    (``.nii`` or ``.nii.gz``) with zeros and reports success, so a half-copied image would
    give wrong features silently. Other formats are left to ITK.
    """
    p = str(path)
    if not (p.endswith(".nii") or p.endswith(".nii.gz")):
        return
    total = 0
    try:
        with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as fh:
            header = _nifti_header(fh.read(544))
            if header is None:
                return
            total = 544
            if p.endswith(".gz"):
                while chunk := fh.read(_GZIP_CHUNK):
                    total += len(chunk)
            else:
                total = Path(p).stat().st_size
    except (EOFError, OSError, zlib.error) as exc:
        raise _unreadable(p, exc) from None
    offset, expected = header.offset, header.nbytes
    if total < offset + expected:
        raise ImageError(f"the file holds {max(total - offset, 0)} bytes of voxel data where its header declares "
                         f"{expected}: it is truncated.", file=p, fix="copy or export the file again.")


def file_problem(path: str | Path, *, dicom_object: bool = False) -> str | None:
    """Why an image file or DICOM folder cannot be read, or None: a cheap check for ``radscore validate``.

    Reads headers only (a NIfTI header, ITK's image information, the first DICOM file of
    a folder), so a study of hundreds of scans is checked in seconds; a file cut off
    after its header is found when the scan is loaded. ``dicom_object`` marks an
    RTSTRUCT/SEG mask file, checked as DICOM.
    """
    import pydicom

    p = Path(path)
    if not p.exists():
        return "file not found"
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            return "the DICOM folder is empty"
        for f in files:  # stray non-DICOM files are ignored on reading too; one DICOM file suffices here
            try:
                pydicom.dcmread(f, stop_before_pixels=True)
                return None
            except PermissionError as exc:
                return f"cannot read {f.name} ({exc.strerror})"
            except Exception:  # noqa: BLE001 - pydicom raises many types for non-DICOM files
                continue
        return "the folder holds no DICOM file"
    name = p.name.lower()
    try:
        if dicom_object:
            pydicom.dcmread(p, stop_before_pixels=True)
        elif name.endswith(".nii") or name.endswith(".nii.gz"):
            with (gzip.open(p, "rb") if name.endswith(".gz") else open(p, "rb")) as fh:
                if _nifti_header(fh.read(544)) is None:
                    return "not a NIfTI file (no NIfTI header)"
        else:
            with open(p, "rb"):  # a permission problem as such, rather than as ITK's 'cannot read'
                pass
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(p))
            reader.ReadImageInformation()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except (EOFError, zlib.error):
        return "damaged (not a complete gzip file)"
    except RuntimeError:
        return f"not an image file ITK can read (use {', '.join(IMAGE_SUFFIXES)} or a DICOM folder)"
    except Exception as exc:  # noqa: BLE001 - pydicom's errors for a non-DICOM RTSTRUCT/SEG file
        return f"not a DICOM file ({type(exc).__name__})"
    return None


def nifti_nonfinite_count(path: str | Path) -> int:
    """NaN/inf voxels stored in a float NIfTI file (0 for other files).

    Written by hand because ITK's NIfTI reader silently turns NaN into 0, which would
    hide corrupt voxels from every later check; no dependency of ours reads the raw
    payload otherwise. NIfTI-1/2 header fields as in the NIfTI standard.
    """
    p = str(path)
    if not (p.endswith(".nii") or p.endswith(".nii.gz")):
        return 0
    opener = gzip.open if p.endswith(".gz") else open
    try:
        with opener(p, "rb") as fh:
            raw = fh.read()
    except (EOFError, OSError, zlib.error) as exc:  # ITK reads a cut-off .nii.gz without complaint
        raise _unreadable(p, exc) from None
    header = _nifti_header(raw[:544])
    if header is None or header.datatype not in _NIFTI_FLOAT_TYPES:
        return 0
    code = f"{header.endian}{_NIFTI_FLOAT_TYPES[header.datatype]}"
    payload = raw[header.offset:]
    payload = payload[: len(payload) - len(payload) % np.dtype(code).itemsize]
    return int((~np.isfinite(np.frombuffer(payload, code))).sum())


def _finite(img: sitk.Image, path, what: str, patient: str | None) -> sitk.Image:
    """``img`` as float32, or ImageError for NaN/infinite voxels (also those ITK's NIfTI reader hides)."""
    img = sitk.Cast(img, sitk.sitkFloat32)
    p = Path(path) if path else None
    finite = np.isfinite(sitk.GetArrayViewFromImage(img))
    try:
        n = int((~finite).sum()) or (nifti_nonfinite_count(path) if p is not None and p.is_file() else 0)
    except ImageError as exc:
        raise exc.with_patient(patient) if patient is not None else exc
    if n:
        raise ImageError(f"{what} has {n} NaN/infinite voxel(s).", patient=patient,
                         file=str(path), fix="re-export the image; radscore does not guess missing intensities.")
    return img


def load_image(path: str | Path, *, modality: str, patient: str | None = None) -> sitk.Image:
    """Load a CT (HU; DICOM rescale applied) or any other single-channel volume as float32.

    PET goes through :func:`load_pet`, which keeps the SUV conversion's record.
    """
    img = read_image_file(path, patient=patient, what=f"{modality.upper()} image")
    return _finite(img, path, f"{modality.upper()} image", patient)


def load_pet(path: str | Path, *, patient: str | None = None, weight_kg: float | None = None,
             dose_mbq: float | None = None, suv_method: str = "bw"):
    """Load a PET volume in SUV as float32, with the SUV factor when it was computed here.

    A DICOM folder is converted to SUV from its tags (:func:`radscore.io.dicom.read_pet_suv`;
    ``weight_kg``/``dose_mbq`` override missing tags); an image file is taken to hold SUV.

    Returns
    -------
    image : SimpleITK.Image
    factor : SuvFactor or None
        None for an image file.
    """
    p = Path(path) if path else None
    factor = None
    if p is not None and p.is_dir():
        from radscore.io.dicom import read_pet_suv

        img, factor = read_pet_suv(p, patient=patient, method=suv_method, weight_kg=weight_kg, dose_mbq=dose_mbq)
    else:
        img = read_image_file(path, patient=patient, what="PET image")
    return _finite(img, path, "PET image", patient), factor


def load_mask(path: str | Path, *, patient: str | None = None, label: int | None = None,
              what: str = "mask", roi: str | None = None, reference: sitk.Image | None = None,
              expect_label: int | None = None) -> sitk.Image:
    """Load a binary mask (uint8, 0/1).

    A mask with several labels is an error unless ``label`` picks one; with one label and
    ``expect_label`` set (PyRadiomics' default label 1 in ``radscore extract``), that label
    must be it. A DICOM RTSTRUCT or SEG file is rasterised on ``reference`` (the CT) for
    the ROI/segment named ``roi``.
    """
    if path and Path(path).is_file() and roi is not None:
        from radscore.io.rtstruct import read_mask

        if reference is None:
            raise ImageError("an RTSTRUCT/SEG mask needs the CT to be drawn on.", patient=patient, file=str(path))
        return read_mask(path, roi, reference, patient=patient)
    img = read_image_file(path, patient=patient, what=what)
    try:  # ITK reads a NIfTI mask's NaN/inf as 0, and a cut-off .nii.gz as zeros beyond the cut: refuse both
        nonfinite = nifti_nonfinite_count(path)
    except ImageError as exc:
        raise exc.with_patient(patient) if patient is not None else exc
    arr = sitk.GetArrayFromImage(img)
    if nonfinite or not np.isfinite(arr).all():
        raise ImageError(f"{what} holds NaN/infinite values.", patient=patient, file=str(path))
    labels = np.unique(arr[arr != 0])
    if label == 0:  # would select the background around the lesion as its region
        raise ImageError(f"{what} label 0 is the background, not a region (its labels: {labels.tolist()[:10]}).",
                         patient=patient, file=str(path), fix="choose one of its labels.")
    if label is not None:
        binary = arr == label
        if not binary.any():
            raise ImageError(f"{what} has no voxel with label {label} (its labels: {labels.tolist()[:10]}).",
                             patient=patient, file=str(path), fix="choose one of its labels.")
    elif labels.size > 1:
        raise ImageError(
            f"{what} holds several labels {labels.tolist()[:10]}, expected one.", patient=patient,
            file=str(path), fix="choose one (manifest column mask_label; radscore extract --label) or export a "
                                "binary mask.",
        )
    elif expect_label is not None and labels.size == 1 and labels[0] != expect_label:
        raise ImageError(f"{what} has no voxel with label {expect_label} (its label is {labels[0]:g}).",
                         patient=patient, file=str(path), fix=f"pass --label {labels[0]:g} or set setting: label:.")
    else:
        binary = arr != 0
    out = sitk.GetImageFromArray(binary.astype(np.uint8))
    out.CopyInformation(img)
    return out
