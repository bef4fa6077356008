"""Simulated PET/CT crops around a tumour, with the immune state written into texture.

Each crop (64 x 64 x 40 voxels at 1 x 1 x 1.5 mm, CT in HU) lies at the edge of the
body, so part of it is air outside the body contour; a soft-tissue chest wall borders
lung parenchyma (about -850 HU) in which the tumour sits. Metastases (liver, adrenal,
lymph node) sit in soft tissue instead. The tumour's surface is a sphere perturbed by
real spherical harmonics of degree 2-4, so shapes differ between patients.

How the latent immune state ``z`` shows (the planted imaging signal):

* **PET uptake heterogeneity**: the tumour's SUV is ``SUVmean x (1 + h G)`` with ``G`` a
  smooth Gaussian random field (4 mm correlation) and ``h = clip(0.40 - 0.18 z)``:
  immune-cold tumours are more heterogeneous.
* **Peritumoral CT signal**: a ground-glass halo ``clip(80 + 60 z, 0, 260)`` HU
  added in lung within 6 mm of the tumour, fading with distance: inflamed, immune-hot
  tumours show a denser halo.
* Nuisance: tumour radius 8-15 mm, SUVmean 3-9, noise. PET is blurred (6 mm FWHM) and
  sampled on a coarser 4 mm grid with its own origin, as scanners deliver it.

The acquisition is a :class:`Scanner`. ``REFERENCE`` makes the training/testing cohort;
``EXTERNAL_SITES`` (``radscore simulate --external N``, patients assigned to the sites in
turn) stand for an external cohort pooled from three other centres, as external validation
sets usually are:

* ``external_a``: an older PET (9 mm FWHM on a 5 mm grid, 10 % noise, SUVs 12 % high: a
  cross-calibration error within what multi-centre audits find); CT in 3 mm slices with a
  smooth kernel (noise correlated over one voxel, SD 20 HU), lungs at -800 HU (a shallower,
  free-breathing inspiration);
* ``external_b``: a newer PET (PSF reconstruction, 5 mm FWHM on 3 mm, 6 % noise, SUVs 8 %
  low); CT with a sharp, noisier low-dose kernel (SD 25 HU), lungs at -880 HU;
* ``external_c``: PET as the reference's but 8 % noise; contrast-enhanced CT (tumour +40 HU)
  (1.5 mm slices, SD 15 HU).

The immune signal is unchanged, so a model's drop from testing to external shows what
other scanners and protocols do to radiomic features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.special import sph_harm_y

CT_SHAPE_ZYX = (40, 64, 64)
CT_SPACING_XYZ = (1.0, 1.0, 1.5)
PET_SPACING_XYZ = (4.0, 4.0, 4.0)


@dataclass(frozen=True)
class Scanner:
    """How a simulated PET/CT is acquired (the nuisance a multi-centre study meets)."""

    name: str = "reference"
    pet_fwhm_mm: float = 6.0
    pet_spacing_xyz: tuple[float, float, float] = PET_SPACING_XYZ
    pet_noise: float = 0.05
    pet_calibration: float = 1.0  # SUV scale of the scanner's cross-calibration (1 = exact)
    ct_noise_hu: float = 12.0
    ct_kernel_voxels: float = 0.0  # 0 = white noise (sharp kernel); >0 = noise correlated over this many voxels
    ct_slice_mm: float = CT_SPACING_XYZ[2]  # reconstructed slice thickness: a multiple of the simulated 1.5 mm
    lung_hu: float = -850.0  # aerated lung: inspiration depth, dose and kernel move it
    tumour_enhancement_hu: float = 0.0  # iodinated contrast in the tumour (contrast-enhanced CT)


REFERENCE = Scanner()
EXTERNAL_SITES = (
    Scanner("external_a", pet_fwhm_mm=9.0, pet_spacing_xyz=(5.0, 5.0, 5.0), pet_noise=0.10, pet_calibration=1.12,
            ct_noise_hu=20.0, ct_kernel_voxels=1.0, ct_slice_mm=3.0, lung_hu=-800.0),
    Scanner("external_b", pet_fwhm_mm=5.0, pet_spacing_xyz=(3.0, 3.0, 3.0), pet_noise=0.06, pet_calibration=0.92,
            ct_noise_hu=25.0, lung_hu=-880.0),
    Scanner("external_c", pet_noise=0.08, ct_noise_hu=15.0, tumour_enhancement_hu=40.0),
)


def _smooth_field(rng: np.random.Generator, shape, sigma_vox) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma_vox)
    return f / (f.std() + 1e-12)


def tumour_mask(rng: np.random.Generator, radius_mm: float, centre_zyx_mm, shape=CT_SHAPE_ZYX,
                spacing_xyz=CT_SPACING_XYZ) -> np.ndarray:
    """A sphere of ``radius_mm`` with a spherical-harmonic surface (degrees 2-4)."""
    sz, sy, sx = spacing_xyz[2], spacing_xyz[1], spacing_xyz[0]
    zz, yy, xx = np.meshgrid(np.arange(shape[0]) * sz - centre_zyx_mm[0],
                             np.arange(shape[1]) * sy - centre_zyx_mm[1],
                             np.arange(shape[2]) * sx - centre_zyx_mm[2], indexing="ij")
    r = np.sqrt(xx**2 + yy**2 + zz**2)
    # the surface is clipped to 1.4 radii: the harmonics are evaluated only where a voxel can be inside
    near = r <= radius_mm * 1.4
    rn, zn = r[near], zz[near]
    theta = np.arccos(np.clip(zn / np.maximum(rn, 1e-9), -1, 1))
    phi = np.arctan2(yy[near], xx[near])
    surface = np.ones_like(rn)
    for degree in (2, 3, 4):
        for order in range(-degree, degree + 1):
            coef = rng.normal(0, 0.10 / degree)
            surface += coef * np.real(sph_harm_y(degree, order, theta, phi))
    inside = np.zeros(r.shape, dtype=bool)
    inside[near] = rn <= radius_mm * np.clip(surface, 0.6, 1.4)
    return inside


def make_images(rng: np.random.Generator, z: float, *, site: str = "primary", scale: float = 1.0,
                origin_xyz=(0.0, 0.0, 0.0), scanner: Scanner = REFERENCE,
                ) -> tuple[sitk.Image, sitk.Image, sitk.Image, sitk.Image]:
    """CT (HU, int16), PET (SUV, float32), tumour mask and a second segmentation.

    Parameters
    ----------
    z : float
        The immune state at the time of the scan.
    site : str
        "primary" (lung) or a metastatic site (soft-tissue background).
    scale : float
        Tumour size multiplier (follow-up scans of responders shrink).
    scanner : Scanner
        The acquisition (resolution and noise of PET and CT).
    """
    shape = CT_SHAPE_ZYX
    sz, sy, sx = CT_SPACING_XYZ[2], CT_SPACING_XYZ[1], CT_SPACING_XYZ[0]
    extent = np.array(shape) * np.array([sz, sy, sx])
    # Centred above the chest wall so that the peritumoral ring lies in lung.
    centre = extent / 2 + rng.uniform(-3, 3, 3) + np.array([0.0, -5.0, 0.0])
    radius = rng.uniform(8, 15) * scale
    tumour = tumour_mask(rng, radius, centre)

    # Body contour: a large ellipse whose edge crosses the crop, so some of it is air.
    zz, yy, xx = np.meshgrid(np.arange(shape[0]) * sz, np.arange(shape[1]) * sy, np.arange(shape[2]) * sx,
                             indexing="ij")
    body_cy = -120.0 + rng.uniform(-5, 5)
    dist_edge = 182.0 - np.hypot((yy - body_cy) * 1.0, (xx - extent[2] / 2) * 0.8)
    body = dist_edge > 0
    wall = body & (dist_edge < 12)

    if site == "primary":
        ct = np.where(body, scanner.lung_hu + 25 * _smooth_field(rng, shape, 2), -1000.0)
        ct[wall] = 40.0
        bg_suv = np.where(body, 0.6, 0.0)
        bg_suv[wall] = 1.0
    else:
        ct = np.where(body, 50.0 + 8 * _smooth_field(rng, shape, 2), -1000.0)
        bg_suv = np.where(body, 2.0 if site == "liver" else 1.2, 0.0)

    # Peritumoral halo in the background tissue around the tumour.
    dist_out = ndimage.distance_transform_edt(~tumour, sampling=(sz, sy, sx))
    halo_hu = float(np.clip(80 + 60 * z, 0, 260)) * (0.5 if site != "primary" else 1.0)
    halo = (dist_out > 0) & (dist_out <= 6) & body & ~wall
    ct[halo] += halo_hu * (1 - dist_out[halo] / 7) * (1 + 0.3 * _smooth_field(rng, shape, 1.5)[halo])

    ct[tumour] = 35.0 + scanner.tumour_enhancement_hu + 20 * _smooth_field(rng, shape, 1.5)[tumour]
    noise = rng.normal(0, 1, shape)
    if scanner.ct_kernel_voxels > 0:
        noise = ndimage.gaussian_filter(noise, scanner.ct_kernel_voxels)
        noise /= noise.std()
    ct += scanner.ct_noise_hu * noise

    h = float(np.clip(0.40 - 0.18 * z, 0.05, 0.9))
    suv_mean = rng.uniform(3, 9)
    field = _smooth_field(rng, shape, 4.0 / sx)
    suv = bg_suv.copy()
    suv[tumour] = np.clip(suv_mean * (1 + h * field[tumour]), 0.3, None)
    suv = ndimage.gaussian_filter(suv, sigma=scanner.pet_fwhm_mm / 2.355 / np.array([sz, sy, sx]))

    ct_img = sitk.GetImageFromArray(np.clip(np.round(ct), -1024, 3071).astype(np.int16))
    ct_img.SetSpacing(CT_SPACING_XYZ)
    ct_img.SetOrigin(tuple(float(v) for v in origin_xyz))
    suv_hr = sitk.GetImageFromArray(suv.astype(np.float32))
    suv_hr.CopyInformation(ct_img)

    pet_size = [int(np.ceil(s * sp / ps)) for s, sp, ps in zip(ct_img.GetSize(), CT_SPACING_XYZ,
                                                                 scanner.pet_spacing_xyz)]
    pet_origin = [o + rng.uniform(-1.5, 1.5) for o in origin_xyz]
    pet = sitk.Resample(suv_hr, pet_size, sitk.Transform(), sitk.sitkLinear, pet_origin, scanner.pet_spacing_xyz,
                        ct_img.GetDirection(), 0.0, sitk.sitkFloat32)
    pet_arr = sitk.GetArrayFromImage(pet)
    pet_arr = np.clip(pet_arr * (1 + rng.normal(0, scanner.pet_noise, pet_arr.shape)), 0, None)
    pet_arr = (pet_arr * scanner.pet_calibration).astype(np.float32)
    pet_img = sitk.GetImageFromArray(pet_arr)
    pet_img.CopyInformation(pet)

    # A second reader: the boundary moved by up to one voxel in a smooth random pattern.
    wobble = _smooth_field(rng, shape, 3.0)
    dilated = ndimage.binary_dilation(tumour)
    eroded = ndimage.binary_erosion(tumour)
    second = np.where(wobble > 0.5, dilated, np.where(wobble < -0.5, eroded, tumour))
    k = int(round(scanner.ct_slice_mm / CT_SPACING_XYZ[2]))
    if k > 1:  # thick slices: each the mean of k thin ones; masks drawn on them (majority)
        ct_img = _thick_ct(ct_img, k)
        tumour = _thick_slices(tumour, k) >= 0.5
        second = _thick_slices(second, k) >= 0.5
    masks = []
    for m in (tumour, second):
        img = sitk.GetImageFromArray(m.astype(np.uint8))
        img.CopyInformation(ct_img)
        masks.append(img)
    return ct_img, pet_img, masks[0], masks[1]


def _thick_slices(arr: np.ndarray, k: int) -> np.ndarray:
    """Mean of every ``k`` adjacent z-slices of ``arr`` (z first): values at k times the slice
    thickness, or for a mask the fraction of each thick voxel's thin voxels that are set."""
    a = np.asarray(arr, dtype=np.float64)
    n = a.shape[0] // k * k
    return a[:n].reshape(n // k, k, *a.shape[1:]).mean(axis=1)


def _thick_ct(ct: sitk.Image, k: int) -> sitk.Image:
    """The CT reconstructed in slices ``k`` times as thick (int16 HU), each centred where its thin ones were."""
    out = sitk.GetImageFromArray(np.round(_thick_slices(sitk.GetArrayFromImage(ct), k)).astype(np.int16))
    sp = ct.GetSpacing()
    out.SetSpacing((sp[0], sp[1], sp[2] * k))
    out.SetOrigin(tuple(np.add(ct.GetOrigin(), (0.0, 0.0, sp[2] * (k - 1) / 2))))
    out.SetDirection(ct.GetDirection())
    return out
