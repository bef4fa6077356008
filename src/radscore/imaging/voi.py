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
On anisotropic grids (2 x 1 x 1 or 1.5 x 0.8 x 0.8 mm, radius 20 mm) core and ring stay
within 5 %; the staircase of thick slices limits them, so resample to isotropic voxels
first (``preprocess.spacing_mm``, 1 mm by default).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from radscore.catalog import VOIS

logger = logging.getLogger(__name__)


def body_mask(ct_hu: np.ndarray, threshold_hu: float = -500.0, air_hu: float = -950.0) -> np.ndarray:
    """The patient's body on a CT: everything except the air around the patient.

    Voxels below ``threshold_hu`` form candidate air regions; a region is air *outside*
    the patient when it touches the edge of the image and its median is below ``air_hu``
    (room air is about -1000 HU, aerated lung about -850 HU). Everything else is body,
    keeping its largest connected part (so a table beside the patient is dropped),
    with holes filled slice by slice. Unlike a plain "largest component above -500 HU",
    this keeps the lungs inside the body also on crops around a tumour, where the lung
    reaches the crop's edge and is not enclosed by tissue in any slice.

    Parameters
    ----------
    ct_hu : ndarray (z, y, x)
        CT in Hounsfield units.
    threshold_hu : float
        Air/body threshold; -500 HU lies halfway between air (-1000) and soft tissue (0).
    air_hu : float
        Median HU below which a low-density region touching the image edge is outside air.

    Returns
    -------
    ndarray of bool, same shape
    """
    ct_hu = np.asarray(ct_hu)
    low = ct_hu <= threshold_hu
    labels, n = ndimage.label(low)
    outside = np.zeros(low.shape, dtype=bool)
    if n:
        edge = np.zeros(low.shape, dtype=bool)
        for axis in range(low.ndim):
            idx = [slice(None)] * low.ndim
            idx[axis] = 0
            edge[tuple(idx)] = True
            idx[axis] = -1
            edge[tuple(idx)] = True
        touching = np.unique(labels[edge & low])
        touching = touching[touching > 0]
        if touching.size:
            air = touching[_medians_below(ct_hu, labels, touching, air_hu)]
            outside = _in_labels(labels, air)
    del labels, low  # int32 labels of a whole-chest grid: 240 MB, not needed beside the next labelling
    # The largest remaining component: drops the table and other objects beside the patient.
    parts, n_parts = ndimage.label(~outside)
    if n_parts == 0:
        return np.zeros(ct_hu.shape, dtype=bool)
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    body = parts == int(np.argmax(sizes))
    return _fill_holes_per_slice(body)


def _in_labels(labels: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``np.isin(labels, wanted)`` by a lookup table over the label numbers (one gather, no sort)."""
    table = np.zeros(int(labels.max()) + 1, dtype=bool)
    table[wanted] = True
    return table[labels]


def _medians_below(values: np.ndarray, labels: np.ndarray, index: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each labelled region's median is below ``threshold``: ``ndimage.median(...) < threshold``.

    Decided from counts instead of sorting the regions' voxels (a whole-body CT has tens of
    millions): with ``k`` of a region's ``n`` values below the threshold, the median (the
    middle value, or the mean of the two middle values for even ``n``) is below it when
    ``k > n / 2``, not when ``k < n / 2``; only for ``k == n / 2`` are the two middle values,
    the largest value below and the smallest at or above, averaged as ``np.median`` does.
    """
    below = values < threshold
    n = np.bincount(labels.ravel(), minlength=int(index.max()) + 1)[index]
    k = np.bincount(labels[below], minlength=int(index.max()) + 1)[index]
    out = 2 * k > n
    tie = np.flatnonzero(2 * k == n)
    if tie.size:
        lo = ndimage.maximum(np.where(below, values, -np.inf), labels, index[tie])
        hi = ndimage.minimum(np.where(below, np.inf, values), labels, index[tie])
        pairs = np.array([lo, hi], dtype=values.dtype).T
        out[tie] = np.mean(pairs, axis=1) < threshold
    return out


def _fill_holes_per_slice(body: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes`` of every axial slice, in one labelling of the volume.

    A hole is background not connected (4-connectivity in the slice, fill_holes' default)
    to the slice's edge; labelling the background with an in-plane-only structure finds
    every slice's components at once.
    """
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    background, _ = ndimage.label(~body, structure=in_plane)
    edge = np.zeros(int(background.max()) + 1, dtype=bool)
    for side in (background[:, 0, :], background[:, -1, :], background[:, :, 0], background[:, :, -1]):
        edge[side] = True
    edge[0] = True  # label 0 is the body itself
    return ~edge[background] | body


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
        return {k: empty.copy() for k in VOIS}, ["tumour mask is empty: no VOI can be built."]
    # Work inside the tumour's box grown by the ring (plus two voxels): distances beyond it
    # do not matter, and whole-body grids would make the transforms slow and large.
    idx = np.nonzero(tumor)
    reach = [int(np.ceil((ring_mm + spacing[i]) / spacing[i])) + 2 for i in range(3)]
    box = tuple(slice(max(int(idx[i].min()) - reach[i], 0), min(int(idx[i].max()) + reach[i] + 1, tumor.shape[i]))
                for i in range(3))
    sub = tumor[box]
    core = np.zeros_like(tumor)
    # erode_mm pads with background: right where the box is clipped by the image border,
    # harmless elsewhere because the box already ends in background voxels.
    core[box] = erode_mm(sub, spacing, core_mm)
    if not core.any():
        warnings.append(
            f"core is empty: the tumour is nowhere thicker than 2 x core_mm = {2 * core_mm:g} mm, "
            "so its erosion leaves nothing."
        )
    ring = np.zeros_like(tumor)
    ring[box] = dilate_mm(sub, spacing, ring_mm) & ~sub
    if body is not None:
        body = np.asarray(body, dtype=bool)
        if body.shape != tumor.shape:
            raise ValueError(f"body mask shape {body.shape} differs from tumour shape {tumor.shape}")
        outside = int((ring & ~body).sum())
        if outside:
            logger.debug("%d ring voxels outside the body removed", outside)
        ring &= body
    # The ring cannot extend past the image; say so when the tumour is that close to the border.
    edge = [int(np.ceil(ring_mm / spacing[i])) for i in range(3)]
    for ax in range(3):
        if idx[ax].min() < edge[ax] or idx[ax].max() > tumor.shape[ax] - 1 - edge[ax]:
            warnings.append(f"ring is cut by the image border along array axis {ax} (tumour within ring_mm of the edge).")
            break
    if not ring.any():
        warnings.append("ring is empty: no body voxels within ring_mm of the tumour.")
    return {"tumor": tumor.copy(), "core": core, "ring": ring, "tumor_ring": tumor | ring}, warnings
