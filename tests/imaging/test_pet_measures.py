"""Conventional PET measures: IBSI intensity peaks on the IBSI 1 digital phantom, and the
SUV/MTV/TLG definitions on constructed images."""

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.imaging.pet_measures import PEAK_RADIUS_MM, intensity_peaks, pet_measures, pet_measures_native


@pytest.mark.reference
def test_intensity_peaks_equal_ibsi_digital_phantom(reference_dir):
    root = reference_dir / "ibsi"
    image = sitk.ReadImage(str(root / "digital_phantom/nifti/image/phantom.nii.gz"))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "digital_phantom/nifti/mask/mask.nii.gz"))) > 0
    ref = {row[2]: float(row[0]) for row in list(csv.reader(open(root / "reference_values/ibsi_1_dig_phantom.csv"),
                                                             delimiter=";"))[1:] if row[0]}
    local, glob = intensity_peaks(sitk.GetArrayFromImage(image), mask, tuple(reversed(image.GetSpacing())))
    # IBSI's rule: the value rounded to 3 significant digits, within the tolerance (0 here)
    assert float(f"{local:.2e}") == ref["loc_peak_loc"]
    assert float(f"{glob:.2e}") == ref["loc_peak_glob"]


def test_definitions_on_a_constructed_tumour():
    suv = np.ones((20, 20, 20))
    mask = np.zeros_like(suv, bool)
    mask[5:15, 5:15, 5:15] = True
    suv[mask] = 4.0
    suv[8:12, 8:12, 8:12] = 10.0  # a hot core of 64 voxels
    m = pet_measures(suv, mask, (2.0, 2.0, 2.0))
    assert m["SUVmax"] == 10.0 and m["SUVmean"] == pytest.approx((64 * 10 + 936 * 4) / 1000)
    # 41 % of 10 = 4.1: only the core; voxels of 8 ml -> 64 x 8 / 1000 ml
    assert m["MTV_ml"] == pytest.approx(0.512) and m["TLG"] == pytest.approx(0.512 * 10)
    # brute force: every tumour voxel as a centre, the mean of all voxels within 1 cm^3's radius
    assert PEAK_RADIUS_MM == pytest.approx(6.2035, abs=1e-4)
    centres = np.argwhere(suv > -1) * 2.0
    means = [suv.ravel()[np.linalg.norm(centres - c * 2.0, axis=1) <= PEAK_RADIUS_MM].mean() for c in np.argwhere(mask)]
    assert m["SUVpeak"] == pytest.approx(max(means))
    hottest = [v for v, c in zip(means, np.argwhere(mask)) if suv[tuple(c)] == 10.0]
    assert m["SUVpeak_local"] == pytest.approx(max(hottest))
    fixed = pet_measures(suv, mask, (2.0, 2.0, 2.0), mtv_suv=2.5)
    assert fixed["MTV_ml"] == pytest.approx(8.0) and fixed["MTV_threshold_SUV"] == 2.5


def test_native_grid_measures_do_not_depend_on_the_mask_grid():
    rng = np.random.default_rng(0)
    pet = sitk.GetImageFromArray(rng.gamma(2.0, 1.0, (16, 16, 16)).astype(np.float32))
    pet.SetSpacing((4.0, 4.0, 4.0))
    box = np.zeros((16, 16, 16), np.uint8)
    box[4:10, 5:11, 3:12] = 1
    mask_pet = sitk.GetImageFromArray(box)
    mask_pet.CopyInformation(pet)
    # the same mask on a 1 mm CT grid, aligned with the PET voxels
    mask_ct = sitk.Resample(mask_pet, [64, 64, 64], sitk.Transform(), sitk.sitkNearestNeighbor, (-1.5, -1.5, -1.5),
                            (1.0, 1.0, 1.0), pet.GetDirection(), 0, sitk.sitkUInt8)
    got = pet_measures_native(pet, mask_ct)
    want = pet_measures(sitk.GetArrayFromImage(pet), box.astype(bool), (4.0, 4.0, 4.0))
    assert got == pytest.approx(want)
