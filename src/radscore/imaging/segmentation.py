"""Semi-automatic PET segmentation: a threshold inside a box or around a seed.

The mCRC study drew its tumour contours semi-automatically on PET. This module gives
the two usual rules (Boellaard et al., EJNMMI 2015, EANM guideline 2.0, section on
volume delineation): a fixed SUV threshold (e.g. SUV 2.5) or a percentage of the
lesion's SUVmax (e.g. 41 %), restricted to a user box and to the 3-D connected
component (26-connectivity) that contains the seed, or the lesion's SUVmax voxel when
only a box is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from radscore.errors import ImageError

logger = logging.getLogger(__name__)

Box = tuple[tuple[int, int, int], tuple[int, int, int]]


@dataclass(frozen=True)
class PetSegmentation:
    """A thresholded PET lesion.

    Attributes
    ----------
    mask : ndarray of bool (z, y, x)
    suv_max : float
        SUVmax in the search region.
    threshold_suv : float
        The absolute threshold applied.
    seed : tuple of int
        Voxel (z, y, x) whose connected component was kept.
    n_voxels : int
    """

    mask: np.ndarray
    suv_max: float
    threshold_suv: float
    seed: tuple[int, int, int]
    n_voxels: int

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"suv_max": self.suv_max, "threshold_suv": self.threshold_suv,
                              "seed_zyx": list(self.seed), "n_voxels": self.n_voxels}])


def _search_box(shape, seed, box, spacing_zyx, search_mm) -> tuple[slice, slice, slice]:
    if box is not None:
        lo, hi = np.asarray(box[0], int), np.asarray(box[1], int)
    else:
        r = np.ceil(search_mm / np.asarray(spacing_zyx, float)).astype(int)
        lo, hi = np.asarray(seed) - r, np.asarray(seed) + r + 1
    lo = np.clip(lo, 0, np.asarray(shape))
    hi = np.clip(hi, 0, np.asarray(shape))
    if np.any(hi <= lo):
        raise ValueError(f"the search box {lo.tolist()}..{hi.tolist()} is empty or outside the image {list(shape)}")
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def threshold_segment(pet: np.ndarray, threshold: float, *, mode: Literal["suv", "percent_max"] = "percent_max",
                      seed: Sequence[int] | None = None, box: Box | None = None,
                      spacing_zyx: Sequence[float] = (1.0, 1.0, 1.0), search_mm: float = 30.0) -> PetSegmentation:
    """Segment a PET lesion by thresholding inside a box / around a seed.

    Parameters
    ----------
    pet : ndarray (z, y, x)
        SUV volume.
    threshold : float
        SUV value (``mode="suv"``) or percentage of SUVmax in (0, 100] (``"percent_max"``).
    seed : (z, y, x), optional
        A voxel inside the lesion; its connected component is kept.
    box : ((z0, y0, x0), (z1, y1, x1)), optional
        Search region, end exclusive. Without it, a cube of +- ``search_mm`` around the seed.
    spacing_zyx : sequence of 3 floats
        Voxel spacing (mm), to size the default box.

    Returns
    -------
    PetSegmentation

    Raises
    ------
    ValueError
        Neither seed nor box, a threshold out of range, or a seed below the threshold.
    """
    pet = np.asarray(pet, dtype=np.float64)
    if seed is None and box is None:
        raise ValueError("give a seed voxel, a box, or both")
    if mode == "percent_max" and not 0 < threshold <= 100:
        raise ValueError(f"percent_max threshold must be in (0, 100], got {threshold}")
    if seed is not None:
        seed = tuple(int(s) for s in seed)
        if any(not 0 <= s < n for s, n in zip(seed, pet.shape)):
            raise ValueError(f"seed {seed} is outside the image {pet.shape}")
    region = _search_box(pet.shape, seed, box, spacing_zyx, search_mm)
    sub = pet[region]
    suv_max = float(sub.max())
    thr = suv_max * threshold / 100.0 if mode == "percent_max" else float(threshold)
    above = sub >= thr
    offset = np.array([s.start for s in region])
    if seed is None:
        local_seed = np.unravel_index(int(np.argmax(sub)), sub.shape)
    else:
        local_seed = tuple(np.asarray(seed) - offset)
        if any(not 0 <= s < n for s, n in zip(local_seed, sub.shape)):
            raise ValueError(f"seed {seed} is outside the box")
        if not above[local_seed]:
            raise ValueError(f"the seed's SUV {sub[local_seed]:.2f} is below the threshold {thr:.2f}")
    labels, _ = ndimage.label(above, structure=np.ones((3, 3, 3), bool))
    comp = labels == labels[local_seed]
    mask = np.zeros(pet.shape, dtype=bool)
    mask[region] = comp
    if _touches_box(comp, region, pet.shape):
        logger.warning("the segmented lesion touches the search box: enlarge the box or raise the threshold")
    full_seed = tuple(int(v) for v in np.asarray(local_seed) + offset)
    return PetSegmentation(mask=mask, suv_max=suv_max, threshold_suv=thr, seed=full_seed, n_voxels=int(mask.sum()))


def _touches_box(comp: np.ndarray, region, shape) -> bool:
    for ax in range(3):
        inner_lo = region[ax].start > 0
        inner_hi = region[ax].stop < shape[ax]
        if inner_lo and np.take(comp, 0, axis=ax).any():
            return True
        if inner_hi and np.take(comp, -1, axis=ax).any():
            return True
    return False


def segment_pet_image(pet: sitk.Image, threshold: float, *, mode: Literal["suv", "percent_max"] = "percent_max",
                      seed_mm: Sequence[float] | None = None, box_mm: tuple[Sequence[float], Sequence[float]] | None = None,
                      search_mm: float = 30.0, patient: str | None = None) -> tuple[sitk.Image, PetSegmentation]:
    """:func:`threshold_segment` on a SimpleITK image with the seed/box in physical mm (LPS).

    Returns the mask as a uint8 image on the PET grid and the segmentation record.
    """
    def to_idx(p) -> tuple[int, int, int]:
        ix = pet.TransformPhysicalPointToIndex(tuple(float(v) for v in p))
        return (ix[2], ix[1], ix[0])

    seed = to_idx(seed_mm) if seed_mm is not None else None
    box = None
    if box_mm is not None:
        a, b = np.array(to_idx(box_mm[0])), np.array(to_idx(box_mm[1]))
        box = (tuple(np.minimum(a, b).tolist()), tuple((np.maximum(a, b) + 1).tolist()))
    try:
        seg = threshold_segment(sitk.GetArrayViewFromImage(pet), threshold, mode=mode, seed=seed, box=box,
                                spacing_zyx=pet.GetSpacing()[::-1], search_mm=search_mm)
    except ValueError as exc:
        raise ImageError(f"PET segmentation failed: {exc}.", patient=patient,
                         fix="move the seed into the lesion or change the threshold.") from None
    out = sitk.GetImageFromArray(seg.mask.astype(np.uint8))
    out.CopyInformation(pet)
    return out, seg
