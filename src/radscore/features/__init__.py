"""Feature extraction with PyRadiomics' definitions.

- :func:`extract_scans` - the one runner: scans (files) -> feature rows, in parallel, cached;
- :func:`extract_prepared` - the same runner for scans already prepared in this process;
- :func:`cmd_extract` - ``radscore extract``: PyRadiomics parameter files and names, or a study's scan path;
- :func:`seed_settings` - the seed's 22 image types (2060 features per VOI).
"""

from radscore.features.commands import cmd_extract
from radscore.features.runner import Extraction, ScanFeatures, extract_prepared, extract_scans
from radscore.features.settings import FeatureSpec, seed_settings, settings_fingerprint, spec_from_settings

__all__ = [
    "Extraction",
    "FeatureSpec",
    "ScanFeatures",
    "cmd_extract",
    "extract_prepared",
    "extract_scans",
    "seed_settings",
    "settings_fingerprint",
    "spec_from_settings",
]
