"""Command-line actions of the imaging stage (wired into ``radscore`` by :mod:`radscore.cli`).

``radscore suv DICOM_DIR --out FILE.nii.gz [--method bw|lbm|lbm_janma|bsa|ibw]``
``radscore rtstruct FILE --list``
``radscore rtstruct FILE --roi NAME --image DICOM_DIR --out MASK.nii.gz``

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


def cmd_suv(dicom_dir: str | Path, out: str | Path, method: str = "bw") -> int:
    """Convert a PET DICOM series to an SUV image; print the factor and the tags it used."""
    from radscore.io.dicom import read_pet_suv

    img, factor = read_pet_suv(dicom_dir, method=method)
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
