"""The four volumes of interest: tumour, core, ring and tumour+ring (PROTOCOL item 4).

Distances are millimetres on the physical grid. Erosion and dilation use Euclidean
distance transforms (``scipy.ndimage.distance_transform_edt`` with ``sampling`` = the
voxel spacing), which handle anisotropic voxels exactly, whereas a voxel structuring
element would turn "3 mm" into a different number of voxels along each axis.

Erosion by ``r`` is the standard one with a Euclidean ball: a tumour voxel stays in the
core when no outside voxel centre lies within ``r`` of its centre. Dilation is measured
from the nearest tumour voxel centre, which lies inside the tumour's surface (the surface
runs between the boundary voxels' centres and the next centres out), so a voxel joins
the dilation when that distance is at most ``r + h/4`` (``h`` the smallest spacing).
Without the quarter-voxel the ring of a sphere at 1 mm is 4-6 % smaller than its analytic
volume; with it the ring, core and tumour+ring of spheres of radius 10-20 mm are within
3 % (tests/imaging/test_voi.py). This correction was calibrated on spheres, not derived.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)

VOI_NAMES = ("tumor", "core", "ring", "tumor_ring")


def body_mask(ct_hu: np.ndarray, threshold_hu: float = -500.0) -> np.ndarray:
    """The patient's body on a CT: voxels above ``threshold_hu``, largest 3-D component, holes filled.

    Holes are filled slice by slice (axial, array axis 0) so that the lungs and bowel gas,
    which are enclosed in every axial slice but open to the airway in 3-D, count as body.

    Parameters
    ----------
    ct_hu : ndarray (z, y, x)
        CT in Hounsfield units.
    threshold_hu : float
        Air/body threshold; -500 HU lies halfway between air (-1000) and soft tissue (0).

    Returns
    -------
    ndarray of bool, same shape
    """
    fg = np.asarray(ct_hu) > threshold_hu
    labels, n = ndimage.label(fg)
    if n == 0:
        return np.zeros(fg.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    for z in range(body.shape[0]):
        if body[z].any():
            body[z] = ndimage.binary_fill_holes(body[z])
    return body


def _surface_gap(spacing_zyx: tuple[float, float, float]) -> float:
    return 0.25 * float(min(spacing_zyx))


def dilate_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float], mm: float) -> np.ndarray:
    """Voxels whose centre lies within ``mm`` of the mask's surface, or inside it.

    The centre-to-centre distance is compared with ``mm + h/4`` (see the module docstring).
    """
    mask = np.asarray(mask, dtype=bool)
    if mm <= 0 or not mask.any():
        return mask.copy()
    dist = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    return dist <= mm + _surface_gap(spacing_zyx) + 1e-9


def erode_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float], mm: float) -> np.ndarray:
    """Mask voxels whose centre lies farther than ``mm`` from the mask's surface.

    The distance transform is padded by one voxel of background so the image border acts
    as outside (a tumour cut by the border is eroded from that side too).
    """
    mask = np.asarray(mask, dtype=bool)
    if mm <= 0 or not mask.any():
        return mask.copy()
    padded = np.pad(mask, 1, constant_values=False)
    dist = ndimage.distance_transform_edt(padded, sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    return mask & (dist > mm + 1e-9)


def make_vois(tumor: np.ndarray, spacing_zyx: tuple[float, float, float], core_mm: float, ring_mm: float,
              body: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Build the four VOIs from a tumour mask.

    Parameters
    ----------
    tumor : ndarray of bool (z, y, x)
    spacing_zyx : tuple of 3 floats
        Voxel spacing in mm in array order (z, y, x) (SimpleITK spacing reversed).
    core_mm : float
        Erosion distance of the intratumoral core; 0 gives the tumour itself.
    ring_mm : float
        Width of the peritumoral ring.
    body : ndarray of bool, optional
        Body mask; the ring is kept inside it (air outside the patient is not peritumoral).

    Returns
    -------
    vois : dict
        "tumor", "core", "ring", "tumor_ring" as bool arrays (possibly empty).
    warnings : list of str
        Why a VOI is empty or cut (core eroded to nothing, ring cut by the image border).
    """
    tumor = np.asarray(tumor, dtype=bool)
    spacing = tuple(float(s) for s in spacing_zyx)
    warnings: list[str] = []
    if not tumor.any():
        empty = np.zeros_like(tumor)
        return {k: empty.copy() for k in VOI_NAMES}, ["tumour mask is empty: no VOI can be built."]
    core = erode_mm(tumor, spacing, core_mm)
    if not core.any():
        warnings.append(
            f"core is empty: the tumour is nowhere thicker than 2 x core_mm = {2 * core_mm:g} mm, "
            "so its erosion leaves nothing."
        )
    grown = dilate_mm(tumor, spacing, ring_mm)
    ring = grown & ~tumor
    if body is not None:
        body = np.asarray(body, dtype=bool)
        if body.shape != tumor.shape:
            raise ValueError(f"body mask shape {body.shape} differs from tumour shape {tumor.shape}")
        outside = int((ring & ~body).sum())
        if outside:
            logger.debug("%d ring voxels outside the body removed", outside)
        ring &= body
    # The ring cannot extend past the image; say so when the tumour is that close to the border.
    reach = [int(np.ceil((ring_mm + spacing[i]) / spacing[i])) for i in range(3)]
    idx = np.nonzero(tumor)
    for ax in range(3):
        if idx[ax].min() < reach[ax] or idx[ax].max() > tumor.shape[ax] - 1 - reach[ax]:
            warnings.append(f"ring is cut by the image border along array axis {ax} (tumour within ring_mm of the edge).")
            break
    if not ring.any():
        warnings.append("ring is empty: no body voxels within ring_mm of the tumour.")
    return {"tumor": tumor.copy(), "core": core, "ring": ring, "tumor_ring": tumor | ring}, warnings
