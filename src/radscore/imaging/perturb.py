"""Mask perturbations for the robustness (ICC) analysis.

Features whose value changes when the contour changes a little are not reproducible.
Following Zwanenburg et al. (Sci Rep 2019, "Assessing robustness of radiomic features by
image perturbation"), each tumour mask is perturbed: grown and shrunk by one voxel, and
randomly deformed. The random deformation moves the contour by a smooth random
displacement: the mask's signed distance map (mm, negative inside) is compared with a
Gaussian random field smoothed over ``smoothness_mm`` and scaled to a standard deviation
of ``amplitude_mm``, so the surface moves in and out by about ``amplitude_mm`` in patches
of about ``smoothness_mm``. A seed makes each perturbation reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_CROSS = ndimage.generate_binary_structure(3, 1)


def dilate_voxels(mask: np.ndarray, n: int = 1) -> np.ndarray:
    """Grow the mask by ``n`` voxels (6-connected steps)."""
    mask = np.asarray(mask, bool)
    return ndimage.binary_dilation(mask, _CROSS, iterations=n) if n > 0 else mask.copy()


def erode_voxels(mask: np.ndarray, n: int = 1) -> np.ndarray:
    """Shrink the mask by ``n`` voxels (6-connected steps); the image border counts as outside."""
    mask = np.asarray(mask, bool)
    if n <= 0:
        return mask.copy()
    padded = np.pad(mask, n, constant_values=False)
    out = ndimage.binary_erosion(padded, _CROSS, iterations=n)
    return out[(slice(n, -n),) * 3]


def signed_distance_mm(mask: np.ndarray, spacing_zyx=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Distance to the mask's surface in mm: negative inside, positive outside (half-voxel surface)."""
    mask = np.asarray(mask, bool)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    h = 0.5 * float(min(spacing_zyx))
    return np.where(mask, -(inside - h), outside - h)


def random_contour(mask: np.ndarray, *, seed: int, spacing_zyx=(1.0, 1.0, 1.0), amplitude_mm: float = 1.0,
                   smoothness_mm: float = 4.0) -> np.ndarray:
    """Randomly deform a mask's contour (see the module docstring).

    Parameters
    ----------
    mask : ndarray of bool (z, y, x)
    seed : int
        Seed of the random field (same seed, same result).
    spacing_zyx : sequence of 3 floats
        Voxel spacing in mm.
    amplitude_mm : float
        Standard deviation of the contour displacement.
    smoothness_mm : float
        Gaussian smoothing of the random field (correlation length of the displacement).

    Returns
    -------
    ndarray of bool
    """
    mask = np.asarray(mask, bool)
    rng = np.random.default_rng(seed)
    field = rng.standard_normal(mask.shape)
    sigma = [smoothness_mm / s for s in spacing_zyx]
    field = ndimage.gaussian_filter(field, sigma=sigma, mode="reflect")
    sd = float(field.std())
    if sd > 0:
        field *= amplitude_mm / sd
    out = signed_distance_mm(mask, spacing_zyx) < field
    # keep the component that overlaps the original most: islands far away are noise
    labels, n = ndimage.label(out)
    if n > 1:
        overlap = np.bincount(labels[mask], minlength=n + 1)
        overlap[0] = 0
        out = labels == int(np.argmax(overlap))
    return out


def perturbed_masks(mask: np.ndarray, spacing_zyx=(1.0, 1.0, 1.0), *, seed: int = 42, n_random: int = 3,
                    amplitude_mm: float = 1.0, smoothness_mm: float = 4.0) -> dict[str, np.ndarray]:
    """The original mask and its perturbations, for the ICC stage.

    Returns
    -------
    dict
        "original", "dilate_1", "erode_1", "random_0" ... "random_{n_random-1}"; an erosion
        that leaves nothing is left out.
    """
    mask = np.asarray(mask, bool)
    out = {"original": mask.copy(), "dilate_1": dilate_voxels(mask, 1)}
    eroded = erode_voxels(mask, 1)
    if eroded.any():
        out["erode_1"] = eroded
    seeds = np.random.SeedSequence(seed).generate_state(n_random)
    for i, s in enumerate(seeds):
        out[f"random_{i}"] = random_contour(mask, seed=int(s), spacing_zyx=spacing_zyx, amplitude_mm=amplitude_mm,
                                            smoothness_mm=smoothness_mm)
    return out
