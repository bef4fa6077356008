"""Conventional PET measures of a tumour: SUVmax, SUVmean, SUVpeak, MTV and TLG.

The seeds compare their Radscores with these and enter SUVmax and MTV into the mCRC
clinical model. They are measured on the PET's own (native) grid, before any resampling,
as a nuclear-medicine reader would: the tumour mask is brought onto the PET grid instead.

Definitions
-----------
* SUVmax, SUVmean: maximum and mean SUV of the PET voxels inside the tumour.
* SUVpeak: IBSI 1's *global intensity peak* (``loc_peak_glob``): the highest mean SUV in a
  1 cm^3 sphere (radius 6.2 mm) centred on any tumour voxel, averaging every image voxel
  whose centre lies in the sphere (inside the tumour or not). ``local_peak`` is IBSI's
  ``loc_peak_loc``, the sphere centred on the hottest tumour voxel (the highest such mean when
  several share the maximum).
* MTV: volume (ml) of the tumour voxels with SUV >= ``mtv_fraction`` x SUVmax (41 % by
  default, the EANM guideline's isocontour), or >= a fixed SUV (``mtv_suv``, e.g. 2.5).
* TLG: MTV x the mean SUV inside the MTV.

References
----------
Zwanenburg A et al. The Image Biomarker Standardization Initiative. Radiology
2020;295:328-338 (local intensity features, 3.2).
Boellaard R et al. FDG PET/CT: EANM procedure guidelines for tumour imaging, version 2.0.
Eur J Nucl Med Mol Imaging 2015;42:328-354.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: The sphere of SUVpeak: 1 cm^3 -> radius (3 / (4 pi) * 1000 mm^3)^(1/3) = 6.2035 mm.
PEAK_RADIUS_MM = float((3.0 / (4.0 * np.pi) * 1000.0) ** (1.0 / 3.0))


def _sphere(spacing_zyx, radius_mm: float) -> np.ndarray:
    half = [int(np.floor(radius_mm / s)) for s in spacing_zyx]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing_zyx)], indexing="ij")
    return (sum(g**2 for g in grids) <= radius_mm**2).astype(float)


def intensity_peaks(image: np.ndarray, mask: np.ndarray, spacing_zyx, radius_mm: float = PEAK_RADIUS_MM,
                    ) -> tuple[float, float]:
    """IBSI local and global intensity peaks (``loc_peak_loc``, ``loc_peak_glob``).

    Parameters
    ----------
    image : array (z, y, x)
    mask : bool array, same shape
    spacing_zyx : voxel size in mm
    radius_mm : float
        Sphere radius (default: 1 cm^3).

    Returns
    -------
    (local, global)
        Voxels outside the image do not count (the mean is over the voxels that exist).
    """
    img = np.asarray(image, float)
    m = np.asarray(mask, bool)
    if not m.any():
        raise ValueError("the mask holds no voxel")
    kernel = _sphere(spacing_zyx, radius_mm)
    # only the tumour's box plus the sphere is needed
    idx = np.argwhere(m)
    half = np.array(kernel.shape) // 2
    lo, hi = np.maximum(idx.min(0) - half, 0), np.minimum(idx.max(0) + half + 1, img.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    sums = ndimage.correlate(img[box], kernel, mode="constant", cval=0.0)
    counts = ndimage.correlate(np.ones_like(img[box]), kernel, mode="constant", cval=0.0)
    means = sums / counts
    inside = m[box]
    hottest = inside & (img[box] == img[box][inside].max())
    return float(means[hottest].max()), float(means[inside].max())


def pet_measures(suv: np.ndarray, mask: np.ndarray, spacing_zyx, *, mtv_fraction: float = 0.41,
                 mtv_suv: float | None = None) -> dict[str, float]:
    """SUVmax, SUVmean, SUVpeak (global and local), MTV (ml) and TLG of one tumour.

    ``mtv_suv`` (a fixed SUV) replaces the relative threshold ``mtv_fraction`` x SUVmax when given.
    """
    s = np.asarray(suv, float)
    m = np.asarray(mask, bool)
    values = s[m]
    local, peak = intensity_peaks(s, m, spacing_zyx)
    threshold = float(mtv_suv) if mtv_suv is not None else mtv_fraction * float(values.max())
    mtv_voxels = values >= threshold
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    mtv = float(mtv_voxels.sum()) * voxel_ml
    return {"SUVmax": float(values.max()), "SUVmean": float(values.mean()), "SUVpeak": peak, "SUVpeak_local": local,
            "MTV_ml": mtv, "TLG": mtv * float(values[mtv_voxels].mean()) if mtv_voxels.any() else 0.0,
            "MTV_threshold_SUV": threshold}


def pet_measures_native(pet: sitk.Image, mask: sitk.Image, *, mtv_fraction: float = 0.41,
                        mtv_suv: float | None = None) -> dict[str, float]:
    """:func:`pet_measures` on the PET's own grid; the mask (on the CT grid) is resampled onto it.

    A PET voxel belongs to the tumour when at least half of it is (linear interpolation of
    the mask, >= 0.5); a tumour smaller than one PET voxel falls back to the nearest voxel.
    """
    on_pet = sitk.Resample(sitk.Cast(mask > 0, sitk.sitkFloat32), pet, sitk.Transform(), sitk.sitkLinear, 0.0)
    m = sitk.GetArrayViewFromImage(on_pet) >= 0.5
    if not m.any():
        m = sitk.GetArrayViewFromImage(sitk.Resample(mask > 0, pet, sitk.Transform(), sitk.sitkNearestNeighbor,
                                                     0)) > 0
    if not m.any():
        raise ValueError("the tumour mask lies outside the PET")
    return pet_measures(sitk.GetArrayViewFromImage(pet), m, tuple(reversed(pet.GetSpacing())),
                        mtv_fraction=mtv_fraction, mtv_suv=mtv_suv)
