"""IBSI reporting items for image processing and feature calculation.

Reference: Zwanenburg A, et al. The Image Biomarker Standardization Initiative. Radiology
2020;295:328-338 (reporting guidelines: Table 3 of the IBSI reference manual). Titles are
short paraphrases; the numbering is this list's own.
"""

from __future__ import annotations

from radscore.report.checklist._rules import (Item, acquisition, combine, discretisation, engine, feature_classes,
                                              image_types, interpolation, mask_interpolation, segmentation, setting,
                                              software, suv)

SECTION = "Image processing and feature calculation"

ITEMS: tuple[Item, ...] = tuple(Item(str(i), SECTION, title, rule) for i, (title, rule) in enumerate((
    ("Image acquisition and reconstruction parameters", acquisition),
    ("Image processing software and version", lambda r: software(r, "radscore", "SimpleITK")),
    ("SUV conversion (PET intensity normalisation)", suv),
    ("Interpolation: voxel size, grid alignment, image interpolator", interpolation),
    ("ROI (mask) interpolation", mask_interpolation),
    ("Segmentation / VOI definition", segmentation),
    ("Re-segmentation (intensity range / outlier filtering)",
     lambda r: setting(r, r.config.features, "features", "resegment_range")),
    ("Intensity discretisation (bin width / number)", discretisation),
    ("Image filters (convolutional / wavelet images)", image_types),
    ("Feature families and calculation software", lambda r: combine(feature_classes(r), engine(r))),
    ("Texture matrix aggregation (2D/3D, merging of directions)",
     lambda r: setting(r, r.config.features, "features", "texture_aggregation")),
), start=1))
