"""Feature extraction with PyRadiomics' definitions: one patient, a cohort, or one image + mask.

- :func:`extract_features` - one patient's images x VOIs -> one row (``pet_tumor_original_glcm_Contrast``);
- :func:`extract_cohort` - many patients, local processes or Dask, resumable cache;
- :func:`cmd_extract` - ``radscore extract``: PyRadiomics parameter files, PyRadiomics names;
- :func:`full_protocol_image_types` - the seed's 22 image types (2060 features per VOI).
"""

from radscore.features.commands import cmd_extract
from radscore.features.extract import (
    extract_features,
    full_protocol_image_types,
    full_protocol_settings,
    settings_fingerprint,
)
from radscore.features.runner import PatientImages, extract_cohort

__all__ = [
    "PatientImages",
    "cmd_extract",
    "extract_cohort",
    "extract_features",
    "full_protocol_image_types",
    "full_protocol_settings",
    "settings_fingerprint",
]
