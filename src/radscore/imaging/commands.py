"""Command-line actions of the imaging stage (wired into ``radscore`` by :mod:`radscore.cli`).

``radscore suv DICOM_DIR --out FILE.nii.gz [--method bw|lbm|lbm_janma|bsa|ibw] [--weight-kg KG] [--dose-mbq MBQ]``
``radscore rtstruct FILE --list``
``radscore rtstruct FILE --roi NAME --image DICOM_DIR --out MASK.nii.gz``
``radscore segment PET --out MASK.nii.gz --threshold 41 [--mode percent_max|suv] [--seed-mm X Y Z]
[--box-mm X0 Y0 Z0 X1 Y1 Z1]``

Errors are raised as :class:`~radscore.errors.RadscoreError` for the CLI to print.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radscore.errors import ConfigError, ImageError
from radscore.runtime.files import atomic_write_bytes


def save_image(image: sitk.Image, path: str | Path) -> Path:
    """Write an image atomically (any SimpleITK format, chosen by the suffix, e.g. .nii.gz)."""
    path = Path(path)
    suffix = "".join(path.suffixes) or ".nii.gz"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_file = os.path.join(tmp, "image" + suffix)
        try:
            sitk.WriteImage(image, tmp_file, True)
        except RuntimeError as exc:
            raise ImageError(f"cannot write the image ({str(exc).strip().splitlines()[-1][:120]}).", file=str(path),
                             fix="use a .nii.gz, .nrrd or .mha file name.") from None
        data = Path(tmp_file).read_bytes()
    return atomic_write_bytes(path, data)


def cmd_suv(dicom_dir: str | Path, out: str | Path, method: str = "bw", *, weight_kg: float | None = None,
            dose_mbq: float | None = None) -> int:
    """Convert a PET DICOM series to an SUV image; print the factor and the tags it used.

    ``weight_kg``/``dose_mbq`` (``--weight-kg``, ``--dose-mbq``) override the header's.
    """
    from radscore.io.dicom import read_pet_suv

    img, factor = read_pet_suv(dicom_dir, method=method, weight_kg=weight_kg, dose_mbq=dose_mbq, override="option")
    save_image(img, out)
    per = np.asarray(factor.per_slice)
    if np.allclose(per, per[0], rtol=1e-12):
        print(f"SUV{method} factor: {per[0]:.6g} (same for all {per.size} slices)")
    else:
        print(f"SUV{method} factor: {per.min():.6g} .. {per.max():.6g} over {per.size} slices")
    for key, value in factor.tags_used.items():
        print(f"  {key}: {value}")
    for w in factor.warnings:
        print(f"  warning: {w}")
    arr = sitk.GetArrayViewFromImage(img)
    print(f"SUV range {float(arr.min()):.4g} .. {float(arr.max()):.4g}; written to {out}")
    return 0


def cmd_rtstruct(file: str | Path, list_rois: bool = False, roi: str | None = None,
                 image_dir: str | Path | None = None, out: str | Path | None = None) -> int:
    """List the ROIs of an RTSTRUCT/SEG, or rasterise one ROI on an image and write the mask."""
    from radscore.io import rtstruct

    if list_rois:
        for name in rtstruct.list_rois(file):
            print(name)
        return 0
    if not roi or image_dir is None or out is None:
        raise ConfigError("give --list, or all of --roi NAME --image DICOM_DIR --out MASK.nii.gz.")
    from radscore.io.images import read_image_file

    image = read_image_file(image_dir, what="image")
    mask = rtstruct.read_mask(file, roi, image)
    save_image(mask, out)
    n = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    ml = n * float(np.prod(mask.GetSpacing())) / 1000.0
    print(f"ROI '{roi}': {n} voxels ({ml:.2f} ml) written to {out}")
    return 0


def cmd_segment(pet: str | Path, out: str | Path, threshold: float, mode: str = "percent_max",
                seed_mm: tuple[float, float, float] | None = None,
                box_mm: tuple[float, float, float, float, float, float] | None = None, method: str = "bw", *,
                weight_kg: float | None = None, dose_mbq: float | None = None) -> int:
    """Semi-automatic PET lesion mask: threshold (SUV or % SUVmax) around a seed / in a box (mm, LPS).

    ``pet`` is an SUV image file or a PET DICOM folder (converted with ``method``;
    ``weight_kg``/``dose_mbq`` override the header's).
    """
    from radscore.imaging.segmentation import segment_pet_image
    from radscore.io.images import read_image_file

    path = Path(pet)
    if path.is_dir():
        from radscore.io.dicom import read_pet_suv

        image, _ = read_pet_suv(path, method=method, weight_kg=weight_kg, dose_mbq=dose_mbq, override="option")
    else:
        image = read_image_file(path, what="PET image")
    if seed_mm is None and box_mm is None:
        raise ConfigError("give --seed-mm X Y Z and/or --box-mm X0 Y0 Z0 X1 Y1 Z1 (mm).")
    box = (tuple(box_mm[:3]), tuple(box_mm[3:])) if box_mm is not None else None
    mask, seg = segment_pet_image(sitk.Cast(image, sitk.sitkFloat32), threshold, mode=mode, seed_mm=seed_mm,
                                  box_mm=box)
    save_image(mask, out)
    ml = seg.n_voxels * float(np.prod(mask.GetSpacing())) / 1000.0
    print(f"SUVmax {seg.suv_max:.3f}, threshold {seg.threshold_suv:.3f} SUV: {seg.n_voxels} voxels "
          f"({ml:.2f} ml) written to {out}")
    return 0
