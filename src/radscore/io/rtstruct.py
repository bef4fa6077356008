"""Masks from DICOM: RTSTRUCT by ROI name, DICOM SEG by segment label.

RTSTRUCT: the file is read with pydicom; each closed planar contour is mapped into the
image's continuous voxel index space with SimpleITK (so any origin, spacing and
direction are handled) and a voxel belongs to the ROI when its centre lies inside the
contour (``matplotlib.path.Path.contains_points``, a maintained point-in-polygon test).
Contours on the same slice are combined by exclusive or, so a contour drawn inside
another is a hole, the usual reading of DICOM RT contours. rt-utils was not used: it
needs OpenCV only to fill polygons, and ``cv2.fillPoly`` also fills voxels whose centre
lies outside the contour but which its edge crosses, which inflates small lesions.

SEG: read with highdicom (:func:`highdicom.seg.segread`), the segment chosen by its
label, its volume placed on the image grid by nearest-neighbour resampling.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from matplotlib.path import Path as PolyPath

from radscore.errors import ImageError

logger = logging.getLogger(__name__)


def _read(path: str | Path, patient: str | None):
    path = Path(path)
    if path.is_dir():
        cands = [p for p in sorted(path.iterdir()) if p.is_file()]
        found = []
        for p in cands:
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["Modality"])
            except Exception:  # noqa: BLE001 - not a DICOM file
                continue
            if str(ds.get("Modality", "")) in ("RTSTRUCT", "SEG"):
                found.append(p)
        if len(found) != 1:
            raise ImageError(f"the folder holds {len(found)} RTSTRUCT/SEG files; expected one.", patient=patient,
                             file=str(path), fix="point at the RTSTRUCT or SEG file itself.")
        path = found[0]
    if not path.exists():
        raise ImageError("mask file not found.", patient=patient, file=str(path))
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
        raise ImageError(f"cannot read the DICOM file ({type(exc).__name__}).", patient=patient,
                         file=str(path)) from None
    modality = str(ds.get("Modality", ""))
    if modality not in ("RTSTRUCT", "SEG"):
        raise ImageError(f"the file's Modality is '{modality}', not RTSTRUCT or SEG.", patient=patient, file=str(path))
    return ds, path


def modality_of(path: str | Path) -> str:
    """``RTSTRUCT`` or ``SEG``: what kind of DICOM mask file ``path`` is (header only)."""
    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality", ""))


def list_rois(path: str | Path) -> list[str]:
    """Names of the ROIs of an RTSTRUCT, or labels of the segments of a DICOM SEG, in file order."""
    ds, _ = _read(path, None)
    if ds.Modality == "RTSTRUCT":
        return [str(r.ROIName) for r in ds.get("StructureSetROISequence", [])]
    return [str(s.SegmentLabel) for s in ds.get("SegmentSequence", [])]


def _roi_number(ds, roi: str, patient: str | None, file: str) -> int:
    names = {str(r.ROIName): int(r.ROINumber) for r in ds.get("StructureSetROISequence", [])}
    if roi in names:
        return names[roi]
    folded = {k.strip().lower(): v for k, v in names.items()}
    if roi.strip().lower() in folded:
        return folded[roi.strip().lower()]
    raise ImageError(f"ROI '{roi}' is not in the RTSTRUCT; it has {sorted(names)}.", patient=patient, file=file,
                     fix="use one of the listed names (radscore rtstruct FILE --list).")


def rasterise_contours(contours: list[np.ndarray], reference: sitk.Image, *, tolerance: float = 0.3) -> tuple[np.ndarray, int]:
    """Fill closed planar contours (each N x 3, physical mm) on ``reference``'s grid.

    Returns
    -------
    mask : ndarray of bool (z, y, x)
    skipped : int
        Contours lying between slices by more than ``tolerance`` of a slice, or outside the image.
    """
    size = reference.GetSize()
    mask = np.zeros(size[::-1], dtype=bool)
    skipped = 0
    for pts in contours:
        idx = np.array([reference.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in p)) for p in pts])
        zc = float(np.median(idx[:, 2]))
        k = int(round(zc))
        if abs(zc - k) > tolerance or not 0 <= k < size[2] or np.ptp(idx[:, 2]) > 2 * tolerance:
            skipped += 1
            continue
        xy = idx[:, :2]
        lo = np.maximum(np.floor(xy.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(xy.max(axis=0)).astype(int), np.array(size[:2]) - 1)
        if np.any(hi < lo):
            skipped += 1
            continue
        gx, gy = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        inside = PolyPath(xy).contains_points(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
        mask[k, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] ^= inside
    return mask, skipped


def read_rtstruct(path: str | Path, roi: str, reference: sitk.Image, *, patient: str | None = None) -> sitk.Image:
    """Rasterise one RTSTRUCT ROI on the grid of ``reference`` (uint8 0/1 image)."""
    ds, path = _read(path, patient)
    if ds.Modality != "RTSTRUCT":
        return read_seg(path, roi, reference, patient=patient)
    number = _roi_number(ds, roi, patient, str(path))
    contours = []
    for rc in ds.get("ROIContourSequence", []):
        if int(rc.ReferencedROINumber) != number:
            continue
        for c in rc.get("ContourSequence", []):
            if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) != "CLOSED_PLANAR":
                continue
            data = np.asarray([float(v) for v in c.ContourData]).reshape(-1, 3)
            if len(data) >= 3:
                contours.append(data)
    if not contours:
        raise ImageError(f"ROI '{roi}' has no closed planar contour.", patient=patient, file=str(path))
    arr, skipped = rasterise_contours(contours, reference)
    if skipped:
        logger.warning("%s: %d of %d contours of '%s' are off the image's slices and were skipped",
                       patient or path, skipped, len(contours), roi)
    if not arr.any():
        raise ImageError(f"ROI '{roi}' covers no voxel of the image: the RTSTRUCT does not belong to this image.",
                         patient=patient, file=str(path), fix="check that --image is the series the RTSTRUCT was drawn on.")
    out = sitk.GetImageFromArray(arr.astype(np.uint8))
    out.CopyInformation(reference)
    return out


def read_seg(path: str | Path, label: str, reference: sitk.Image, *, patient: str | None = None) -> sitk.Image:
    """One segment of a DICOM SEG, by label, on the grid of ``reference`` (uint8 0/1 image)."""
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"cannot read the DICOM SEG ({type(exc).__name__}: {str(exc)[:120]}).", patient=patient,
                         file=str(path)) from None
    numbers = seg.get_segment_numbers(segment_label=label)
    if not numbers:
        labels = [str(s.SegmentLabel) for s in seg.SegmentSequence]
        raise ImageError(f"segment '{label}' is not in the SEG; it has {labels}.", patient=patient, file=str(path))
    try:
        vol = seg.get_volume(segment_numbers=numbers[:1], combine_segments=True, skip_overlap_checks=True)
    except Exception as exc:  # noqa: BLE001 - frames not on a regular grid
        raise ImageError(f"the SEG frames do not form a regular volume ({str(exc)[:120]}).", patient=patient,
                         file=str(path)) from None
    arr = np.asarray(vol.array)
    if arr.ndim == 4:
        arr = arr[..., 0]
    affine = np.asarray(vol.affine)  # maps (i, j, k) = (frame, row, column) to LPS mm
    # SimpleITK indexes (x=column, y=row, z=frame): reorder the array and the affine columns.
    img = sitk.GetImageFromArray((arr > 0).astype(np.uint8))
    cols = affine[:3, [2, 1, 0]]
    spacing = np.linalg.norm(cols, axis=0)
    img.SetSpacing(tuple(float(s) for s in spacing))
    img.SetDirection(tuple(float(v) for v in (cols / spacing).ravel()))
    img.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    out = sitk.Resample(img, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(out).any():
        raise ImageError(f"segment '{label}' covers no voxel of the image.", patient=patient, file=str(path),
                         fix="check that the image is the one the SEG refers to.")
    return out


def read_mask(path: str | Path, name: str, reference: sitk.Image, *, patient: str | None = None) -> sitk.Image:
    """A mask from an RTSTRUCT (ROI ``name``) or a DICOM SEG (segment label ``name``) on ``reference``'s grid."""
    ds, path = _read(path, patient)
    if ds.Modality == "SEG":
        return read_seg(path, name, reference, patient=patient)
    return read_rtstruct(path, name, reference, patient=patient)
