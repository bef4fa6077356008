"""CT DICOM series reading against the IBSI CT phantom's NIfTI export."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from radscore.io.dicom import read_series


def test_ibsi_phantom_ct_in_hu_matches_nifti(reference_dir):
    base = reference_dir / "ibsi" / "ct_radiomics_phantom"
    ct = read_series(base / "dicom" / "image")
    ref = sitk.ReadImage(str(base / "nifti" / "image" / "phantom.nii.gz"))
    assert ct.GetSize() == ref.GetSize()
    np.testing.assert_allclose(ct.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(ct.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    a, b = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(ref).astype(np.float32)
    np.testing.assert_array_equal(a, b)
    assert a.min() <= -1000  # air in HU: the rescale intercept was applied
