"""One scan through the extraction runner, for the feature tests (the path every entry point uses)."""

from __future__ import annotations

from radscore.errors import ImageError
from radscore.features.runner import extract_prepared
from radscore.imaging.preprocess import PreparedScan


def extract_row(images, vois, settings, patient: str = "p", **kw) -> dict[str, float]:
    """Features of one scan given as images + VOIs on one grid; its error raised as ImageError."""
    result = extract_prepared([PreparedScan.from_images(patient, images, vois)], settings, workers=1, **kw).scans[0]
    if result.error is not None:
        raise ImageError(result.error)
    return result.features


def pyradiomics_settings(image: str, settings) -> dict:
    """The PyRadiomics ``setting`` values radscore uses for one image of a study."""
    from radscore.features.settings import spec_from_settings

    return spec_from_settings(settings).settings_for(image)
